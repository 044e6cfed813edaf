"""Capabilities: exact-match accuracy against model size next to per-token loss.

On `arithmetic` a run reports, besides its loss, the share of held-out problems whose whole
answer it gets right (greedy, exact match). Per-token loss falls smoothly with size; exact match
needs every answer token right at once, so it can stay near zero and then rise over a narrow
range of sizes (the "emergent" jumps of Wei et al. 2022, which Schaeffer et al. 2023 trace to
such all-or-nothing metrics).

Per model size the best-trained run (lowest final loss) is kept. The jump is the step between
consecutive sizes with the largest accuracy rise; it is "sudden" when that one step holds at
least half of the whole rise in accuracy while holding at most half as large a share of the fall
in loss (`SUDDEN_SHARE`, `SUDDEN_RATIO`), "smooth" otherwise, and "no rise" when accuracy
moves less than `MIN_RISE` over all sizes. `n_half` is where accuracy crosses halfway between
its lowest and highest value (log-linear interpolation in N); its 95% interval comes from a
bootstrap over runs (a resample that drops the sizes around the jump moves it, so the interval
says how well the sizes trained pin the jump down).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analyses.fitted import fmt
from scalinglab.errors import ScalinglabError

SUDDEN_SHARE = 0.5  # the jump step holds at least this share of the accuracy rise
SUDDEN_RATIO = 2.0  # ... and at least this many times its share of the loss fall
MIN_RISE = 0.05  # accuracy must rise by at least 5 points for a jump to be located
ACCURACY_NAME = "exact_match"


@dataclass
class Capabilities:
    """Per size: loss and accuracy (`points`), the located jump and its verdict."""

    points: pd.DataFrame  # params_nonembedding, run, loss, accuracy (one row per size)
    runs: pd.DataFrame  # every run with an accuracy
    jump_from: float  # N before the jump (non-embedding params)
    jump_to: float  # N after it
    accuracy_share: float  # share of the whole accuracy rise in the jump step
    loss_share: float  # share of the whole loss fall in the same step
    n_half: float  # N where accuracy crosses halfway (NaN when it does not)
    verdict: str  # "sudden", "smooth" or "no rise"
    n_half_interval: tuple[float, float] = (float("nan"), float("nan"))  # 95%, over runs

    def summary(self) -> str:
        first, last = self.points.iloc[0], self.points.iloc[-1]
        text = (f"exact match {100 * first['accuracy']:.3g}% → {100 * last['accuracy']:.3g}% "
                f"while loss {first['loss']:.3g} → {last['loss']:.3g} nats/token from N = "
                f"{fmt(first['params_nonembedding'])} to {fmt(last['params_nonembedding'])}")
        if self.verdict == "no rise":
            return text + ": accuracy does not rise, no jump to locate"
        return (text + f"; the largest step, N = {fmt(self.jump_from)} → {fmt(self.jump_to)}, "
                f"holds {100 * self.accuracy_share:.0f}% of the accuracy rise and "
                f"{100 * self.loss_share:.0f}% of the loss fall (half accuracy at N ≈ "
                f"{fmt(self.n_half)} [{fmt(self.n_half_interval[0])}, "
                f"{fmt(self.n_half_interval[1])}]): {self.verdict}")

    def to_dict(self) -> dict[str, Any]:
        return {"points": self.points.to_dict("records"), "jump_from": self.jump_from,
                "jump_to": self.jump_to, "accuracy_share": self.accuracy_share,
                "loss_share": self.loss_share, "n_half": self.n_half,
                "n_half_interval": list(self.n_half_interval), "verdict": self.verdict,
                "summary": self.summary()}


def run_accuracies(table: pd.DataFrame, accuracies: pd.DataFrame | None = None,
                   name: str = ACCURACY_NAME) -> pd.DataFrame:
    """One row per run: final loss, size and accuracy (from `accuracies` or an `accuracy` column).

    `accuracies` is a store's table (run, name, value); without it the measurements table
    must carry an `accuracy` column (read from each run's last row that has one).
    """
    final = table
    if "final" in table.columns and table["final"].fillna(False).astype(bool).any():
        final = table[table["final"].fillna(False).astype(bool)]
    last = (final.sort_values("tokens", kind="stable").groupby(final["run"].astype(str))
            .tail(1).assign(run=lambda t: t["run"].astype(str)))
    if accuracies is not None and not accuracies.empty:
        picked = accuracies[accuracies["name"] == name] if "name" in accuracies else accuracies
        values = picked.assign(run=picked["run"].astype(str)).groupby("run")["value"].last()
        last = last.assign(accuracy=last["run"].map(values))
    elif "accuracy" in table.columns:
        values = (table.dropna(subset=["accuracy"]).sort_values("tokens", kind="stable")
                  .groupby(table["run"].astype(str))["accuracy"].last())
        last = last.assign(accuracy=last["run"].map(values))
    else:
        raise ScalinglabError("no accuracies: give a store's accuracy table or a measurements "
                              "table with an 'accuracy' column (arithmetic runs report one)")
    runs = last.dropna(subset=["accuracy"])
    return runs[["run", "family", "params_nonembedding", "tokens", "loss", "accuracy"]
                ].reset_index(drop=True)


def capabilities(table: pd.DataFrame, accuracies: pd.DataFrame | None = None,
                 family: str | None = None, n_resamples: int = 200, seed: int = 0
                 ) -> Capabilities:
    """Accuracy and loss against size for one family; locate the accuracy jump.

    `table` is a measurements table; only runs with an accuracy take part (on the training
    engine's corpora, the arithmetic runs). `accuracies` as in `run_accuracies`; `family`
    defaults to transformer when present.
    """
    runs = run_accuracies(table, accuracies)
    families = runs["family"].astype(str)
    if family is None and len(runs):
        family = "transformer" if (families == "transformer").any() else families.mode().iloc[0]
    elif family not in set(families):
        raise ScalinglabError(f"family {family!r} has no runs with an accuracy; allowed: "
                              f"{', '.join(sorted(set(families))) or 'none'}")
    runs = runs[families == family]
    if runs["params_nonembedding"].nunique() < 3:
        raise ScalinglabError(f"capabilities: {runs['params_nonembedding'].nunique()} model "
                              "sizes with an accuracy; need at least 3 to locate a jump")
    points = _best_per_size(runs)
    n = points["params_nonembedding"].to_numpy(float)
    accuracy, loss = points["accuracy"].to_numpy(float), points["loss"].to_numpy(float)
    rise = float(accuracy.max() - accuracy.min())
    fall = float(loss.max() - loss.min())
    steps_acc, steps_loss = np.diff(accuracy), -np.diff(loss)
    jump = int(np.argmax(steps_acc))
    accuracy_share = float(steps_acc[jump] / rise) if rise > 0 else 0.0
    loss_share = float(steps_loss[jump] / fall) if fall > 0 else 0.0
    if rise < MIN_RISE:
        verdict = "no rise"
    elif accuracy_share >= SUDDEN_SHARE and accuracy_share >= SUDDEN_RATIO * loss_share:
        verdict = "sudden"
    else:
        verdict = "smooth"
    return Capabilities(points, runs.reset_index(drop=True), float(n[jump]), float(n[jump + 1]),
                        accuracy_share, loss_share, _half_way(n, accuracy), verdict,
                        _half_way_interval(runs.reset_index(drop=True), n_resamples, seed))


def _best_per_size(runs: pd.DataFrame) -> pd.DataFrame:
    """The lowest-loss run of each size, by size."""
    best = runs.loc[runs.groupby("params_nonembedding")["loss"].idxmin()]
    return best.sort_values("params_nonembedding").reset_index(drop=True)


def _half_way_interval(runs: pd.DataFrame, n_resamples: int, seed: int) -> tuple[float, float]:
    """95% interval of the half-accuracy N over resampled runs (NaN with too few resamples)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(max(n_resamples, 0)):
        draw = runs.iloc[rng.integers(0, len(runs), size=len(runs))].reset_index(drop=True)
        points = _best_per_size(draw)
        if len(points) >= 2:
            values.append(_half_way(points["params_nonembedding"].to_numpy(float),
                                    points["accuracy"].to_numpy(float)))
    finite = np.array([v for v in values if np.isfinite(v)])
    if finite.size < 2:
        return float("nan"), float("nan")
    lo, hi = np.percentile(np.log(finite), [2.5, 97.5])
    return float(np.exp(lo)), float(np.exp(hi))


def _half_way(n: np.ndarray, accuracy: np.ndarray) -> float:
    """First N (log-interpolated) where accuracy reaches halfway between its min and max."""
    half = 0.5 * (accuracy.min() + accuracy.max())
    above = np.flatnonzero(accuracy >= half)
    if accuracy.max() <= accuracy.min() or above.size == 0 or above[0] == 0:
        return float("nan") if above.size == 0 or accuracy.max() <= accuracy.min() else float(n[0])
    i = above[0]
    fraction = (half - accuracy[i - 1]) / (accuracy[i] - accuracy[i - 1])
    return float(np.exp(np.log(n[i - 1]) + fraction * np.log(n[i] / n[i - 1])))
