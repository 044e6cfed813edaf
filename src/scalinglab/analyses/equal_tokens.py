"""Kaplan's view of two families: final loss against non-embedding N at equal tokens.

Kaplan et al. 2020 (Fig. 7, left) compare LSTMs and transformers by the loss models of each size
reach on the same data, plotted against non-embedding parameters; the verdict is a parameter
multiplier at matched loss, and whether it is constant (parallel lines) or not. Here the base
family's L(N, D) (fitted on its own runs) is evaluated at each of the other family's runs' token
count, and for each of those runs the base size with the same loss is solved for:

    N_base(L) such that L_base(N_base, D) = L_other(N_other, D),  multiplier = N_other / N_base.

A multiplier above 1 means the other family needs that many times the base family's parameters
for the same loss. Its interval combines the base law's bootstrap (every resample solved again)
with one run's measured noise on the other family's loss. A loss the base law only reaches
outside its fitted sizes, or a run longer or shorter than any base run, is not matched (no
extrapolation): the row says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from scalinglab.analyses.fitted import FittedLaw, fmt
from scalinglab.errors import ScalinglabError

INTERVAL_LEVEL = 0.95
OUTSIDE = "outside the base family's fitted sizes"
OUTSIDE_TOKENS = "trained on more or fewer tokens than any fitted base run"


@dataclass
class EqualTokensComparison:
    """Per run of the other family: its N and final loss, the base N with the same loss at
    the same tokens, the multiplier with `lo`, `hi`, and `reason` ('' when matched).
    `trend` is the multiplier of the largest matched size over the smallest's (interval from
    the same resamples): containing 1 means constant."""

    base: str
    other: str
    tokens: tuple[float, float]  # the other family's token counts (lowest, highest)
    rows: pd.DataFrame
    trend: float = float("nan")
    trend_interval: tuple[float, float] = (float("nan"), float("nan"))
    notes: list[str] = field(default_factory=list)

    @property
    def matched(self) -> pd.DataFrame:
        return self.rows[self.rows["reason"] == ""]

    @property
    def verdict(self) -> str:
        if len(self.matched) < 2 or not np.isfinite(self.trend_interval[0]):
            return "not resolvable at this scale"
        lo, hi = self.trend_interval
        if lo <= 1 <= hi:
            return "constant"
        return "grows with size" if lo > 1 else "shrinks with size"

    def summary(self) -> str:
        """One sentence: `at 6e6 tokens, lstm needs 1.4x [1.1, 1.9] the parameters ...`."""
        lo, hi = self.tokens
        at = f"{lo:.3g}" if np.isclose(lo, hi, rtol=0.02) else f"{lo:.3g}-{hi:.3g} (each run's)"
        head = f"Kaplan's view (final loss against non-embedding N at equal tokens, {at}): "
        matched = self.matched
        parts = [f"{fmt(r.multiplier)}x [{fmt(r.lo)}, {fmt(r.hi)}] (its N = {r.params:.3g})"
                 for r in matched.iloc[[0, -1]].drop_duplicates("params").itertuples()]
        text = head + f"{self.other} needs {' and '.join(parts)} the parameters of {self.base}"
        if np.isfinite(self.trend_interval[0]):
            lo, hi = self.trend_interval
            verb = "is constant" if self.verdict == "constant" else self.verdict
            text += (f"; the multiplier {verb} (largest/smallest ratio "
                     f"{fmt(self.trend)} [{fmt(lo)}, {fmt(hi)}])")
        else:
            text += f"; whether it changes with size is {self.verdict}"
        unmatched = self.rows.loc[self.rows["reason"] != "", "reason"]
        for reason, count in unmatched.value_counts().items():
            text += f"; {count} of {len(self.rows)} {self.other} runs {reason}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "other": self.other, "tokens": list(self.tokens),
                "verdict": self.verdict, "summary": self.summary(), "trend": self.trend,
                "trend_interval": list(self.trend_interval),
                "rows": self.rows.to_dict("records"), "notes": list(self.notes)}


def size_at_loss(law: Any, loss: float, tokens: float, n_range: tuple[float, float]) -> float:
    """The N (within `n_range`) at which `law` predicts `loss` at `tokens`, or NaN."""
    column = law.params_column

    def gap(log_n: float) -> float:
        return float(law.predict({column: [np.exp(log_n)], "tokens": [tokens]})[0]) - loss

    lo, hi = np.log(n_range[0]), np.log(n_range[1])
    try:
        g_lo, g_hi = gap(lo), gap(hi)
    except (ValueError, FloatingPointError):
        return float("nan")
    if not (np.isfinite(g_lo) and np.isfinite(g_hi)) or g_lo * g_hi > 0:
        return float("nan")
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-6)))


def compare_at_equal_tokens(base: FittedLaw, other_rows: pd.DataFrame, base_name: str,
                            other_name: str, run_noise_sd: float = 0.0,
                            seed: int = 0) -> EqualTokensComparison:
    """Match each run's final loss in `other_rows` to the base family's size on `base`'s
    L(N, D) at that run's token count (see the module doc)."""
    law = base.law
    column = law.params_column
    if other_rows.empty:
        raise ScalinglabError(f"no finished {other_name} runs to compare")
    final = other_rows.sort_values("tokens").groupby("run").tail(1).sort_values(column)
    tokens = final["tokens"].to_numpy(float)
    n_range = (float(base.data[column].min()), float(base.data[column].max()))
    d_lo, d_hi = float(base.data["tokens"].min()), float(base.data["tokens"].max())
    inside = (tokens >= d_lo * 0.98) & (tokens <= d_hi * 1.02)
    losses = final["loss"].to_numpy(float)
    points = np.array([size_at_loss(law, loss, d, n_range) if ok else np.nan
                       for loss, d, ok in zip(losses, tokens, inside, strict=True)])
    draws = _resampled_sizes(base, losses, tokens, inside, n_range, run_noise_sd, seed)
    rows = []
    for i, (n_other, loss, n_base) in enumerate(zip(final[column], losses, points, strict=True)):
        multiplier = n_other / n_base if np.isfinite(n_base) else float("nan")
        lo = hi = float("nan")
        if draws is not None and np.isfinite(multiplier):
            lo, hi = _interval(n_other / draws[:, i])
        reason = "" if np.isfinite(n_base) else OUTSIDE if inside[i] else OUTSIDE_TOKENS
        rows.append({"run": final["run"].iloc[i], "params": float(n_other),
                     "tokens": float(tokens[i]), "loss": loss, "base_params": n_base,
                     "multiplier": multiplier, "lo": lo, "hi": hi, "reason": reason})
    if not np.isfinite(points).any():
        raise ScalinglabError(
            f"no {other_name} run's loss is reached by {base_name}'s L(N, D) within its fitted "
            f"sizes ({n_range[0]:.3g}-{n_range[1]:.3g}) and tokens: not resolvable at this scale")
    result = EqualTokensComparison(base_name, other_name, (float(tokens.min()),
                                                           float(tokens.max())), pd.DataFrame(rows))
    matched = np.flatnonzero(np.isfinite(points))
    if len(matched) >= 2:
        first, last = matched[0], matched[-1]
        result.trend = float(points[first] / points[last]
                             * final[column].iloc[last] / final[column].iloc[first])
        if draws is not None:
            ratios = draws[:, first] / draws[:, last] * (final[column].iloc[last]
                                                         / final[column].iloc[first])
            result.trend_interval = _interval(ratios)
    if draws is None:
        result.notes.append("no bootstrap of the base law: multipliers without intervals")
    return result


def _resampled_sizes(base: FittedLaw, losses: np.ndarray, tokens: np.ndarray,
                     inside: np.ndarray, n_range: tuple[float, float], run_noise_sd: float,
                     seed: int) -> np.ndarray | None:
    """Per bootstrap resample of the base law, the base size matching each loss (drawn with
    one run's noise): resamples x runs, NaN where unmatched."""
    if base.boot is None:
        return None
    rng = np.random.default_rng(seed)
    laws = base.boot.laws()
    noisy = losses * np.exp(rng.normal(0.0, run_noise_sd, size=(len(laws), len(losses))))
    return np.array([[size_at_loss(law, loss, d, n_range) if ok else np.nan
                      for loss, d, ok in zip(row, tokens, inside, strict=True)]
                     for law, row in zip(laws, noisy, strict=True)])


def _interval(values: np.ndarray) -> tuple[float, float]:
    """Percentile interval of a positive quantity's resamples (NaN if most failed)."""
    finite = values[np.isfinite(values)]
    if len(finite) < max(2, len(values) / 2):
        return float("nan"), float("nan")
    tail = 100 * (1 - INTERVAL_LEVEL) / 2
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)
