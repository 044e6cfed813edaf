"""Bootstrap over runs: whole runs resampled, seeded, parallel, intervals, FIT.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scalinglab import laws
from scalinglab.errors import ScalinglabError
from scalinglab.laws.uncertainty import run_resamples

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def _curves(seed: int = 0, noise: float = 0.01) -> pd.DataFrame:
    """Learning curves: 10 runs (sizes), 6 evaluations each, one noise offset per run."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate(np.geomspace(1e7, 1e10, 10)):
        d = np.geomspace(1e8, 1e12, 6)
        loss = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
        loss = loss * np.exp(rng.normal(0, noise) + rng.normal(0, noise / 3, d.size))
        frames.append(pd.DataFrame({"run": f"run{i}", "params": n, "tokens": d, "loss": loss}))
    return pd.concat(frames, ignore_index=True)


def test_resamples_draw_whole_runs() -> None:
    table = _curves()
    sizes = table.groupby("run").size()
    for rows in run_resamples(table["run"], 20, seed=1):
        drawn = table.iloc[rows]
        counts = drawn.groupby("run").size()
        # Every drawn run brings all of its rows (times how often it was drawn).
        assert all(count % sizes[run] == 0 for run, count in counts.items())
        assert len(rows) == len(table)
    first = run_resamples(table["run"], 5, seed=3)
    again = run_resamples(table["run"], 5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_bootstrap_is_seeded_and_independent_of_jobs() -> None:
    table = _curves()
    law = laws.get_law("chinchilla").fit(table)
    serial = laws.bootstrap(law, table, n_resamples=16, seed=7, n_jobs=1)
    parallel = laws.bootstrap(law, table, n_resamples=16, seed=7, n_jobs=2)
    assert list(serial.samples.columns) == list(law.param_names)
    assert len(serial.samples) == 16
    pd.testing.assert_frame_equal(serial.samples, parallel.samples, rtol=1e-8)
    different = laws.bootstrap(law, table, n_resamples=16, seed=8)
    assert not np.allclose(different.samples.to_numpy(), serial.samples.to_numpy())


def test_intervals_cover_the_truth_and_the_fit() -> None:
    table = _curves()
    law = laws.get_law("chinchilla").fit(table)
    boot = laws.bootstrap(law, table, n_resamples=100, seed=0)
    assert boot.n_converged == 100
    intervals = boot.intervals(0.95)
    for name in ("E", "alpha", "beta"):
        lo, hi = intervals[name]
        assert lo < law.params_[name] < hi
        assert lo < TRUE[name] < hi, name
    lo, hi = boot.derived_intervals()["n_opt_exponent"]
    assert lo < TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"]) < hi
    grid = {"params": [1e8, 1e11], "tokens": [1e10, 1e13]}
    p_lo, p_hi = boot.predict_interval(grid)
    assert np.all(p_lo < law.predict(grid)) and np.all(law.predict(grid) < p_hi)
    # The interval widens where we extrapolate (a 10x larger model than any measured).
    assert p_hi[1] - p_lo[1] > p_hi[0] - p_lo[0]
    # Any derived quantity: the loss a 1e9-parameter model reaches with infinite data.
    lo, hi = boot.quantity(lambda fitted: fitted.predict({"params": [1e9], "tokens": [1e30]}))
    assert lo[0] < hi[0]


def test_bootstrap_fits_an_unfitted_law_and_needs_runs() -> None:
    table = _curves()
    boot = laws.bootstrap(laws.get_law("power", x="tokens"), table, n_resamples=5, seed=0)
    assert boot.law.params_ is not None
    with pytest.raises(ScalinglabError, match="column 'run'"):
        laws.bootstrap(laws.get_law("chinchilla"), table.drop(columns="run"), n_resamples=5)


def test_save_and_load_fit_round_trip(tmp_path) -> None:
    table = _curves()
    law = laws.get_law("chinchilla").fit(table)
    boot = laws.bootstrap(law, table, n_resamples=12, seed=0)
    path = tmp_path / "FIT.json"
    laws.save_fit(path, law, boot)
    saved = json.loads(path.read_text())
    assert set(saved) >= {"law", "params", "objective", "converged", "n_points", "n_starts",
                          "n_starts_at_best", "options", "intervals", "bootstrap_params"}
    assert len(saved["bootstrap_params"]) == 12
    lo, hi = saved["intervals"]["alpha"]
    assert lo < saved["params"]["alpha"] < hi
    loaded, samples = laws.load_fit(path)
    assert loaded.name == "chinchilla" and loaded.params_ == law.params_
    assert loaded.result_.n_starts_at_best == law.result_.n_starts_at_best
    pd.testing.assert_frame_equal(samples, boot.samples)
    laws.save_fit(path, law)
    assert laws.load_fit(path)[1] is None
    path.write_text("not json")
    with pytest.raises(ScalinglabError, match="not a JSON fit file"):
        laws.load_fit(path)


def test_no_interval_of_e_reaches_above_the_lowest_measured_loss() -> None:
    """A reflected (basic) interval of a poorly pinned E ran to 9.44 above losses of 1.3
    (demo seed 7); E cannot exceed the lowest loss measured, and its interval stops there."""
    import numpy as np
    import pandas as pd

    from scalinglab import laws

    law = laws.get_law("chinchilla")
    law.params_ = {"E": 1.25, "A": 400.0, "alpha": 0.34, "B": 400.0, "beta": 0.28}
    spread = np.geomspace(0.17, 1.2, 200)  # resamples that mostly put E lower
    samples = pd.DataFrame({**{k: np.full(200, v) for k, v in law.params_.items()},
                            "E": spread})[list(law.param_names)]
    boot = laws.Bootstrap(law, samples, np.ones(200, bool), np.ones(200, int),
                          interval="basic", lowest_loss=1.30)
    lo, hi = boot.intervals()["E"]
    # Reflection would put it at [1.36, 9.2]; the resamples' own quantiles stay in the domain.
    assert hi <= 1.30 and lo == pytest.approx(np.percentile(spread, 2.5))
    assert hi == pytest.approx(np.percentile(spread, 97.5))
    unbounded = laws.Bootstrap(law, samples, np.ones(200, bool), np.ones(200, int),
                               interval="basic")
    assert unbounded.intervals()["E"][1] > 5  # what the reflection alone gives
