"""Chinchilla's Approaches 1 and 2: compute-optimal allocation without a parametric loss law.

Both end the same way: points (C, N_opt, D_opt), then power laws N_opt = k_N C^a and
D_opt = k_D C^b fitted by least squares in log-log space (Hoffmann et al. 2022, Sec. 3.1-3.2).
Approach 3, the parametric fit, is `get_law("chinchilla").fit(table)`, whose `derived()` gives
a = beta / (alpha + beta).

- Approach 1, lower envelope: a row is on the envelope when no row with at most its compute has a
  lower loss (the frontier of all learning curves in the loss-vs-FLOPs plane). Each envelope row
  says which model size (and how many tokens) was best for its compute. Envelope rows of the
  smallest or largest size are left out: there the optimum may lie beyond the sizes trained.
  Each remaining size gives one point, at the geometric centre of the compute range it wins
  (fitting every envelope row instead weights sizes by how many evaluations they logged, and
  came out ~0.01 low on synthetic data with 16 sizes; one point per size was within 0.003).
- Approach 2, IsoFLOP profiles: rows are grouped into compute budgets by rounding log10(flops) to
  the nearest 1/`per_decade` of a decade (default 10 per decade: budgets within about +-12% of
  each other are one budget). For each budget with at least 3 model sizes, a parabola in
  log N is fitted to the loss; its vertex is N_opt if the parabola opens upward and the vertex
  lies within the sizes measured (otherwise the budget is skipped, and listed with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import positive_column

DEFAULT_PER_DECADE = 10
MIN_SIZES_PER_BUDGET = 3


@dataclass
class AllocationFit:
    """N_opt(C) = n_coefficient * C^n_exponent and D_opt(C) = d_coefficient * C^d_exponent."""

    approach: int
    n_exponent: float
    n_coefficient: float
    d_exponent: float
    d_coefficient: float
    points: pd.DataFrame  # the compute-optimal points fitted: flops, params, tokens, loss, ...
    skipped: list[str] = field(default_factory=list)
    envelope: pd.DataFrame | None = None  # Approach 1: every envelope row, for plotting

    def n_opt(self, flops: float | np.ndarray) -> np.ndarray:
        return self.n_coefficient * np.asarray(flops, float) ** self.n_exponent

    def d_opt(self, flops: float | np.ndarray) -> np.ndarray:
        return self.d_coefficient * np.asarray(flops, float) ** self.d_exponent

    def to_dict(self) -> dict[str, Any]:
        return {
            "approach": self.approach,
            "n_opt_exponent": self.n_exponent,
            "n_opt_coefficient": self.n_coefficient,
            "d_opt_exponent": self.d_exponent,
            "d_opt_coefficient": self.d_coefficient,
            "n_points": len(self.points),
            "points": self.points.to_dict("records"),
            "skipped": list(self.skipped),
            **({"envelope": self.envelope.to_dict("records")} if self.envelope is not None else {}),
        }


def envelope_fit(table: pd.DataFrame, source: str = "table") -> AllocationFit:
    """Approach 1: power laws of N and D along the lower envelope of loss against compute."""
    flops, loss = positive_column(table, "flops", source), positive_column(table, "loss", source)
    params = positive_column(table, "params", source)
    tokens = positive_column(table, "tokens", source)
    order = np.lexsort((loss, flops))  # by compute, ties by loss
    running_min = np.minimum.accumulate(loss[order])
    previous = np.concatenate([[np.inf], running_min[:-1]])
    on_envelope = order[loss[order] < previous]
    # Where the smallest or largest size trained is best, the true optimum may lie beyond it.
    inside = (params[on_envelope] > params.min()) & (params[on_envelope] < params.max())
    skipped = []
    if (~inside).any() and inside.sum() >= 2:
        skipped.append(f"{int((~inside).sum())} envelope rows of the smallest or largest model "
                       "size (the optimum there may lie outside the sizes trained)")
        on_envelope = on_envelope[inside]
    envelope = pd.DataFrame({
        "flops": flops[on_envelope], "params": params[on_envelope],
        "tokens": tokens[on_envelope], "loss": loss[on_envelope],
    })
    if "run" in table.columns:
        envelope.insert(0, "run", table["run"].astype(str).to_numpy()[on_envelope])
    # One point per model size: the centre (geometric mean) of the compute range it wins.
    logs = np.log(envelope[["flops", "params", "tokens", "loss"]]).groupby(envelope["params"])
    points = np.exp(logs.mean()).reset_index(drop=True)
    points["n_points"] = logs.size().to_numpy()
    fit = _allocation(1, points, skipped, source)
    fit.envelope = envelope.sort_values("flops").reset_index(drop=True)
    return fit


def isoflop_fit(
    table: pd.DataFrame, per_decade: int = DEFAULT_PER_DECADE, source: str = "table"
) -> AllocationFit:
    """Approach 2: a parabola in log N per compute budget, then power laws of the minima."""
    if per_decade < 1:
        raise ScalinglabError(f"per_decade must be a positive integer, got {per_decade}")
    flops, loss = positive_column(table, "flops", source), positive_column(table, "loss", source)
    params = positive_column(table, "params", source)
    budget = np.round(np.log10(flops) * per_decade) / per_decade
    rows, skipped = [], []
    for key in np.unique(budget):
        members = budget == key
        log_n, group_loss = np.log(params[members]), loss[members]
        label = f"budget 10^{key:g} FLOPs"
        if np.unique(np.round(log_n, 9)).size < MIN_SIZES_PER_BUDGET:
            skipped.append(f"{label}: fewer than {MIN_SIZES_PER_BUDGET} model sizes")
            continue
        curvature, slope, intercept = np.polyfit(log_n, group_loss, 2)
        if curvature <= 0:
            skipped.append(f"{label}: the profile has no minimum (parabola opens downward)")
            continue
        log_n_opt = -slope / (2.0 * curvature)
        if not log_n.min() <= log_n_opt <= log_n.max():
            skipped.append(f"{label}: the minimum lies outside the model sizes measured")
            continue
        compute = float(np.exp(np.mean(np.log(flops[members]))))  # geometric mean of the group
        n_opt = float(np.exp(log_n_opt))
        rows.append({
            "flops": compute,
            "params": n_opt,
            "tokens": compute / (6.0 * n_opt),
            "loss": float(np.polyval([curvature, slope, intercept], log_n_opt)),
            "n_points": int(members.sum()),
            "curvature": float(curvature),
        })
    points = pd.DataFrame(rows, columns=["flops", "params", "tokens", "loss", "n_points",
                                         "curvature"])
    return _allocation(2, points, skipped, source)


def _allocation(
    approach: int, points: pd.DataFrame, skipped: list[str], source: str
) -> AllocationFit:
    """Least-squares power laws of N_opt and D_opt against compute through the points."""
    if len(points) < 2 or np.ptp(np.log(points["flops"])) == 0:
        why = "; ".join(skipped[:3]) if skipped else "need at least two distinct compute values"
        raise ScalinglabError(
            f"{source}: Approach {approach} found {len(points)} usable compute-optimal point(s); "
            f"need at least 2 ({why})"
        )
    log_c = np.log(points["flops"].to_numpy())
    n_exponent, n_log_coef = np.polyfit(log_c, np.log(points["params"].to_numpy()), 1)
    d_exponent, d_log_coef = np.polyfit(log_c, np.log(points["tokens"].to_numpy()), 1)
    return AllocationFit(
        approach=approach,
        n_exponent=float(n_exponent),
        n_coefficient=float(np.exp(n_log_coef)),
        d_exponent=float(d_exponent),
        d_coefficient=float(np.exp(d_log_coef)),
        points=points.reset_index(drop=True),
        skipped=skipped,
    )

