"""The intervals are calibrated: on synthetic sweeps of the demo's design they cover the truth.

The full check (200 repeats, coverage 90-98%) is benchmarks/calibration.py, recorded in
docs/benchmarks.md; this is its fast version with a looser bound.
"""

from __future__ import annotations

import numpy as np

from scalinglab.calibration import SyntheticDesign, calibrate, synthetic_sweep
from scalinglab.laws.uncertainty import NoiseModel, seed_noise

TRUTH = {"E": 0.767, "A": 10.78, "B": 312.6, "alpha": 0.2826, "beta": 0.4546}
NOISE = NoiseModel(0.0074, 0.0026, "seeds", 3)
DESIGN = SyntheticDesign(sizes=(3120, 12384, 27792, 55536, 98624),
                         tokens=(1.5e6, 2.25e6, 3e6, 4.5e6, 6e6), n_seeds=3, replicated=3)


def test_synthetic_sweep_has_the_design_and_the_noise() -> None:
    table = synthetic_sweep(TRUTH, DESIGN, NOISE, np.random.default_rng(0))
    assert table.groupby("params_nonembedding")["run"].nunique().tolist() == [3, 3, 3, 1, 1]
    assert set(table["tokens"]) == set(DESIGN.tokens)
    measured = seed_noise(table)
    assert measured is not None and measured.n_replicated == 3
    assert 0.002 < measured.run_sd < 0.015


def test_intervals_cover_the_truth_on_the_demo_design() -> None:
    result = calibrate(TRUTH, DESIGN, NOISE, n_repeats=12, n_resamples=60, seed=3)
    coverage = result.coverage()
    # 12 repeats: a calibrated 95% interval misses 2 or more with probability ~0.12.
    assert all(value >= 9 / 12 for value in coverage.values()), coverage
    assert result.records["n_failed"].sum() == 0
    assert (result.records["noise_source"] == "seeds").all()
