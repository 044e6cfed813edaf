"""`analyses.fit_positions`: L(t) per model, and improving-vs-plateau by family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analyses import fit_positions
from scalinglab.analyses.positions import PLATEAU_GAIN
from scalinglab.errors import ScalinglabError

# Known L(t) = L_inf + (t0/t)^a: the transformer keeps improving to t = 512; the LSTM's
# reducible term is gone by t = 100 (a steep exponent), as Kaplan et al. saw.
TRUTH = {"transformer": {"E": 2.0, "X0": 20.0, "a": 0.4},
         "lstm": {"E": 2.5, "X0": 3.0, "a": 1.5}}
SIZES = {"transformer": [1e5, 4e5], "lstm": [1e5, 3e5]}


def _tables(seed: int = 0, noise: float = 0.002) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    t = np.arange(1, 513)
    positions, table = [], []
    for family, sizes in SIZES.items():
        for n in sizes:
            run = f"{family}-{n:.0e}"
            p = TRUTH[family]
            loss = (p["E"] + (p["X0"] / t) ** p["a"]) + rng.normal(0, noise, t.size)
            positions.append(pd.DataFrame({"run": run, "position": t, "loss": loss}))
            table.append({"run": run, "family": family, "params": n, "params_nonembedding": n,
                          "tokens": 1e6, "flops": 6e6 * n, "loss": float(loss.mean())})
    return pd.concat(positions, ignore_index=True), pd.DataFrame(table)


@pytest.fixture(scope="module")
def fitted():
    positions, table = _tables()
    return fit_positions(positions, table, n_resamples=40)


def test_parameters_of_each_curve_are_recovered(fitted) -> None:
    assert len(fitted.laws) == 4 and not fitted.skipped
    for run, law in fitted.laws.items():
        truth = TRUTH[run.split("-")[0]]
        params = law.law.params_
        assert params["E"] == pytest.approx(truth["E"], rel=0.01), run
        assert params["a"] == pytest.approx(truth["a"], rel=0.1), run
        assert params["X0"] == pytest.approx(truth["X0"], rel=0.2), run
        assert law.formula() == "L = E + (t0/t)^a"


def test_transformer_keeps_improving_and_lstm_plateaus(fitted) -> None:
    transformer, lstm = fitted.families["transformer"], fitted.families["lstm"]
    assert transformer.params_nonembedding == 4e5 and lstm.params_nonembedding == 3e5
    assert (transformer.t_from, transformer.t_to) == (100, 512)
    truth = TRUTH["transformer"]
    law = [truth["E"] + (truth["X0"] / t) ** truth["a"] for t in (100, 512)]
    assert transformer.gain == pytest.approx((law[0] - law[1]) / law[0], rel=0.1)
    assert transformer.interval[0] > PLATEAU_GAIN and transformer.verdict == "keeps improving"
    assert lstm.interval[1] < PLATEAU_GAIN and lstm.verdict == "plateaus"
    assert abs(lstm.measured_gain) < PLATEAU_GAIN < transformer.measured_gain
    assert "keeps improving" in transformer.text()
    # Only the largest model of each family is bootstrapped.
    assert sum(law.boot is not None for law in fitted.laws.values()) == 2


def test_short_contexts_measure_from_a_quarter_of_the_window() -> None:
    positions, table = _tables()
    short = positions[positions["position"] <= 64]
    result = fit_positions(short, table, n_resamples=0)
    assert result.families["transformer"].t_from == 16
    assert np.isnan(result.families["transformer"].interval[0])


def test_positions_of_unknown_runs_or_missing_columns_are_errors() -> None:
    positions, table = _tables()
    with pytest.raises(ScalinglabError, match="no runs found"):
        fit_positions(positions.assign(run="other"), table, n_resamples=0)
    with pytest.raises(ScalinglabError, match="missing column.*position"):
        fit_positions(positions.drop(columns="position"), table, n_resamples=0)


def test_noisy_positions_are_read_through_log_bins_and_their_noise_is_reported() -> None:
    """At the noise of a 1024-window validation set (0.05 nats per position, measured on stdlib
    bytes) one late position says little; the bins' averages still tell improving from flat."""
    positions, table = _tables(seed=3, noise=0.05)
    result = fit_positions(positions, table, n_resamples=100)
    transformer, lstm = result.families["transformer"], result.families["lstm"]
    assert transformer.verdict == "keeps improving" and lstm.verdict == "plateaus"
    assert transformer.position_se == pytest.approx(0.05, rel=0.15)
    assert lstm.position_se == pytest.approx(0.05, rel=0.15)
    assert "standard error of 0.05" in transformer.text()
