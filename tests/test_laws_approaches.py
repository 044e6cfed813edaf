"""Chinchilla Approaches 1 and 2 recover the allocation exponent of a known law."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab import laws
from scalinglab.errors import ScalinglabError

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
A_TRUE = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])  # N_opt ~ C^a, a = 0.514


def _loss(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]


def _n_opt(compute: np.ndarray) -> np.ndarray:
    """Closed form for C = 6ND (Hoffmann et al. Eq. 4)."""
    g = (TRUE["alpha"] * TRUE["A"] / (TRUE["beta"] * TRUE["B"])) ** (
        1 / (TRUE["alpha"] + TRUE["beta"]))
    return g * (compute / 6.0) ** A_TRUE


def test_approach_1_envelope_of_learning_curves() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i, n in enumerate(np.geomspace(1e7, 1e10, 16)):
        d = np.geomspace(1e8, 1e12, 60)
        loss = _loss(n, d) * np.exp(rng.normal(0, 1e-4, d.size))
        rows.append(pd.DataFrame({"run": f"n{i}", "params": n, "tokens": d,
                                  "flops": 6 * n * d, "loss": loss}))
    fit = laws.envelope_fit(pd.concat(rows, ignore_index=True))
    assert fit.approach == 1
    assert fit.n_exponent == pytest.approx(A_TRUE, abs=0.01)
    assert fit.d_exponent == pytest.approx(1 - A_TRUE, abs=0.01)
    # The coefficient is only as good as the size grid: a size wins a range of compute around
    # (not centred on) the compute it is optimal for. Here sizes are 1.6x apart.
    assert fit.n_opt(1e21) == pytest.approx(_n_opt(1e21), rel=0.25)
    # The envelope only ever improves with compute; the extreme sizes are left out.
    assert np.all(np.diff(fit.envelope["loss"]) < 0)
    assert fit.points["params"].min() > 1e7 and fit.points["params"].max() < 1e10
    assert fit.skipped


def _isoflop_table(seed: int = 0, jitter: float = 0.03) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for budget in np.geomspace(1e18, 1e22, 9):
        for n in _n_opt(budget) * np.geomspace(1 / 8, 8, 9):
            compute = budget * np.exp(rng.normal(0, jitter))  # budgets are never exact
            d = compute / (6 * n)
            rows.append({"run": f"{budget:.0e}-{n:.3e}", "params": n, "tokens": d,
                         "flops": compute, "loss": _loss(n, d) * np.exp(rng.normal(0, 1e-3))})
    return pd.DataFrame(rows)


def test_approach_2_isoflop_profiles() -> None:
    fit = laws.isoflop_fit(_isoflop_table())
    assert fit.approach == 2
    assert len(fit.points) == 9, fit.skipped  # jittered budgets still group into nine
    assert fit.n_exponent == pytest.approx(A_TRUE, abs=0.01)
    assert fit.d_exponent == pytest.approx(1 - A_TRUE, abs=0.01)
    np.testing.assert_allclose(fit.points["params"], _n_opt(fit.points["flops"]), rtol=0.1)
    assert set(fit.to_dict()) >= {"n_opt_exponent", "n_opt_coefficient", "d_opt_exponent",
                                  "d_opt_coefficient", "points"}


def test_approach_2_skips_profiles_without_an_interior_minimum() -> None:
    table = _isoflop_table()
    # Keep only sizes above the optimum at the largest budget: no interior minimum there.
    top = table["flops"] > 5e21
    table = table[~top | (table["params"] > 1.5 * _n_opt(table["flops"]))]
    fit = laws.isoflop_fit(table)
    assert len(fit.points) == 8
    assert any("outside the model sizes" in reason for reason in fit.skipped)


def test_approaches_need_two_budgets() -> None:
    table = _isoflop_table()
    with pytest.raises(ScalinglabError, match="Approach 2 found 1 usable"):
        laws.isoflop_fit(table[table["flops"] < 2e18])
