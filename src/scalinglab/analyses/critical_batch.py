"""The critical batch size from a batch-size scan (McCandlish et al. 2018; Kaplan et al. 2020 §5.1).

For a target loss L, a run at batch B (tokens per step) needs S steps and E = B S tokens to
reach it. McCandlish et al. found the trade-off

    S / S_min - 1 = (E / E_min - 1)^-1,  equivalently  S(B) = S_min + E_min / B,

so S is linear in 1/B: S_min (the fewest steps, at infinite batch) is the intercept and E_min
(the fewest tokens, at batch 1) the slope. The critical batch B_crit(L) = E_min / S_min is
where both are spent twice over. Kaplan et al. found B_crit(L) ≈ B* / L^(1/alpha_B), with
alpha_B ≈ 0.21 (B* ≈ 2e8 tokens for their WebText2 models).

Steps to a target come from each run's learning curve before any annealing (phases "warmup"
and "train"; a cooldown's drop is not the batch's doing): the curve is made monotone by its
running minimum and the first crossing of L is interpolated linearly in log steps against
log loss. A run that never reaches L is left out of that target; a target needs at least 3
batch sizes. The fit minimises squared errors of log S (runs' noise is multiplicative).
A target's B_crit is identified only where the scan brackets it: S_min > 0 and B_crit within
`BRACKET` times the scanned batches. Beyond them the fit puts S_min at its floor and B_crit at
any size (a curve still falling as 1/B at the largest batch only says B_crit lies above it):
such a target is reported as a bound and left out of the power law.
Intervals: a parametric bootstrap that redraws every log S from the fit with the residual
spread (one curve per batch size gives no other replicate), refitting every target and the
power law, so the B_crit(L) interval carries every target's uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from scalinglab.errors import ScalinglabError

MIN_BATCH_SIZES = 3
INTERVAL_LEVEL = 0.95
# Kaplan et al. 2020, Eq. 5.3 (WebText2, tokens): B_crit(L) = B* / L^(1/alpha_B).
KAPLAN_ALPHA_B = 0.21
KAPLAN_B_STAR = 2e8
ANNEALED_PHASES = ("cooldown",)
BRACKET = 4.0


@dataclass
class CriticalBatch:
    """Per target loss: S_min, E_min, B_crit (with intervals); and B_crit(L) as a power law.

    `targets` columns: loss, n_batches, s_min, e_min, b_crit, b_crit_lo, b_crit_hi,
    identified (the scan brackets B_crit; see the module doc).
    `steps`: the measured (batch_tokens, loss target, steps, tokens) points that were fitted.
    """

    targets: pd.DataFrame
    steps: pd.DataFrame
    alpha_b: float = float("nan")
    alpha_b_interval: tuple[float, float] = (float("nan"), float("nan"))
    b_star: float = float("nan")
    notes: list[str] = field(default_factory=list)

    def b_crit(self, loss: float | np.ndarray) -> np.ndarray:
        """The fitted power law B*/L^(1/alpha_B) in tokens."""
        return self.b_star / np.asarray(loss, float) ** (1.0 / self.alpha_b)

    @property
    def identified(self) -> pd.DataFrame:
        """The targets whose B_crit the scan brackets."""
        return self.targets[self.targets["identified"]]

    def summary(self) -> str:
        known = self.identified
        parts = [f"B_crit = {r.b_crit:.3g} [{r.b_crit_lo:.3g}, {r.b_crit_hi:.3g}] tokens at "
                 f"L = {r.loss:.3g}"
                 for r in known.iloc[[0, -1]].drop_duplicates("loss").itertuples()] \
            if len(known) else []
        beyond = self.targets[~self.targets["identified"]]
        if len(beyond):
            batches = self.steps["batch_tokens"]
            parts.append(f"at L = {', '.join(f'{x:.3g}' for x in beyond['loss'])}: B_crit not "
                         f"bracketed by the scanned batches ({batches.min():.0f} to "
                         f"{batches.max():.0f}), not identified")
        text = "; ".join(parts)
        if np.isfinite(self.alpha_b):
            lo, hi = self.alpha_b_interval
            text += (f"; B_crit ∝ L^(-1/alpha_B) with alpha_B = {self.alpha_b:.3g} "
                     f"[{lo:.3g}, {hi:.3g}] (Kaplan et al. 2020: {KAPLAN_ALPHA_B})")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"targets": self.targets.to_dict("records"), "alpha_b": self.alpha_b,
                "alpha_b_interval": list(self.alpha_b_interval), "b_star": self.b_star,
                "summary": self.summary(), "notes": list(self.notes)}


def steps_to_target(curve: pd.DataFrame, target: float, batch_tokens: float) -> float:
    """Optimizer steps a learning curve (tokens, loss) needs to first reach `target`, or NaN."""
    curve = curve.sort_values("tokens")
    steps = curve["tokens"].to_numpy(float) / batch_tokens
    loss = np.minimum.accumulate(curve["loss"].to_numpy(float))
    below = np.flatnonzero(loss <= target)
    if len(below) == 0:
        return float("nan")
    i = below[0]
    if i == 0:
        return float(steps[0])
    # Linear in log steps against log loss between the evaluations either side.
    x0, x1 = np.log(steps[i - 1]), np.log(steps[i])
    y0, y1 = np.log(loss[i - 1]), np.log(loss[i])
    if y0 == y1:
        return float(steps[i])
    return float(np.exp(x0 + (np.log(target) - y0) * (x1 - x0) / (y1 - y0)))


def fit_tradeoff(batch: np.ndarray, steps: np.ndarray) -> tuple[float, float, float]:
    """S_min, E_min of S(B) = S_min + E_min / B by least squares in log S; and the residual
    standard deviation of log S."""
    batch, steps = np.asarray(batch, float), np.asarray(steps, float)
    # Start from the straight line S = S_min + E_min / B, kept positive.
    slope, intercept = np.polyfit(1.0 / batch, steps, 1)
    start = np.log([max(intercept, steps.min() * 0.1), max(slope, steps.min() * batch.min() * 0.1)])

    def residuals(theta: np.ndarray) -> np.ndarray:
        s_min, e_min = np.exp(theta)
        return np.log(s_min + e_min / batch) - np.log(steps)

    fit = least_squares(residuals, start, method="lm" if len(batch) > 2 else "trf")
    s_min, e_min = np.exp(fit.x)
    dof = max(1, len(batch) - 2)
    return float(s_min), float(e_min), float(np.sqrt(np.sum(fit.fun**2) / dof))


def critical_batch(table: pd.DataFrame, targets: np.ndarray | None = None,
                   n_targets: int = 6, n_resamples: int = 200,
                   seed: int = 0) -> CriticalBatch:
    """B_crit at each target loss from runs of one model at several `batch_tokens`.

    `table`: a measurements table of those runs (their evaluations). `targets` default to
    `n_targets` losses spaced in log between the highest loss every batch size reaches
    late in its curve and the lowest loss at least `MIN_BATCH_SIZES` of them reach.
    """
    if "batch_tokens" not in table.columns:
        raise ScalinglabError("critical batch: the table has no 'batch_tokens' column")
    rows = table
    if "phase" in rows.columns:
        rows = rows[~rows["phase"].isin(ANNEALED_PHASES)]
    runs = {float(b): g for b, g in rows.groupby("batch_tokens")}
    if len(runs) < MIN_BATCH_SIZES:
        raise ScalinglabError(f"critical batch: {len(runs)} batch sizes; need at least "
                              f"{MIN_BATCH_SIZES}")
    if targets is None:
        best = sorted(g["loss"].min() for g in runs.values())
        hi = min(g.sort_values("tokens")["loss"].iloc[len(g) // 2] for g in runs.values())
        lo = best[MIN_BATCH_SIZES - 1] * 1.002
        if not lo < hi:
            raise ScalinglabError("critical batch: the runs share no range of losses to target")
        targets = np.geomspace(hi, lo, n_targets)
    points = []
    for target in targets:
        for b, curve in runs.items():
            s = steps_to_target(curve, float(target), b)
            if np.isfinite(s):
                points.append({"batch_tokens": b, "loss": float(target), "steps": s,
                               "tokens": s * b})
    steps = pd.DataFrame(points, columns=["batch_tokens", "loss", "steps", "tokens"])
    fitted, sds = [], []
    for target, group in steps.groupby("loss", sort=False):
        if len(group) < MIN_BATCH_SIZES:
            continue
        s_min, e_min, sd = fit_tradeoff(group["batch_tokens"], group["steps"])
        fitted.append({"loss": float(target), "n_batches": len(group), "s_min": s_min,
                       "e_min": e_min, "b_crit": e_min / s_min})
        sds.append(sd)
    if not fitted:
        raise ScalinglabError(f"critical batch: no target loss is reached by "
                              f"{MIN_BATCH_SIZES} batch sizes")
    targets = pd.DataFrame(fitted)
    crit = _bootstrap(targets, steps, float(np.sqrt(np.mean(np.square(sds)))), n_resamples,
                      seed)
    result = CriticalBatch(targets, steps)
    if crit is None:
        targets["b_crit_lo"] = targets["b_crit_hi"] = np.nan
        result.notes.append("no bootstrap: intervals are not computed")
    else:
        lo_q, hi_q = _quantiles()
        targets["b_crit_lo"] = np.nanpercentile(crit, lo_q, axis=0)
        targets["b_crit_hi"] = np.nanpercentile(crit, hi_q, axis=0)
    # Identified where the scan brackets B_crit (its interval too, when there is one).
    bracketed = [targets["b_crit"]] if crit is None else [
        targets["b_crit"], targets["b_crit_lo"], targets["b_crit_hi"]]
    low, high = steps["batch_tokens"].min() / BRACKET, steps["batch_tokens"].max() * BRACKET
    targets["identified"] = (targets["s_min"] > 0) & np.logical_and.reduce(
        [(v >= low) & (v <= high) for v in bracketed])
    _fit_power_law(result, crit)
    return result


def _quantiles() -> tuple[float, float]:
    return 100 * (1 - INTERVAL_LEVEL) / 2, 100 * (1 + INTERVAL_LEVEL) / 2


def _power_law(targets: pd.DataFrame) -> tuple[float, float]:
    """alpha_B and B* of log B_crit = log B* - (1/alpha_B) log L."""
    slope, intercept = np.polyfit(np.log(targets["loss"]), np.log(targets["b_crit"]), 1)
    return float(-1.0 / slope) if slope < 0 else float("nan"), float(np.exp(intercept))


def _bootstrap(targets: pd.DataFrame, steps: pd.DataFrame, sd: float, n_resamples: int,
               seed: int) -> np.ndarray | None:
    """Parametric bootstrap: redraw log S around each target's fit and refit (module doc); the
    B_crit draws, one row per resample, or None without a bootstrap."""
    if n_resamples <= 0 or sd <= 0:
        return None
    rng = np.random.default_rng(seed)
    crit = np.full((n_resamples, len(targets)), np.nan)
    for r in range(n_resamples):
        for j, row in enumerate(targets.itertuples()):
            b = steps.loc[steps["loss"] == row.loss, "batch_tokens"].to_numpy(float)
            centre = row.s_min + row.e_min / b
            drawn = centre * np.exp(rng.normal(0.0, sd, size=len(b)))
            s_min, e_min, _ = fit_tradeoff(b, drawn)
            crit[r, j] = e_min / s_min
    return crit


def _fit_power_law(result: CriticalBatch, crit: np.ndarray | None) -> None:
    """alpha_B and B* on the identified targets; alpha_B's interval from the B_crit draws."""
    known = result.targets["identified"].to_numpy()
    if known.sum() < 2:
        if crit is not None:
            result.notes.append("alpha_B not identified: fewer than 2 target losses whose "
                                "B_crit the scan brackets")
        return
    identified = result.targets[known]
    result.alpha_b, result.b_star = _power_law(identified)
    if crit is None:
        return
    alphas = np.array([_power_law(identified.assign(b_crit=draw[known]))[0] for draw in crit])
    finite = alphas[np.isfinite(alphas)]
    if len(finite) >= len(crit) / 2:
        lo_q, hi_q = _quantiles()
        result.alpha_b_interval = (float(np.percentile(finite, lo_q)),
                                   float(np.percentile(finite, hi_q)))
    else:
        result.notes.append(f"alpha_B not identified: {len(crit) - len(finite)} of "
                            f"{len(crit)} resamples gave no decreasing B_crit(L)")
