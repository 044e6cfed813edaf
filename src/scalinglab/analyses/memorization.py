"""Memorization: is the per-sequence loss on repeated sequences bimodal, and what fraction is
in the memorized mode?

The lecture's recipe: train with a subset of sequences repeated many times, then look at the
distribution of per-sequence loss on those sequences against fresh ones. A model that memorizes
some of them puts those sequences in a second mode far below the fresh ones' loss. Here the
log per-sequence losses of the repeated sequences are fitted with one and with two Gaussians
(expectation-maximisation, many starts); two modes are called when two Gaussians win on BIC
and are separated (Ashman's D = sqrt(2) |mu1 - mu2| / sqrt(s1^2 + s2^2) > 2). The fraction
memorized is the low mode's share of the repeated sequences, provided that mode lies below the
fresh sequences' lowest 1% (a low mode inside the fresh distribution is not memorization);
its interval comes from resampling sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SEPARATION = 2.0  # Ashman's D above which two Gaussians are two modes
FRESH_QUANTILE = 0.01  # the memorized mode must lie below this quantile of fresh losses
INTERVAL_LEVEL = 0.95


@dataclass(frozen=True)
class Mixture:
    """A 1-D mixture of Gaussians in log loss: weights, means and standard deviations."""

    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray
    log_likelihood: float
    n_points: int

    @property
    def bic(self) -> float:
        return float(-2 * self.log_likelihood
                     + (3 * len(self.weights) - 1) * np.log(self.n_points))

    @property
    def separation(self) -> float:
        if len(self.means) < 2:
            return 0.0
        return float(np.sqrt(2) * abs(self.means[1] - self.means[0])
                     / np.sqrt(self.sds[0] ** 2 + self.sds[1] ** 2))


def fit_mixture(x: np.ndarray, k: int, n_starts: int = 8, seed: int = 0,
                iterations: int = 300) -> Mixture:
    """Maximum-likelihood k-Gaussian mixture of `x` by EM from `n_starts` quantile-spread starts
    (components sorted by mean)."""
    x = np.asarray(x, float)
    rng = np.random.default_rng(seed)
    floor = max(1e-3, 1e-3 * np.std(x))
    best: Mixture | None = None
    for start in range(n_starts):
        qs = np.sort(rng.uniform(0.05, 0.95, k)) if start else (np.arange(k) + 0.5) / k
        means, sds = np.quantile(x, qs), np.full(k, max(np.std(x) / k, floor))
        weights = np.full(k, 1.0 / k)
        for _ in range(iterations):
            dens = weights * np.exp(-0.5 * ((x[:, None] - means) / sds) ** 2) / (
                sds * np.sqrt(2 * np.pi))
            total = dens.sum(axis=1, keepdims=True) + 1e-300
            resp = dens / total
            mass = resp.sum(axis=0) + 1e-12
            weights = mass / len(x)
            means = (resp * x[:, None]).sum(axis=0) / mass
            sds = np.sqrt((resp * (x[:, None] - means) ** 2).sum(axis=0) / mass)
            sds = np.maximum(sds, floor)
        loglik = float(np.log(total).sum())
        if best is None or loglik > best.log_likelihood:
            order = np.argsort(means)
            best = Mixture(weights[order], means[order], sds[order], loglik, len(x))
    assert best is not None
    return best


@dataclass
class Memorization:
    """The split of the repeated sequences' losses, and its verdict."""

    n_repeated: int
    n_fresh: int
    bimodal: bool
    fraction: float  # the memorized (low) mode's share of the repeated sequences; 0 if none
    interval: tuple[float, float]
    threshold: float  # per-sequence loss below which a sequence counts as memorized (NaN if none)
    separation: float
    fresh_floor: float  # FRESH_QUANTILE of the fresh sequences' losses

    @property
    def verdict(self) -> str:
        if not self.bimodal:
            return "no memorized mode: the repeated sequences' losses are one distribution"
        lo, hi = self.interval
        return (f"{100 * self.fraction:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] of the repeated "
                f"sequences memorized (per-sequence loss below {self.threshold:.3g} nats; "
                f"fresh sequences' lowest 1% at {self.fresh_floor:.3g})")

    def to_dict(self) -> dict[str, Any]:
        return {"n_repeated": self.n_repeated, "n_fresh": self.n_fresh, "bimodal": self.bimodal,
                "fraction": self.fraction, "interval": list(self.interval),
                "threshold": self.threshold, "separation": self.separation,
                "fresh_floor": self.fresh_floor, "verdict": self.verdict}


def memorization(repeated: np.ndarray, fresh: np.ndarray, n_resamples: int = 200,
                 seed: int = 0) -> Memorization:
    """Split the repeated sequences' per-sequence losses (nats) into memorized and not."""
    repeated, fresh = np.asarray(repeated, float), np.asarray(fresh, float)
    if len(repeated) < 20 or len(fresh) < 20:
        raise ValueError("memorization: need at least 20 repeated and 20 fresh sequences")
    floor = float(np.quantile(fresh, FRESH_QUANTILE))
    split = _split(np.log(repeated), np.log(floor), seed)
    if split is None:
        return Memorization(len(repeated), len(fresh), False, 0.0, (0.0, 0.0), float("nan"),
                            0.0, floor)
    threshold, separation = split
    fraction = float(np.mean(np.log(repeated) < threshold))
    rng = np.random.default_rng(seed)
    draws = [np.mean(np.log(rng.choice(repeated, len(repeated))) < threshold)
             for _ in range(n_resamples)]
    tail = 100 * (1 - INTERVAL_LEVEL) / 2
    lo, hi = np.percentile(draws, [tail, 100 - tail]) if draws else (np.nan, np.nan)
    return Memorization(len(repeated), len(fresh), True, fraction, (float(lo), float(hi)),
                        float(np.exp(threshold)), separation, floor)


def _split(log_loss: np.ndarray, log_floor: float, seed: int) -> tuple[float, float] | None:
    """The log-loss threshold between two modes (equal posterior), and their separation; None
    if one mode fits better, the modes overlap, or the low mode is not below the fresh floor."""
    one, two = fit_mixture(log_loss, 1, seed=seed), fit_mixture(log_loss, 2, seed=seed)
    if two.bic >= one.bic or two.separation <= SEPARATION or two.means[0] >= log_floor:
        return None
    grid = np.linspace(two.means[0], two.means[1], 2001)
    dens = two.weights * np.exp(-0.5 * ((grid[:, None] - two.means) / two.sds) ** 2) / two.sds
    crossing = grid[np.argmin(np.abs(dens[:, 0] - dens[:, 1]))]
    return float(crossing), two.separation


def sequence_losses(accuracies: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Run -> (repeated, fresh) per-sequence losses from a store's named per-run values
    (`sweep.store.SEQUENCE_LOSS`: training windows are the repeated ones, validation fresh)."""
    from scalinglab.sweep.store import SEQUENCE_LOSS

    if accuracies is None or accuracies.empty:
        return {}
    rows = accuracies[accuracies["name"].astype(str).str.startswith(f"{SEQUENCE_LOSS}:")]
    parts = rows["name"].astype(str).str.split(":", expand=True)
    if parts.empty:
        return {}
    rows = rows.assign(split=parts[1].to_numpy())
    out = {}
    for run, group in rows.groupby("run"):
        out[str(run)] = (group.loc[group["split"] == "train", "value"].to_numpy(float),
                         group.loc[group["split"] == "val", "value"].to_numpy(float))
    return out
