"""Backtest: fit below a compute threshold, predict above it, score by ARE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab import laws
from scalinglab.errors import ScalinglabError


def _table(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, d = np.meshgrid(np.geomspace(1e7, 1e10, 7), np.geomspace(1e8, 1e12, 7), indexing="ij")
    n, d = n.ravel(), d.ravel()
    loss = (1.8 + 480.0 / n**0.35 + 2100.0 / d**0.37) * np.exp(rng.normal(0, 0.005, n.size))
    return pd.DataFrame({"run": [f"r{i}" for i in range(n.size)], "params": n, "tokens": d,
                         "flops": 6 * n * d, "loss": loss})


def test_backtest_predicts_held_out_rows_with_intervals() -> None:
    table = _table()
    rows = laws.backtest(laws.get_law("chinchilla"), table, x="flops", train_max=1e20,
                         n_resamples=40, seed=0)
    held_out = table[table["flops"] > 1e20]
    assert list(rows.columns) == ["run", "x", "measured", "predicted", "lo", "hi", "are",
                                  "params", "tokens"]
    assert len(rows) == len(held_out) == rows.attrs["n_test"]
    assert rows.attrs["n_train"] + rows.attrs["n_test"] == len(table)
    np.testing.assert_allclose(rows["are"], abs(rows["predicted"] - rows["measured"])
                               / rows["measured"])
    assert rows.attrs["median_are"] == pytest.approx(np.median(rows["are"]))
    assert rows.attrs["median_are"] < 0.02
    assert (rows["lo"] <= rows["predicted"]).all() and (rows["predicted"] <= rows["hi"]).all()


def test_backtest_one_variable_law_on_tokens_without_intervals() -> None:
    table = _table()
    big = table[table["params"] == table["params"].max()]
    rows = laws.backtest(laws.get_law("saturating", x="tokens"), big, x="tokens",
                         train_max=1e11, n_resamples=0)
    assert rows["lo"].isna().all()
    assert rows.attrs["x"] == "tokens" and (rows["x"] > 1e11).all()
    assert rows.attrs["median_are"] < 0.05


def test_backtest_needs_rows_on_both_sides() -> None:
    with pytest.raises(ScalinglabError, match="no rows above --train-max"):
        laws.backtest(laws.get_law("chinchilla"), _table(), train_max=1e30, n_resamples=0)
    with pytest.raises(ScalinglabError, match="no rows below --train-max"):
        laws.backtest(laws.get_law("chinchilla"), _table(), train_max=1.0, n_resamples=0)
