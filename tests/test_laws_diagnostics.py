"""Residual trends: data from the fitted form pass; data from another form are flagged."""

import numpy as np
import pandas as pd
import pytest

from scalinglab import laws
from scalinglab.errors import ScalinglabError
from scalinglab.laws.diagnostics import residual_trends

TRUE = {"E": 1.7, "A": 400.0, "B": 400.0, "alpha": 0.34, "beta": 0.28}


def grid(loss_factor=lambda n, d: 1.0, noise=0.005, seed=0, branches=False):
    """6 sizes x 5 token counts; each point its own run, or one run per size (`branches`)."""
    rng = np.random.default_rng(seed)
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e8, 6), np.geomspace(2e7, 2e9, 5)))
    loss = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
    loss = loss * loss_factor(n, d) * np.exp(rng.normal(0, noise, n.size))
    runs = [f"N{a:.0f}" if branches else f"N{a:.0f}-D{b:.0f}" for a, b in zip(n, d, strict=True)]
    return pd.DataFrame({"run": runs, "params": n, "tokens": d, "flops": 6 * n * d, "loss": loss})


def check(table):
    return residual_trends(laws.get_law("chinchilla").fit(table), table, source="synthetic")


@pytest.mark.parametrize("branches", [False, True])
def test_data_from_the_fitted_form_show_no_trend(branches):
    result = check(grid(branches=branches))
    assert result.describes, result.sentence
    assert result.sentence.startswith("the form describes these data")
    assert {t.variable for t in result.trends} == {"log C", "log N", "log D/N"}
    assert result.n_runs == (6 if branches else 30)


def test_a_power_law_in_n_plus_a_term_growing_with_compute_is_flagged_with_compute():
    table = grid()
    n, c = table["params"], table["flops"]
    noise = np.exp(np.random.default_rng(1).normal(0, 0.005, len(table)))
    table["loss"] = (1.0 + 5.0 * n**-0.1 + 0.05 * np.log(c / 1e14)) * noise
    result = check(table)
    assert not result.describes
    trend = next(t for t in result.trends if t.variable == "log C")
    assert trend.flagged and trend.change_percent > 5 and trend.p_value < 0.01
    assert result.sentence.startswith(
        "the form does not describe these data: residuals trend with log C (+")
    assert result.to_dict()["describes"] is False


def test_a_planted_trend_in_d_over_n_is_flagged_with_d_over_n():
    table = grid()
    law = laws.get_law("chinchilla").fit(table)
    planted = table.assign(loss=table["loss"] * (table["tokens"] / table["params"]) ** 0.02)
    result = residual_trends(law, planted)
    strongest = max(result.trends, key=lambda t: abs(t.slope / t.stderr))
    assert strongest.variable == "log D/N" and strongest.flagged
    assert "log D/N" in result.sentence


def test_a_one_variable_law_is_checked_against_compute_only():
    table = grid()
    law = laws.get_law("saturating", x="flops").fit(table)
    result = residual_trends(law, table)
    assert [t.variable for t in result.trends] == ["log C"]
    with pytest.raises(ScalinglabError, match="no rows"):
        residual_trends(law, table.iloc[:0])
