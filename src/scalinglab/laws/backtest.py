"""Backtest: fit below a threshold, predict what lies above it, score the extrapolation.

This is the honest test of a scaling law: its job is to extrapolate. Rows whose `x` (flops by
default, or params, tokens) is at most `train_max` train the law; every other row is predicted,
with a 95% prediction interval for a measured loss (the law's bootstrap interval widened by the
noise of one run: seed noise where the training rows measure it, else the residual noise, and
`attrs["noise"]` says which), and scored by its absolute relative error
ARE = |predicted - measured| / measured. The median ARE and the fraction of measured losses
inside their intervals summarise it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import Law, positive_column
from scalinglab.laws.uncertainty import bootstrap

BACKTEST_COLUMNS = ("run", "x", "measured", "predicted", "lo", "hi", "are")


def backtest(
    law: Law,
    table: pd.DataFrame,
    x: str = "flops",
    train_max: float | None = None,
    n_resamples: int = 200,
    seed: int = 0,
    level: float = 0.95,
    n_jobs: int = 1,
    source: str = "table",
) -> pd.DataFrame:
    """One row per held-out row: run, x, measured, predicted, lo, hi, are.

    `lo`/`hi` are NaN when `n_resamples` is 0. The frame's `attrs` carry the summary:
    `median_are`, `inside_fraction`, `x`, `train_max`, `n_train`, `n_test`, `level`, `noise`
    and `law` (the fit's dict).
    `law` is refitted on the training rows (pass an unfitted or fitted law; it is changed).
    """
    if train_max is None or not np.isfinite(train_max) or train_max <= 0:
        raise ScalinglabError(f"--train-max must be a positive number, got {train_max}")
    values = positive_column(table, x, source)
    train, test = table[values <= train_max], table[values > train_max]
    if train.empty or test.empty:
        side = "below" if train.empty else "above"
        raise ScalinglabError(
            f"{source}: no rows {side} --train-max {train_max:g} in column {x!r} "
            f"(its values run from {values.min():g} to {values.max():g})"
        )
    law.params_ = None
    law.fit(train, f"{source} (rows with {x} <= {train_max:g})")
    predicted = law.predict(test)
    if n_resamples > 0:
        boot = bootstrap(law, train, n_resamples=n_resamples, seed=seed, n_jobs=n_jobs,
                         source=source)
        lo, hi = boot.predict_interval(test, level, include_noise=True)
        noise = None if boot.noise is None else boot.noise.to_dict()
    else:
        lo = hi = np.full(len(test), np.nan)
        noise = None
    measured = test["loss"].to_numpy(float)
    rows = pd.DataFrame({
        "run": test["run"].astype(str).to_numpy() if "run" in test else np.arange(len(test)),
        "x": test[x].to_numpy(float),
        "measured": measured,
        "predicted": predicted,
        "lo": lo,
        "hi": hi,
        "are": np.abs(predicted - measured) / measured,
    })
    for column in ("params", "tokens"):  # where each held-out run sits, for the reader
        if column in test.columns and column != x:
            rows[column] = test[column].to_numpy(float)
    rows.attrs.update({
        "median_are": float(np.median(rows["are"])),
        "x": x,
        "train_max": float(train_max),
        "n_train": len(train),
        "n_test": len(test),
        "level": level,
        "law": law.to_dict(),
        "noise": noise,
        "inside_fraction": float(np.mean((rows["lo"] <= rows["measured"])
                                         & (rows["measured"] <= rows["hi"])))
        if n_resamples > 0 else None,
    })
    return rows
