"""`analyses.compare`: the compute multiplier at matched loss, its interval and its trend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analyses import compare, lower_envelope
from scalinglab.analyses.envelope import inverse_saturating
from scalinglab.errors import ScalinglabError
from synthetic_analyses import curves

PENALTY = 5.0  # the LSTM trains like a transformer given 1/5 of the compute
N_RESAMPLES = 60


@pytest.fixture(scope="module")
def constant() -> object:
    table = pd.concat([curves("transformer", seed=1), curves("lstm", PENALTY, seed=2)])
    return compare(table, "transformer", "lstm", n_resamples=N_RESAMPLES)


def test_a_constant_compute_penalty_is_recovered_with_an_interval(constant) -> None:
    table = constant.multipliers
    assert len(table) == 5 and table["loss"].is_monotonic_decreasing  # small scale first
    assert np.allclose(table["multiplier"], PENALTY, rtol=0.1), table
    assert ((table["lo"] <= PENALTY) & (PENALTY <= table["hi"])).all(), table
    assert (table["flops_b"] / table["flops_a"]).to_numpy() == pytest.approx(
        table["multiplier"].to_numpy())


def test_a_constant_penalty_is_called_constant(constant) -> None:
    assert constant.verdict == "constant"
    lo, hi = constant.trend_interval
    assert lo < 1.0 < hi and abs(constant.slope) < 0.05
    assert "lstm needs 5" in constant.summary() or "lstm needs 4.9" in constant.summary()
    out = constant.to_dict()
    assert out["verdict"] == "constant" and set(out["envelopes"]) == {"transformer", "lstm"}


def test_a_multiplier_that_grows_with_scale_is_called_so() -> None:
    # A smaller exponent: the LSTM falls further behind as compute grows.
    table = pd.concat([curves("transformer", seed=3),
                       curves("lstm", seed=4, law={"alpha": 0.26, "beta": 0.26, "A": 20.0,
                                                   "B": 60.0})])
    result = compare(table, "transformer", "lstm", n_resamples=N_RESAMPLES)
    assert result.verdict == "grows with scale", result.summary()
    assert result.trend_interval[0] > 1.0 and result.slope > 0
    # Reversed, B catches up: the same trend read from the other side.
    reverse = compare(table, "lstm", "transformer", n_resamples=N_RESAMPLES)
    assert reverse.verdict == "shrinks with scale", reverse.summary()


def test_no_bootstrap_gives_no_interval_and_says_so() -> None:
    table = pd.concat([curves("a", step_decades=0.25), curves("b", 2.0, step_decades=0.25)])
    result = compare(table, "a", "b", n_resamples=0)
    assert result.multipliers["lo"].isna().all()
    assert result.verdict == "unknown (no bootstrap)"


def test_lower_envelope_and_inverse() -> None:
    rows = pd.DataFrame({"flops": [1, 2, 3, 4, 5], "loss": [5.0, 4.0, 4.5, 3.0, 3.5]})
    assert lower_envelope(rows)["flops"].tolist() == [1, 2, 4]
    params = {"E": 2.0, "X0": 1e10, "a": 0.5}
    assert inverse_saturating(params, 2.0 + (1e10 / 1e12) ** 0.5) == pytest.approx(1e12)
    assert np.isnan(inverse_saturating(params, 1.9))


def test_bad_groups_are_one_line_naming_the_allowed_values() -> None:
    table = pd.concat([curves("transformer", step_decades=0.5), curves("lstm", step_decades=0.5)])
    with pytest.raises(ScalinglabError, match=r"family 'gru' is not in the table; allowed: "
                                              r"lstm, transformer"):
        compare(table, "transformer", "gru")
    with pytest.raises(ScalinglabError, match="no column 'lr_rule'"):
        compare(table, "a", "b", by="lr_rule")
    with pytest.raises(ScalinglabError, match="two different"):
        compare(table, "lstm", "lstm")
