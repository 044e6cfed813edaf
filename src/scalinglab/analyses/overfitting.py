"""Overfitting: how much data a model needs not to overfit (Kaplan et al. 2020, Sec. 4).

Models of several sizes train on datasets of a fixed number of unique tokens D, repeated for as
many epochs as the budget needs; each run's early-stopped loss is the lowest validation loss
among its evaluations. Kaplan's L(N, D) = [(Nc/N)^(aN/aD) + Dc/D]^aD is fitted to those losses
with D the unique tokens. Against the infinite-data loss L(N, ∞) = (Nc/N)^aN, the overfitting
penalty is L(N, D)/L(N, ∞) - 1, and it stays below `delta` when

    D >= D_min(N) = Dc (N / Nc)^(aN/aD) / ((1 + delta)^(1/aD) - 1),

a power law D_min ∝ N^(aN/aD); Kaplan et al. (Eq. 4.4) found D ≳ 5e3 N^0.74 for delta ≈ 2%
(aN/aD = 0.74). Intervals: the law's parametric bootstrap (one row per run, redrawn with the
fit's residual noise), every derived number computed per resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError

DELTA = 0.02  # the overfitting penalty Kaplan's criterion allows
KAPLAN_EXPONENT = 0.74
KAPLAN_COEFFICIENT = 5e3
MIN_RUNS = 6


@dataclass
class Overfitting:
    """The fitted L(N, D) on early-stopped losses and the data needed to avoid overfitting."""

    law: Any
    runs: pd.DataFrame  # per run: params_nonembedding, tokens (unique), loss (early-stopped)
    exponent: float  # aN / aD
    exponent_interval: tuple[float, float]
    coefficient: float  # D_min = coefficient * N^exponent
    d_min: pd.DataFrame  # N, D_min, lo, hi at the fitted sizes
    delta: float = DELTA

    def summary(self) -> str:
        lo, hi = self.exponent_interval
        ends = self.d_min.iloc[[0, -1]]
        parts = [f"N = {r.params:.3g} needs D >= {r.d_min:.3g} [{r.lo:.3g}, {r.hi:.3g}] tokens"
                 for r in ends.itertuples()]
        return (f"to stay within {100 * self.delta:g}% of its infinite-data loss, "
                f"{'; '.join(parts)}: D_min = {self.coefficient:.3g} N^{self.exponent:.3g} "
                f"[{lo:.3g}, {hi:.3g}] (Kaplan et al. 2020: {KAPLAN_COEFFICIENT:g} "
                f"N^{KAPLAN_EXPONENT})")

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.exponent_interval
        return {"law": self.law.to_dict(), "exponent": self.exponent,
                "exponent_interval": [lo, hi], "coefficient": self.coefficient,
                "delta": self.delta, "d_min": self.d_min.to_dict("records"),
                "runs": self.runs.to_dict("records"), "summary": self.summary()}


def early_stopped(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its lowest validation loss, and the unique tokens it trained on."""
    if "unique_tokens" not in table.columns:
        raise ScalinglabError("overfitting: the table has no 'unique_tokens' column (runs "
                              "trained with --unique-tokens)")
    rows = table.dropna(subset=["unique_tokens"])
    best = rows.loc[rows.groupby("run")["loss"].idxmin()]
    return pd.DataFrame({"run": best["run"].to_numpy(),
                         "params_nonembedding": best["params_nonembedding"].to_numpy(float),
                         "tokens": best["unique_tokens"].to_numpy(float),
                         "loss": best["loss"].to_numpy(float),
                         "stopped_at": best["tokens"].to_numpy(float)})


def d_min(law: Any, n: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """The unique tokens at which `law` (kaplan-nd) is `delta` above its infinite-data loss."""
    p = law.params_
    ratio = p["aN"] / p["aD"]
    return p["Dc"] * (np.asarray(n, float) / p["Nc"]) ** ratio / ((1 + delta) ** (1 / p["aD"])
                                                                   - 1)


def overfitting(table: pd.DataFrame, n_resamples: int = 200, seed: int = 0,
                delta: float = DELTA) -> Overfitting:
    """Fit L(N, D) on the early-stopped losses of data-limited runs; the data needed."""
    from scalinglab import laws

    runs = early_stopped(table)
    if len(runs) < MIN_RUNS or runs["params_nonembedding"].nunique() < 2 \
            or runs["tokens"].nunique() < 2:
        raise ScalinglabError(f"overfitting: {len(runs)} runs over "
                              f"{runs['params_nonembedding'].nunique()} sizes and "
                              f"{runs['tokens'].nunique()} dataset sizes; need at least "
                              f"{MIN_RUNS} runs, 2 sizes and 2 dataset sizes")
    law = laws.get_law("kaplan-nd", params_column="params_nonembedding").fit(
        runs, source="overfitting (early-stopped losses)")
    sizes = np.sort(runs["params_nonembedding"].unique())
    point = d_min(law, sizes, delta)
    exponent = law.params_["aN"] / law.params_["aD"]
    lo_e = hi_e = float("nan")
    lo = hi = np.full(len(sizes), np.nan)
    if n_resamples > 0:
        boot = laws.bootstrap(law, runs, n_resamples=n_resamples, seed=seed, method="parametric")
        lo_e, hi_e = boot.quantity(lambda fitted: fitted.params_["aN"] / fitted.params_["aD"])
        lo, hi = boot.quantity(lambda fitted: d_min(fitted, sizes, delta), positive=True)
    coefficient = float(point[0] / sizes[0] ** exponent)
    frame = pd.DataFrame({"params": sizes, "d_min": point, "lo": lo, "hi": hi})
    return Overfitting(law, runs, float(exponent), (float(lo_e), float(hi_e)), coefficient,
                       frame, delta)
