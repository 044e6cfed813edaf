"""One group's compute trend: the lower envelope of loss against compute, L(C) through it, and
the compute-optimal allocation along it (Kaplan et al. 2020 Fig. 1; Chinchilla's Approach 1).

Every comparison between groups (families, corpora, learning-rate rules) starts here: a
technique helps when it moves the trend, not a single run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab import laws
from scalinglab.analyses.fitted import FIT_ERRORS, FittedLaw, fit_law, fmt
from scalinglab.errors import ScalinglabError
from scalinglab.laws.identifiability import interval_reason
from scalinglab.laws.uncertainty import NoiseModel, bootstrap_statistic

# L(C) = E + (C0/C)^a has three parameters; four envelope points leave one degree of freedom.
MIN_ENVELOPE_POINTS = 4


def lower_envelope(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose loss is lower than that of every row with less compute (Kaplan's L(C)).

    Kaplan et al. fit L(C) to this frontier of all learning curves; a run contributes the
    stretch of compute over which it was the best model trained.
    """
    ordered = rows.sort_values(["flops", "loss"], kind="stable")
    best_before = ordered["loss"].cummin().shift(1, fill_value=np.inf)
    return ordered[ordered["loss"] < best_before].reset_index(drop=True)


def inverse_saturating(params: dict[str, float], loss: np.ndarray | float) -> np.ndarray:
    """The x (compute C) at which E + (X0/x)^a equals `loss` (NaN at or below E)."""
    loss = np.asarray(loss, float)
    with np.errstate(all="ignore"):
        gap = np.where(loss > params["E"], loss - params["E"], np.nan)
        return params["X0"] * gap ** (-1.0 / params["a"])


def allocation_intervals(
    make: Callable[[pd.DataFrame], Any], table: pd.DataFrame, n_resamples: int, seed: int,
    noise: NoiseModel | None = None,
) -> tuple[dict[str, tuple[float, float]], dict[str, Any]]:
    """95% intervals of the N_opt and D_opt exponents of Approach 1, and how they were made.

    The approach is rerun on design-keeping resamples (`laws.uncertainty.bootstrap_statistic`:
    every run kept, losses perturbed by the measured noise); failed resamples are counted.
    """
    if n_resamples <= 0:
        return {}, {}
    boot = bootstrap_statistic(
        table, lambda t: (lambda fit: (fit.n_exponent, fit.d_exponent))(make(t)),
        n_resamples, seed, noise=noise, errors=FIT_ERRORS)
    lo, hi = boot.interval(0.95)
    if not np.isfinite(lo).all():
        return {}, boot.summary()
    return ({"n_opt_exponent": (float(lo[0]), float(hi[0])),
             "d_opt_exponent": (float(lo[1]), float(hi[1]))}, boot.summary())


@dataclass
class Allocation:
    """Approach 1 or 2 (`laws.AllocationFit`) with bootstrap intervals on its two exponents.

    `resampling` says how the intervals were made, where the maker reports it (Approach 2's
    `laws.isoflop_intervals`: n_resamples, n_failed, level, method).
    """

    fit: Any
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    resampling: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """`N_opt ∝ C^0.50 [0.46, 0.54], D_opt ∝ C^0.50 [0.46, 0.54]`."""
        parts = []
        for label, value, key in (("N_opt", self.fit.n_exponent, "n_opt_exponent"),
                                  ("D_opt", self.fit.d_exponent, "d_opt_exponent")):
            text = f"{label} ∝ C^{fmt(value)}"
            if key in self.intervals:
                lo, hi = self.intervals[key]
                reason = interval_reason(lo, hi)
                text = (f"{label} exponent not identified ({reason})" if reason
                        else f"{text} [{fmt(lo)}, {fmt(hi)}]")
            parts.append(text)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out = self.fit.to_dict()
        out.pop("points", None)
        out.pop("envelope", None)
        out["intervals"] = {k: list(v) for k, v in self.intervals.items()}
        if self.resampling:
            out["resampling"] = dict(self.resampling)
        return out


@dataclass
class EnvelopeFit:
    """A compute envelope with its L(C) law and Approach 1 allocation: one group's trend.

    `allocation` is None when the envelope has too few interior model sizes for Approach 1
    (`allocation_note` says why); L(C) does not need it.
    """

    name: str
    rows: pd.DataFrame  # every row of the group
    envelope: pd.DataFrame  # the lower envelope of loss against compute (rows of `rows`)
    allocation: Allocation | None
    loss_law: FittedLaw
    allocation_note: str = ""

    @property
    def params(self) -> dict[str, float]:
        """E, X0 (= C0, FLOPs) and a of L(C) = E + (C0/C)^a."""
        return dict(self.loss_law.law.params_)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_rows": len(self.rows),
            "n_runs": int(self.rows["run"].nunique()),
            "n_envelope_points": len(self.envelope),
            "flops_range": [float(self.envelope["flops"].min()),
                            float(self.envelope["flops"].max())],
            "loss_range": [float(self.envelope["loss"].min()), float(self.envelope["loss"].max())],
            "l_c": self.loss_law.to_dict(),
            "allocation": None if self.allocation is None else self.allocation.to_dict(),
            "allocation_note": self.allocation_note,
        }


def fit_envelope(name: str, rows: pd.DataFrame, n_resamples: int = 200, seed: int = 0,
                 require_allocation: bool = True) -> EnvelopeFit:
    """L(C) = E + (C0/C)^a through the lower envelope of `rows`, and Approach 1 on them.

    L(C) is bootstrapped on its envelope points like any law (`laws.bootstrap`: a parametric
    resample keeps every point), and Approach 1 reruns on the rows perturbed by the noise that
    fit measured. Raises `ScalinglabError` with fewer than 4 envelope points,
    and when Approach 1 fails unless `require_allocation` is False (then `allocation` is None
    and `allocation_note` says why: a comparison of L(C) needs no allocation).
    """
    envelope = lower_envelope(rows)
    if len(envelope) < MIN_ENVELOPE_POINTS:
        raise ScalinglabError(f"{name or 'table'}: only {len(envelope)} envelope points; "
                              f"need {MIN_ENVELOPE_POINTS} for L(C)")
    label = f"L(C) {name}".strip()
    loss_law = fit_law(f"l_c:{name}" if name else "l_c", label,
                       laws.get_law("saturating", x="flops"), envelope, n_resamples, seed,
                       note="lower envelope of loss against compute")
    fitted_allocation, reason = None, ""
    try:
        fit = laws.envelope_fit(rows, source=name or "table")
    except FIT_ERRORS as error:
        if require_allocation:
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    else:
        noise = loss_law.boot.noise if loss_law.boot is not None else None
        intervals, resampling = allocation_intervals(
            lambda t: laws.envelope_fit(t, source=name), rows, n_resamples, seed, noise)
        fitted_allocation = Allocation(fit, intervals, resampling)
    return EnvelopeFit(name, rows, envelope, fitted_allocation, loss_law, reason)
