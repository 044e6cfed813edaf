"""The gradient noise scale as a cheap estimate of the critical batch (McCandlish et al. 2018).

Runs trained with `RunConfig.noise_scale_batches` carry, at each evaluation, unbiased estimates
of the true gradient's squared norm |G|^2 and of the per-token noise tr(Sigma) (columns
`grad_sq`, `grad_trace`). Their ratio B_simple = tr(Sigma) / |G|^2 (tokens) predicts the critical
batch when the Hessian is well conditioned; McCandlish et al. found B_crit and B_simple within a
small factor of each other, and Kaplan et al. 2020 (Sec. 5.1) use it as B_crit's estimate.

One evaluation's ratio is noisy: late in training |G|^2 is a small difference of two noisy
norms and can even come out negative. So the two parts are pooled before dividing: log tr(Sigma)
and log |G|^2 are each fitted as straight lines in log L over the evaluations where both are
positive, and B_noise(L) = tr(Sigma)(L) / |G|^2(L), a power law B_n / L^(1/alpha_noise).
Evaluations inside the warmup are left out (the rate is still rising there). Intervals: a
bootstrap over evaluations (resampled with replacement, both lines refitted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError

INTERVAL_LEVEL = 0.95
MIN_POINTS = 4
COLUMNS = ("grad_sq", "grad_trace")


@dataclass
class NoiseScale:
    """B_noise(L) = exp(trace line - grad_sq line) in log L, with bootstrap draws of both lines.

    `points`: the evaluations used (run, tokens, loss, grad_sq, grad_trace, noise_scale).
    `lines`: (trace slope, trace intercept, grad slope, grad intercept) in log-log; `draws`:
    the same per bootstrap resample.
    """

    points: pd.DataFrame
    lines: np.ndarray
    draws: np.ndarray
    dropped: int = 0
    notes: list[str] = field(default_factory=list)

    def b_noise(self, loss: float | np.ndarray) -> np.ndarray:
        """The fitted B_noise in tokens at `loss` (same shape as `loss`)."""
        loss = np.asarray(loss, float)
        return _evaluate(self.lines[None, :], np.atleast_1d(loss))[0].reshape(loss.shape)

    def interval(self, loss: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The 95% bootstrap interval of B_noise at `loss` (NaN without resamples)."""
        values = _evaluate(self.draws, np.atleast_1d(np.asarray(loss, float)))
        if len(values) == 0:
            nan = np.full(np.atleast_1d(loss).shape, np.nan)
            return nan, nan
        tail = 100 * (1 - INTERVAL_LEVEL) / 2
        return (np.nanpercentile(values, tail, axis=0),
                np.nanpercentile(values, 100 - tail, axis=0))

    @property
    def alpha(self) -> float:
        """alpha_noise of B_noise ∝ L^(-1/alpha_noise) (NaN when B_noise does not fall with L)."""
        slope = self.lines[0] - self.lines[2]
        return float(-1.0 / slope) if slope < 0 else float("nan")

    def summary(self, losses: np.ndarray) -> str:
        lo, hi = self.interval(losses)
        parts = [f"B_noise = {b:.3g} [{a:.3g}, {c:.3g}] tokens at L = {loss:.3g}"
                 for loss, b, a, c in zip(losses, self.b_noise(losses), lo, hi, strict=True)]
        return "; ".join(parts) + f" ({len(self.points)} evaluations)"

    def to_dict(self) -> dict[str, Any]:
        return {"points": self.points.to_dict("records"), "lines": self.lines.tolist(),
                "alpha_noise": self.alpha, "dropped": self.dropped, "notes": list(self.notes)}


def _evaluate(lines: np.ndarray, loss: np.ndarray) -> np.ndarray:
    log_l = np.log(loss)[None, :]
    trace = lines[:, [0]] * log_l + lines[:, [1]]
    grad = lines[:, [2]] * log_l + lines[:, [3]]
    return np.exp(trace - grad)


def _fit(points: pd.DataFrame) -> np.ndarray:
    log_l = np.log(points["loss"].to_numpy(float))
    trace = np.polyfit(log_l, np.log(points["grad_trace"].to_numpy(float)), 1)
    grad = np.polyfit(log_l, np.log(points["grad_sq"].to_numpy(float)), 1)
    return np.concatenate([trace, grad])


def noise_scale(table: pd.DataFrame, n_resamples: int = 200, seed: int = 0) -> NoiseScale:
    """B_noise(L) from the evaluations of `table` that carry noise estimates (module doc)."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ScalinglabError(f"noise scale: the table has no {', '.join(missing)} column "
                              "(train with noise_scale_batches > 0)")
    rows = table.dropna(subset=list(COLUMNS))
    if "phase" in rows.columns:
        rows = rows[rows["phase"] == "train"]
    if "warmup_tokens" in rows.columns:
        rows = rows[rows["tokens"] > rows["warmup_tokens"]]
    positive = rows[(rows["grad_sq"] > 0) & (rows["grad_trace"] > 0)]
    if len(positive) < MIN_POINTS:
        raise ScalinglabError(f"noise scale: {len(positive)} evaluations with positive "
                              f"estimates after the warmup; need at least {MIN_POINTS}")
    keep = [c for c in ("run", "tokens", "loss", "grad_sq", "grad_trace", "noise_scale")
            if c in positive.columns]
    points = positive[keep].reset_index(drop=True)
    result = NoiseScale(points, _fit(points), np.empty((0, 4)), dropped=len(rows) - len(points))
    if result.dropped:
        result.notes.append(f"{result.dropped} evaluation(s) left out: a non-positive |G|^2 or "
                            "tr(Sigma) estimate (too few noise batches for that point)")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(max(0, n_resamples)):
        sample = points.iloc[rng.integers(0, len(points), len(points))]
        if sample["loss"].nunique() >= 2:  # a line needs two distinct losses
            draws.append(_fit(sample))
    result.draws = np.array(draws) if draws else np.empty((0, 4))
    return result
