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
- Approach 2, IsoFLOP profiles (`isoflop_fit`): rows are grouped into budgets of equal compute
  (`isoflop_budgets`: the `budget` column an isoflop design records, else flops that agree within
  BUDGET_TOLERANCE; never a rounded grid). In each budget, a parabola in log N is fitted to the
  loss (not log loss) of the sizes near the lowest loss (`_near_minimum`). Loss, because for a
  law E + K(C) g(log N - log N_opt(C)) the least-squares vertex is then the same offset from
  the true optimum at every budget, so an approximate parabola biases no exponent; log loss
  bends the profile differently at each loss level. A budget whose lowest loss is at its
  smallest or largest size, or whose vertex leaves the sizes fitted, is skipped with the reason.
  D_opt = C / (FLOPs per token at N_opt), the FLOPs per token (flops / tokens) interpolated
  linearly in log-log between the budget's sizes: with 6N this is C / (6 N_opt), but where the
  output layer and attention cost more, the D exponent is no longer forced to 1 - a. Fewer than
  MIN_ISOFLOP_BUDGETS usable budgets give no exponent at all. `isoflop_intervals` gives
  intervals by a residual bootstrap that keeps every budget and size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import positive_column

# Approach 2. Rows whose compute agrees within 2% are one budget: exact-FLOPs planning rounds an
# isoflop run's tokens to 3 significant digits (<= 0.5%) and training to whole batches, while
# designed budgets lie >= 1.5x apart; 2% of compute moves the loss far less than seed noise.
BUDGET_TOLERANCE = 0.02
# The parabola is fitted to the sizes within 0.75 decade (a factor 5.6) of the lowest-loss size,
# and to at least the 5 sizes nearest it: on the Chinchilla law a parabola in log N over +-0.75
# decade moves the vertex by under 2% of N, while 5 sizes leave 2 residual degrees of freedom
# per budget for the bootstrap.
WINDOW_DECADES = 0.75
MIN_WINDOW_SIZES = 5
MIN_SIZES_PER_BUDGET = 3
MIN_ISOFLOP_BUDGETS = 3  # two points always lie on a power law: no exponent from fewer than 3
BUDGET_COLUMNS = ["flops", "n_sizes", "n_rows", "interior", "reason"]


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


@dataclass
class IsoflopFit(AllocationFit):
    """Approach 2's allocation, with every budget it looked at and the accounting it used.

    `points`: one row per usable budget: flops (C), params (N_opt), tokens (D_opt), loss (at the
    vertex), flops_per_token (at N_opt), n_points and n_sizes (rows and sizes fitted),
    curvature, interior (True: a budget without an interior minimum is skipped).
    `budgets`: one row per budget found: flops, n_sizes, n_rows, interior, reason ('' if used).
    """

    budgets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BUDGET_COLUMNS))
    n_column: str = "params"
    flops_column: str = "flops"

    @property
    def n_budgets(self) -> int:
        """The budgets whose minimum entered the power laws."""
        return len(self.points)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "n_column": self.n_column,
                "flops_column": self.flops_column, "n_budgets": self.n_budgets,
                "budgets": self.budgets.to_dict("records")}


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


def isoflop_budgets(
    table: pd.DataFrame,
    *,
    flops_column: str = "flops",
    tolerance: float = BUDGET_TOLERANCE,
    source: str = "table",
) -> tuple[np.ndarray, list[str]]:
    """Each row's compute budget (0, 1, ... in order of compute; -1: none) and why rows have none.

    A `budget` column (what an isoflop design planned for each run) groups rows by its exact
    value. Without one, rows whose `flops_column` agree within `tolerance` (relative, chained from
    neighbour to neighbour) are one budget, never rounded to a grid: a 0.1-decade grid cell holds
    runs 23% apart and splits two runs 0.1% apart at a cell edge. Either way a group whose flops
    span more than `tolerance` is not one budget in this accounting convention (say, Kaplan's 6ND
    on a design of equal exact FLOPs) and its rows get -1, with the reason.
    """
    if not tolerance >= 0:
        raise ScalinglabError(f"{source}: budget tolerance must be 0 or more, got {tolerance}")
    log_flops = np.log(positive_column(table, flops_column, source))
    reasons = []
    if "budget" in table.columns:
        planned = pd.to_numeric(table["budget"], errors="coerce").to_numpy(float)
        known = np.isfinite(planned) & (planned > 0)
        ids = np.full(len(log_flops), -1)
        ids[known] = np.unique(planned[known], return_inverse=True)[1]
        if not known.all():
            reasons.append(f"{int((~known).sum())} rows with no budget recorded")
    else:
        order = np.argsort(log_flops, kind="stable")
        breaks = np.diff(log_flops[order]) > np.log1p(tolerance)
        ids = np.empty(len(log_flops), int)
        ids[order] = np.concatenate([[0], np.cumsum(breaks)])
    for key in np.unique(ids[ids >= 0]):
        members = ids == key
        low, high = np.exp(log_flops[members].min()), np.exp(log_flops[members].max())
        if high / low - 1 > tolerance:
            ids[members] = -1
            reasons.append(f"{int(members.sum())} rows with {flops_column} {low:.3g} to {high:.3g} "
                           f"({high / low - 1:.0%} apart, over the {tolerance:.0%} tolerance): "
                           "not one budget")
    return ids, reasons


@dataclass(frozen=True)
class _Profile:
    """One budget's rows near its lowest loss, which its parabola is fitted to."""

    label: str
    log_flops: float  # log C, the geometric mean of the budget's flops
    log_n: np.ndarray  # log N of each row fitted
    loss: np.ndarray  # loss of each row fitted
    size_log_n: np.ndarray  # every size of the budget, ascending
    size_log_fpt: np.ndarray  # log(flops / tokens) at each size

    @property
    def design(self) -> np.ndarray:
        """Columns x^2, x, 1 with x = log N - its mean (centred for a well-conditioned fit)."""
        x = self.log_n - self.log_n.mean()
        return np.column_stack([x**2, x, np.ones_like(x)])

    def coefficients(self, losses: np.ndarray) -> np.ndarray:
        """Least-squares parabolas (curvature, slope, intercept) through losses (rows, k)."""
        return np.linalg.lstsq(self.design, losses, rcond=None)[0]

    def minimum(self, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Curvature, log N_opt and loss at the vertex of each parabola (NaN if it opens down)."""
        curvature, slope, intercept = coef
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature > 0, -slope / (2.0 * curvature), np.nan)
        return curvature, self.log_n.mean() + shift, intercept + slope * shift / 2.0

    def inside(self, log_n_opt: np.ndarray) -> np.ndarray:
        """Whether each vertex is a minimum within the sizes fitted."""
        with np.errstate(invalid="ignore"):
            return (log_n_opt >= self.log_n.min()) & (log_n_opt <= self.log_n.max())

    def log_tokens(self, log_n_opt: np.ndarray) -> np.ndarray:
        """log D_opt = log C - log(FLOPs per token at N_opt), linear in log-log between sizes."""
        return self.log_flops - np.interp(log_n_opt, self.size_log_n, self.size_log_fpt)

    def residuals(self) -> np.ndarray:
        """Residuals of the parabola, inflated by sqrt(n / (n - 3)) for its three parameters."""
        n = self.loss.size
        if n <= 3:
            return np.empty(0)
        fitted = self.design @ self.coefficients(self.loss)
        return (self.loss - fitted) * np.sqrt(n / (n - 3))


def _near_minimum(log_n: np.ndarray, loss: np.ndarray) -> np.ndarray | str:
    """Rows of the sizes near the lowest loss, or why the budget has no interior minimum.

    Near: within WINDOW_DECADES of the lowest-loss size, and at least the MIN_WINDOW_SIZES sizes
    nearest it. A parabola describes a profile only near its minimum; far sizes (Hoffmann et
    al.'s profiles span ~1.5 decades) would pull the vertex towards the flatter side.
    """
    sizes, which = np.unique(np.round(log_n, 9), return_inverse=True)
    if sizes.size < MIN_SIZES_PER_BUDGET:
        return f"fewer than {MIN_SIZES_PER_BUDGET} model sizes ({sizes.size})"
    mean_loss = np.bincount(which, loss) / np.bincount(which)
    best = int(np.argmin(mean_loss))
    if best in (0, sizes.size - 1):
        edge = "smallest" if best == 0 else "largest"
        return (f"minimum outside the sizes measured (lowest loss at the {edge} size, "
                f"N = {np.exp(sizes[best]):.3g})")
    distance = np.abs(sizes - sizes[best])
    reach = max(WINDOW_DECADES * np.log(10.0),
                np.sort(distance)[min(MIN_WINDOW_SIZES, sizes.size) - 1])
    return (distance <= reach * (1 + 1e-9))[which]


def _profile(
    label: str, log_flops: float, log_n: np.ndarray, loss: np.ndarray, log_fpt: np.ndarray
) -> _Profile | str:
    """One budget's profile near its minimum, or why it gives no N_opt."""
    window = _near_minimum(log_n, loss)
    if isinstance(window, str):
        return window
    sizes, which = np.unique(np.round(log_n, 9), return_inverse=True)
    profile = _Profile(label, log_flops, log_n[window], loss[window], sizes,
                       np.bincount(which, log_fpt) / np.bincount(which))
    curvature, log_n_opt, _ = profile.minimum(profile.coefficients(profile.loss))
    if not curvature > 0:
        return "no minimum: the parabola near the lowest loss opens downward"
    if not profile.inside(log_n_opt):
        return "minimum outside the sizes measured (the vertex lies beyond the sizes fitted)"
    return profile


def _isoflop_profiles(
    table: pd.DataFrame, n_column: str, flops_column: str, tolerance: float, source: str
) -> tuple[list[_Profile], pd.DataFrame, list[str]]:
    """The usable profiles, one row per budget found (used or not), and the reasons skipped."""
    params = positive_column(table, n_column, source)
    flops = positive_column(table, flops_column, source)
    tokens = positive_column(table, "tokens", source)
    loss = positive_column(table, "loss", source)
    ids, skipped = isoflop_budgets(table, flops_column=flops_column, tolerance=tolerance,
                                   source=source)
    profiles, budgets = [], []
    for key in np.unique(ids[ids >= 0]):
        members = ids == key
        log_flops = float(np.log(flops[members]).mean())
        label = f"budget {np.exp(log_flops):.3g} FLOPs"
        found = _profile(label, log_flops, np.log(params[members]), loss[members],
                         np.log(flops[members] / tokens[members]))
        reason = found if isinstance(found, str) else ""
        if reason:
            skipped.append(f"{label}: {reason}")
        else:
            profiles.append(found)
        budgets.append({"flops": float(np.exp(log_flops)),
                        "n_sizes": int(np.unique(params[members]).size),
                        "n_rows": int(members.sum()), "interior": not reason, "reason": reason})
    return profiles, pd.DataFrame(budgets, columns=BUDGET_COLUMNS), skipped


def _require_budgets(
    profiles: list[_Profile], budgets: pd.DataFrame, skipped: list[str], source: str
) -> None:
    """Approach 2 gives no exponent from fewer than MIN_ISOFLOP_BUDGETS interior minima."""
    if len(profiles) >= MIN_ISOFLOP_BUDGETS:
        return
    why = f" ({'; '.join(skipped[:3])})" if skipped else ""
    raise ScalinglabError(
        f"{source}: too few IsoFLOP budgets for Approach 2: {len(profiles)} usable of "
        f"{len(budgets)} found (a usable budget has its minimum inside >= "
        f"{MIN_SIZES_PER_BUDGET} model sizes); need {MIN_ISOFLOP_BUDGETS}{why}"
    )


def _power_law(
    log_c: np.ndarray, log_y: np.ndarray, used: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exponent and log coefficient of y = k C^e by least squares over the budgets `used`.

    log_y is (budgets,) or (budgets, resamples); `used` (its shape, default all) leaves out
    budgets whose minimum a resample moved beyond their sizes.
    """
    weight = np.ones(log_y.shape) if used is None else used.astype(float)
    log_y = np.where(weight > 0, log_y, 0.0)
    log_c = log_c.reshape(-1, *[1] * (log_y.ndim - 1))
    total = weight.sum(axis=0)
    c_mean = (weight * log_c).sum(axis=0) / total
    y_mean = (weight * log_y).sum(axis=0) / total
    exponent = ((weight * (log_c - c_mean) * (log_y - y_mean)).sum(axis=0)
                / (weight * (log_c - c_mean) ** 2).sum(axis=0))
    return exponent, y_mean - exponent * c_mean


def isoflop_fit(
    table: pd.DataFrame,
    *,
    n_column: str = "params",
    flops_column: str = "flops",
    tolerance: float = BUDGET_TOLERANCE,
    source: str = "table",
) -> IsoflopFit:
    """Approach 2: a parabola in log N near each budget's minimum, then power laws of the minima.

    `n_column` (params or params_nonembedding) and `flops_column` (flops or flops_kaplan) choose
    one accounting convention for the whole fit. Raises `ScalinglabError` with fewer than
    MIN_ISOFLOP_BUDGETS budgets whose minimum lies inside their sizes.
    """
    profiles, budgets, skipped = _isoflop_profiles(table, n_column, flops_column, tolerance,
                                                   source)
    _require_budgets(profiles, budgets, skipped, source)
    rows = []
    for profile in profiles:
        coef = profile.coefficients(profile.loss)
        curvature, log_n_opt, loss_opt = profile.minimum(coef)
        log_tokens = profile.log_tokens(log_n_opt)
        rows.append({
            "flops": float(np.exp(profile.log_flops)),
            "params": float(np.exp(log_n_opt)),
            "tokens": float(np.exp(log_tokens)),
            "loss": float(loss_opt),
            "flops_per_token": float(np.exp(profile.log_flops - log_tokens)),
            "n_points": int(profile.loss.size),
            "n_sizes": int(np.unique(profile.log_n).size),
            "curvature": float(curvature),
            "interior": True,
        })
    points = pd.DataFrame(rows)
    log_c = np.log(points["flops"].to_numpy())
    n_exponent, n_log_coef = _power_law(log_c, np.log(points["params"].to_numpy()))
    d_exponent, d_log_coef = _power_law(log_c, np.log(points["tokens"].to_numpy()))
    return IsoflopFit(
        approach=2,
        n_exponent=float(n_exponent),
        n_coefficient=float(np.exp(n_log_coef)),
        d_exponent=float(d_exponent),
        d_coefficient=float(np.exp(d_log_coef)),
        points=points,
        skipped=skipped,
        budgets=budgets,
        n_column=n_column,
        flops_column=flops_column,
    )


@dataclass(frozen=True)
class AllocationIntervals:
    """Intervals of Approach 2's exponents, and how many resamples lost budgets or failed."""

    intervals: dict[str, tuple[float, float]]  # n_opt_exponent, d_opt_exponent: (low, high)
    level: float
    n_resamples: int
    n_failed: int  # resamples with no exponent: fewer than 3 budgets kept an interior minimum
    n_lost_budgets: int  # resamples in which some budget's minimum left its sizes
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {"intervals": {k: list(v) for k, v in self.intervals.items()},
                "level": self.level, "n_resamples": self.n_resamples,
                "n_failed": self.n_failed, "n_lost_budgets": self.n_lost_budgets,
                "method": self.method}


def isoflop_intervals(
    table: pd.DataFrame,
    n_resamples: int,
    seed: int,
    level: float = 0.95,
    *,
    n_column: str = "params",
    flops_column: str = "flops",
    tolerance: float = BUDGET_TOLERANCE,
    source: str = "table",
) -> AllocationIntervals:
    """Percentile intervals of the N_opt and D_opt exponents by a residual bootstrap.

    The design is kept: every usable budget and every size fitted is in every resample (a
    bootstrap of whole runs loses sizes, and with few sizes it measures the resampling, not the
    noise). Each resample adds to each budget's fitted parabola its residuals drawn with
    replacement within the budget (inflated by sqrt(n / (n - 3)), as the fit used three degrees
    of freedom), refits the parabolas and then the power laws. Within a budget the losses are
    close, so multiplicative noise is nearly homoscedastic there; drawing with replacement mixes
    n^n combinations where Rademacher signs (a wild bootstrap) give 2^n, too few for 5 sizes.
    A budget with no residual degrees of freedom (3 rows) draws from the other budgets' pooled
    residuals.

    A resample treats a budget as `isoflop_fit` does: where its minimum leaves the sizes fitted
    (or the parabola opens downward) the budget is left out of that resample's power laws, and
    the resample is counted in `n_lost_budgets`. With fewer than MIN_ISOFLOP_BUDGETS left the
    resample gives no exponent and is counted in `n_failed`; the interval is of the others.
    """
    if n_resamples < 1:
        raise ScalinglabError(f"{source}: n_resamples must be at least 1, got {n_resamples}")
    if not 0 < level < 1:
        raise ScalinglabError(f"{source}: level must lie between 0 and 1, got {level}")
    profiles, budgets, skipped = _isoflop_profiles(table, n_column, flops_column, tolerance,
                                                   source)
    _require_budgets(profiles, budgets, skipped, source)
    residuals = [profile.residuals() for profile in profiles]
    pooled = np.concatenate(residuals)
    if pooled.size == 0:
        raise ScalinglabError(f"{source}: every IsoFLOP budget has only 3 rows near its "
                              "minimum; the bootstrap needs 4 or more to see the noise")
    rng = np.random.default_rng(seed)
    log_n_opt = np.empty((len(profiles), n_resamples))
    log_d_opt = np.empty_like(log_n_opt)
    inside = np.empty(log_n_opt.shape, bool)
    for i, (profile, own) in enumerate(zip(profiles, residuals, strict=True)):
        draws = own if own.size else pooled
        fitted = profile.design @ profile.coefficients(profile.loss)
        noise = draws[rng.integers(0, draws.size, size=(profile.loss.size, n_resamples))]
        _, log_n_opt[i], _ = profile.minimum(profile.coefficients(fitted[:, None] + noise))
        inside[i] = profile.inside(log_n_opt[i])
        log_d_opt[i] = profile.log_tokens(log_n_opt[i])
    log_c = np.array([profile.log_flops for profile in profiles])
    kept = inside.sum(axis=0) >= MIN_ISOFLOP_BUDGETS
    intervals = {}
    if kept.sum() >= 2:
        tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
        for key, log_opt in (("n_opt_exponent", log_n_opt), ("d_opt_exponent", log_d_opt)):
            exponents = _power_law(log_c, log_opt[:, kept], inside[:, kept])[0]
            low, high = np.percentile(exponents, tails)
            intervals[key] = (float(low), float(high))
    borrowed = sum(1 for own in residuals if own.size == 0)
    method = ("residual bootstrap keeping every budget and size: each budget's parabola "
              "residuals, inflated by sqrt(n/(n-3)), drawn with replacement within the budget"
              + (f" ({borrowed} budgets with 3 rows drew pooled residuals)" if borrowed else "")
              + f"; {level:.0%} percentile interval")
    return AllocationIntervals(intervals, level, n_resamples, int((~kept).sum()),
                               int((~inside).any(axis=0).sum()), method)


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
    with np.errstate(over="ignore"):  # a resample's wild slope: inf, judged by its caller
        n_coefficient, d_coefficient = float(np.exp(n_log_coef)), float(np.exp(d_log_coef))
    return AllocationFit(
        approach=approach,
        n_exponent=float(n_exponent),
        n_coefficient=n_coefficient,
        d_exponent=float(d_exponent),
        d_coefficient=d_coefficient,
        points=points.reset_index(drop=True),
        skipped=skipped,
    )

