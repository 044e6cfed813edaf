"""The fitting machine: summed Huber on log residuals, multi-start, honest convergence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import huber as scipy_huber

from scalinglab import laws
from scalinglab.laws.fitting import HUBER_DELTA, huber, multistart


def _chinchilla_table(seed: int = 0, noise: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, d = np.meshgrid(np.geomspace(1e7, 1e10, 6), np.geomspace(1e8, 1e12, 6), indexing="ij")
    loss = 1.8 + 480.0 / n**0.35 + 2100.0 / d**0.37
    loss = loss * np.exp(rng.normal(0.0, noise, loss.shape))
    return pd.DataFrame({"run": [f"r{i}" for i in range(n.size)], "params": n.ravel(),
                         "tokens": d.ravel(), "loss": loss.ravel()})


def test_huber_matches_scipy_and_its_derivative() -> None:
    r = np.linspace(-0.01, 0.01, 2001)
    loss, slope = huber(r)
    np.testing.assert_allclose(loss, scipy_huber(HUBER_DELTA, r), rtol=1e-12, atol=1e-20)
    np.testing.assert_allclose(slope, np.gradient(scipy_huber(HUBER_DELTA, r), r), atol=2e-5)


def test_objective_is_the_sum_of_huber_losses_not_the_mean() -> None:
    table = _chinchilla_table()
    law = laws.get_law("chinchilla").fit(table)
    log_x = law.log_inputs(table, "t")
    theta = law.theta_from_params(law.params_)
    residuals = law.log_predict(theta, log_x) - np.log(table["loss"].to_numpy())
    assert law.result_.objective == pytest.approx(scipy_huber(HUBER_DELTA, residuals).sum(),
                                                  rel=1e-10)
    # Doubling every row doubles the objective at the same optimum.
    doubled = laws.get_law("chinchilla").fit(pd.concat([table, table], ignore_index=True))
    assert doubled.result_.objective == pytest.approx(2 * law.result_.objective, rel=1e-6)
    for name, value in law.params_.items():
        assert doubled.params_[name] == pytest.approx(value, rel=1e-4)


def test_result_reports_starts_and_agreement() -> None:
    law = laws.get_law("chinchilla").fit(_chinchilla_table())
    result = law.result_
    assert result.converged
    assert 1 <= result.n_starts_at_best <= result.n_starts
    # Hoffmann's full 4500-point grid is among the screened starts.
    assert result.n_screened >= 4500
    assert set(result.to_dict()) >= {"converged", "objective", "n_starts", "n_starts_at_best",
                                     "message", "n_points"}


def test_forced_starts_are_always_optimised() -> None:
    table = _chinchilla_table()
    law = laws.get_law("chinchilla").fit(table)
    log_x = law.log_inputs(table, "t")
    log_y = np.log(table["loss"].to_numpy())
    best = law.theta_from_params(law.params_)
    empty = np.empty((0, law.n_params))
    theta, runs, result = multistart(law, log_x, log_y, empty, 0, forced=[best, best + 0.5])
    assert result.n_starts == 2 and len(runs) == 2
    assert result.objective == pytest.approx(law.result_.objective, rel=1e-9)
    np.testing.assert_allclose(theta, best, rtol=1e-4, atol=1e-6)
