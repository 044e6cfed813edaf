"""Overfitting: Kaplan's L(N, D) on early-stopped losses and the data needed, recovered."""

import numpy as np
import pandas as pd
import pytest

from scalinglab.analyses.overfitting import d_min, early_stopped, overfitting

TRUE = {"Nc": 1e5, "Dc": 1e6, "aN": 0.3, "aD": 0.4}


def law_loss(n, d, truth=TRUE):
    return ((truth["Nc"] / n) ** (truth["aN"] / truth["aD"]) + truth["Dc"] / d) ** truth["aD"]


def data_limited_runs(noise=0.002, seed=0, truth=TRUE) -> pd.DataFrame:
    """Learning curves that reach L(N, D) and then overfit (the loss rises again)."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in (1e4, 3e4, 1e5, 3e5, 1e6):
        for d in (1e5, 4e5, 1.6e6, 6.4e6, 2.56e7):
            best = law_loss(n, d, truth) * np.exp(rng.normal(0, noise))
            for step, excess in enumerate((0.3, 0.1, 0.02, 0.0, 0.01, 0.04)):
                rows.append({"run": f"n{n:g}-d{d:g}", "params_nonembedding": n,
                             "unique_tokens": d, "tokens": 1e6 * (step + 1),
                             "loss": best * (1 + excess)})
    return pd.DataFrame(rows)


def test_early_stopping_takes_each_runs_lowest_validation_loss():
    runs = early_stopped(data_limited_runs(noise=0.0))
    assert len(runs) == 25 and (runs["stopped_at"] == 4e6).all()
    assert np.allclose(runs["loss"], law_loss(runs["params_nonembedding"], runs["tokens"]))


def test_the_data_needed_to_avoid_overfitting_is_recovered():
    result = overfitting(data_limited_runs(), n_resamples=100)
    assert result.exponent == pytest.approx(TRUE["aN"] / TRUE["aD"], rel=0.1)
    lo, hi = result.exponent_interval
    assert lo <= 0.75 <= hi
    # At D_min the penalty over the infinite-data loss is delta (2%), by construction of the law.
    class Truth:
        params_ = TRUE
    n = result.d_min["params"].to_numpy()
    truth = d_min(Truth, n)
    assert np.allclose(result.d_min["d_min"], truth, rtol=0.25)
    assert law_loss(n, truth) / (TRUE["Nc"] / n) ** TRUE["aN"] == pytest.approx(1.02)
    assert "N^" in result.summary()


def test_runs_without_a_unique_token_limit_are_a_clear_error():
    with pytest.raises(Exception, match="unique_tokens"):
        overfitting(data_limited_runs().drop(columns="unique_tokens"))
