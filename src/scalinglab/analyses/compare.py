"""Compare two groups by their trends: the compute multiplier C_B(L) / C_A(L) at matched loss.

Each group (a model family, a corpus, a learning-rate rule, a sweep) gets its L(C) envelope,
L = E + (C0/C)^a through the lower envelope of loss against compute (`analyses.envelope`).
Inverting both laws gives the compute each needs to reach a loss L; their ratio is how many
times more compute B needs than A for the same loss (Kaplan et al. 2020 Fig. 7 compare LSTMs
and transformers this way). A technique that really helps moves the trend: the multiplier is
constant over scale, or grows; one that only helps small models has a multiplier that shrinks.

The interval pairs bootstrap resample i of A's L(C) fit with resample i of B's (the two are
fitted on disjoint runs, so any pairing is a draw from the joint distribution). Whether the
multiplier changes with scale is read from the ratio M(high end) / M(low end) of the shared
loss range: its 95% interval containing 1 means "constant"; above 1, B falls further behind
as compute grows; below 1, B catches up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analyses.envelope import EnvelopeFit, fit_envelope, inverse_saturating
from scalinglab.analyses.fitted import fmt
from scalinglab.errors import ScalinglabError

# Columns a comparison can group by, besides any other column of the table.
GROUPINGS = ("family", "corpus", "sweep")
# Where in the shared loss range the multiplier is evaluated (fractions from its low end):
# away from the ends, where one of the two fits would be extrapolated.
LOW_END, HIGH_END = 0.1, 0.9
INTERVAL_LEVEL = 0.95


@dataclass
class Comparison:
    """The result of `compare`: both envelopes, the multiplier table and the verdict.

    `multipliers` has one row per matched loss (high loss = small scale first): `loss`
    (nats/token), `flops_a`, `flops_b` (FLOPs each group needs), `multiplier` = flops_b /
    flops_a, and its interval `lo`, `hi` (NaN without a bootstrap). `trend` is M at the
    high-compute end over M at the low-compute end, with `trend_interval`; `slope` is
    d log M / d log C_A between the two ends. `verdict` is one of "constant",
    "grows with scale", "shrinks with scale", "no common loss", or "unknown (no bootstrap)".
    """

    by: str
    a: str
    b: str
    fit_a: EnvelopeFit
    fit_b: EnvelopeFit
    multipliers: pd.DataFrame | None
    trend: float = float("nan")
    trend_interval: tuple[float, float] = (float("nan"), float("nan"))
    slope: float = float("nan")
    slope_interval: tuple[float, float] = (float("nan"), float("nan"))
    verdict: str = "no common loss"
    notes: list[str] = field(default_factory=list)

    @property
    def ends(self) -> pd.DataFrame | None:
        """The multiplier at the small-scale and large-scale ends of the shared loss range."""
        if self.multipliers is None:
            return None
        return self.multipliers.iloc[[0, -1]].reset_index(drop=True)

    def summary(self) -> str:
        """One sentence: `lstm needs 7.9× [5.1, 12] the compute of transformer at L = 2.9 ...`."""
        if self.multipliers is None:
            return f"{self.b} and {self.a} reach no common loss: no multiplier"
        ends = self.ends
        assert ends is not None
        parts = [f"{multiplier_text(row)}" for row in ends.itertuples()]
        text = f"{self.b} needs {' and '.join(parts)} the compute of {self.a}"
        if np.isfinite(self.trend_interval[0]):
            lo, hi = self.trend_interval
            text += (f"; the multiplier {self.verdict} (large/small-scale ratio "
                     f"{fmt(self.trend)} [{fmt(lo)}, {fmt(hi)}])")
        else:
            text += f"; whether it changes with scale is {self.verdict}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "a": self.a,
            "b": self.b,
            "verdict": self.verdict,
            "summary": self.summary(),
            "trend": self.trend,
            "trend_interval": list(self.trend_interval),
            "slope": self.slope,
            "slope_interval": list(self.slope_interval),
            "multipliers": ([] if self.multipliers is None
                            else self.multipliers.to_dict("records")),
            "envelopes": {self.a: self.fit_a.to_dict(), self.b: self.fit_b.to_dict()},
            "notes": list(self.notes),
        }


def multiplier_text(row: Any) -> str:
    """`7.9× [5.1, 12] at L = 2.91` for one row of a multiplier table."""
    text = f"{fmt(row.multiplier)}×"
    if np.isfinite(row.lo) and np.isfinite(row.hi):
        text += f" [{fmt(row.lo)}, {fmt(row.hi)}]"
    return text + f" at L = {row.loss:.3g}"


def shared_loss_range(base: EnvelopeFit, other: EnvelopeFit) -> tuple[float, float] | None:
    """The losses both envelopes measured and both laws can reach (above both E), or None."""
    lo_loss = max(base.envelope["loss"].min(), other.envelope["loss"].min(),
                  base.params["E"], other.params["E"])
    hi_loss = min(base.envelope["loss"].max(), other.envelope["loss"].max())
    return (float(lo_loss), float(hi_loss)) if hi_loss > lo_loss else None


def multiplier_samples(base: EnvelopeFit, other: EnvelopeFit, losses: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """C_other(L) / C_base(L) at `losses` for the fits, and per paired bootstrap resample.

    Returns the point values (n,) and the resampled values (k, n), or None without bootstraps.
    """
    point = (inverse_saturating(other.params, losses)
             / inverse_saturating(base.params, losses))
    boot_a, boot_b = base.loss_law.boot, other.loss_law.boot
    if boot_a is None or boot_b is None:
        return point, None
    pairs = zip(boot_a.samples.to_dict("records"), boot_b.samples.to_dict("records"),
                strict=False)
    samples = np.array([inverse_saturating(b, losses) / inverse_saturating(a, losses)
                        for a, b in pairs])
    return point, samples


def compute_multiplier(
    base: EnvelopeFit, other: EnvelopeFit, n_points: int = 3,
    ends: tuple[float, float] = (0.15, 0.85),
) -> pd.DataFrame | None:
    """C_other(L) / C_base(L) at `n_points` losses spread over the shared loss range.

    `ends` are the fractions of the shared range (from its low-loss end) of the first and last
    loss. Returns columns loss, flops_a, flops_b, multiplier, lo, hi (95% interval), highest
    loss (smallest scale) first, or None when the envelopes share no loss range.
    """
    shared = shared_loss_range(base, other)
    if shared is None:
        return None
    lo_loss, hi_loss = shared
    losses = hi_loss - (hi_loss - lo_loss) * np.linspace(1 - ends[1], 1 - ends[0], n_points)
    point, samples = multiplier_samples(base, other, losses)
    lo = hi = np.full(n_points, np.nan)
    if samples is not None:
        lo, hi = _percentiles(samples)
    return pd.DataFrame({"loss": losses,
                         "flops_a": inverse_saturating(base.params, losses),
                         "flops_b": inverse_saturating(other.params, losses),
                         "multiplier": point, "lo": lo, "hi": hi})


def _percentiles(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tail = 50.0 * (1.0 - INTERVAL_LEVEL)
    with np.errstate(all="ignore"):
        return (np.nanpercentile(samples, tail, axis=0),
                np.nanpercentile(samples, 100.0 - tail, axis=0))


def compare_envelopes(base: EnvelopeFit, other: EnvelopeFit, by: str = "family",
                      n_points: int = 5) -> Comparison:
    """The multiplier of `other` over `base` across their shared loss range, and its trend."""
    table = compute_multiplier(base, other, n_points, ends=(LOW_END, HIGH_END))
    result = Comparison(by, base.name, other.name, base, other, table)
    if table is None:
        return result
    # Small scale = the highest matched loss (first row); large scale = the lowest (last row).
    losses = table["loss"].to_numpy()[[0, -1]]
    point, samples = multiplier_samples(base, other, losses)
    flops_a = inverse_saturating(base.params, losses)
    log_flops_span = float(np.log(flops_a[1] / flops_a[0]))
    result.trend = float(point[1] / point[0])
    if log_flops_span > 0:
        result.slope = float(np.log(result.trend) / log_flops_span)
    if samples is None:
        result.verdict = "unknown (no bootstrap)"
        return result
    ratios = samples[:, 1] / samples[:, 0]
    finite = np.isfinite(ratios)
    if finite.sum() < 2:
        result.verdict = "unknown (no bootstrap)"
        return result
    lo, hi = _percentiles(ratios[finite, None])
    result.trend_interval = (float(lo[0]), float(hi[0]))
    if log_flops_span > 0:
        result.slope_interval = (float(np.log(lo[0]) / log_flops_span),
                                 float(np.log(hi[0]) / log_flops_span))
    if lo[0] > 1.0:
        result.verdict = "grows with scale"
    elif hi[0] < 1.0:
        result.verdict = "shrinks with scale"
    else:
        result.verdict = "constant"
    dropped = int((~finite).sum())
    if dropped:
        result.notes.append(f"{dropped} of {len(ratios)} resamples could not reach both losses "
                            "(a resampled E above them) and were left out of the interval")
    return result


def group_rows(table: pd.DataFrame, by: str, value: str) -> pd.DataFrame:
    """The rows of `table` whose column `by` equals `value` (compared as text)."""
    if by not in table.columns:
        raise ScalinglabError(f"cannot group by {by!r}: the table has no column {by!r} "
                              f"(have: {', '.join(map(str, table.columns))})")
    values = table[by].astype(str)
    if value not in set(values):
        allowed = ", ".join(sorted(set(values)))
        raise ScalinglabError(f"{by} {value!r} is not in the table; allowed: {allowed}")
    return table[values == value]


def _one_setting(table: pd.DataFrame, by: str, notes: list[str]) -> pd.DataFrame:
    """Hold fixed what is not compared: one corpus for a family comparison and vice versa."""
    for column in ("corpus", "family"):
        if column == by or column not in table.columns or table[column].nunique() < 2:
            continue
        keep = "transformer" if column == "family" and (table[column] == "transformer").any() \
            else table[column].mode().iloc[0]
        notes.append(f"compared on {column} {keep!r} only (the table holds "
                     f"{table[column].nunique()} values of {column})")
        table = table[table[column] == keep]
    return table


def compare(
    table: pd.DataFrame,
    a: str,
    b: str,
    by: str = "family",
    n_resamples: int = 200,
    seed: int = 0,
    n_points: int = 5,
) -> Comparison:
    """Fit L(C) envelopes of groups `a` and `b` (values of column `by`) and compare them.

    `table` is a measurements table (learning curves or final losses, with `flops`); when it
    holds several corpora (or families) and `by` is another column, the comparison is made on
    the commonest one and a note says so. `n_resamples` = 0 skips the bootstrap (no intervals,
    no verdict on the trend).
    """
    if a == b:
        raise ScalinglabError(f"compare needs two different {by} values, got {a!r} twice")
    if n_resamples < 0:
        raise ScalinglabError(f"--bootstrap must be 0 or more resamples, got {n_resamples}")
    rows_a, rows_b = group_rows(table, by, a), group_rows(table, by, b)
    notes: list[str] = []
    both = _one_setting(pd.concat([rows_a, rows_b]), by, notes)
    rows_a = both[both[by].astype(str) == a]
    rows_b = both[both[by].astype(str) == b]
    for value, rows in ((a, rows_a), (b, rows_b)):
        if rows.empty:
            raise ScalinglabError(f"{by} {value!r} has no rows on the setting compared "
                                  f"({'; '.join(notes)})")
    fit_a = fit_envelope(a, rows_a.reset_index(drop=True), n_resamples, seed,
                         require_allocation=False)
    fit_b = fit_envelope(b, rows_b.reset_index(drop=True), n_resamples, seed + 1,
                         require_allocation=False)
    result = compare_envelopes(fit_a, fit_b, by, n_points)
    result.notes[:0] = notes
    return result
