"""Residual diagnostics: does a fitted law's form describe the data, or do residuals trend?

A summary such as the Huber objective says how far the points lie from the law, not whether
they lie around it at random. A trend of the log residuals r = log(loss) - log(predicted)
against log compute, log N or log(D/N) means the form misses something systematic (science.md,
section 2), and extrapolating it along that variable carries the trend on.

For each variable x, `residual_trends` regresses r on (1, x) by least squares and tests the
slope. Rows of one run (a trunk and its cooldown branches) share the run's model and data
order, so their residuals are correlated; treating them as independent would overstate the
evidence. The standard error is therefore cluster-robust by `run`, with the bias-reduced
CR2 correction (Bell and McCaffrey 2002; Imbens and Kolesar 2016) and a t reference with
G - 1 degrees of freedom (G runs). Chosen over a permutation of whole runs because it needs
no random seed, works alike for variables that are constant within a run (N) and those that
vary within it (C, D/N), and, unlike a run permutation, does not need runs of equal length.
With few runs it is still somewhat liberal, which is one reason a trend is flagged only when
it is also material.

A trend is flagged when p < `ALPHA` (0.01) and the residual changes by more than
`MIN_CHANGE_PERCENT` (1%) across the data's range of x: smaller systematic errors are within
what seeds and schedules move a loss by, and are not worth a verdict against the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from scalinglab.errors import ScalinglabError
from scalinglab.jsonable import to_jsonable

ALPHA = 0.01
MIN_CHANGE_PERCENT = 1.0
PARAMS_COLUMNS = ("params", "params_nonembedding")


@dataclass(frozen=True)
class Trend:
    """The linear trend of log residuals against one variable (`log C`, `log N`, `log D/N`).

    `slope` is the change of the log residual per unit of the natural log of the variable,
    `stderr` its cluster-robust standard error, `change_percent` the residual's change across
    the data's range of the variable (100 (exp(slope * range) - 1)).
    """

    variable: str
    slope: float
    stderr: float
    p_value: float
    change_percent: float
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(dict(self.__dict__))


@dataclass(frozen=True)
class ResidualCheck:
    """Whether a fitted law's residuals trend with compute, N or D/N (see the module doc)."""

    law: str
    source: str
    n_rows: int
    n_runs: int
    trends: tuple[Trend, ...]
    alpha: float = ALPHA
    min_change_percent: float = MIN_CHANGE_PERCENT

    @property
    def describes(self) -> bool:
        """True when no trend is flagged: the form describes these data."""
        return not any(t.flagged for t in self.trends)

    @property
    def sentence(self) -> str:
        """The verdict in words."""
        flagged = [t for t in self.trends if t.flagged]
        if flagged:
            trends = "; ".join(
                f"{t.variable} ({t.change_percent:+.1f}% across the range, p = {t.p_value:.2g})"
                for t in flagged)
            return f"the form does not describe these data: residuals trend with {trends}"
        if not self.trends:
            return "the form describes these data (no variable has a range to test a trend on)"
        largest = max(self.trends, key=lambda t: abs(t.change_percent))
        return (f"the form describes these data: no material trend of the residuals "
                f"(largest {largest.change_percent:+.1f}% with {largest.variable}, "
                f"p = {largest.p_value:.2g}; {self.n_rows} rows of {self.n_runs} runs)")

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "law": self.law,
            "source": self.source,
            "n_rows": self.n_rows,
            "n_runs": self.n_runs,
            "describes": self.describes,
            "sentence": self.sentence,
            "alpha": self.alpha,
            "min_change_percent": self.min_change_percent,
            "trends": [t.to_dict() for t in self.trends],
        })


def residual_trends(
    law: Any,
    table: pd.DataFrame,
    source: str = "table",
    alpha: float = ALPHA,
    min_change_percent: float = MIN_CHANGE_PERCENT,
) -> ResidualCheck:
    """Test the log residuals of a fitted `law` on `table` for trends (see the module doc).

    `law` is any fitted object with `predict(table)` and `inputs`. The variables tested are
    log compute (`flops`, where the table has it), log N (the law's params column, if it has
    one) and log(D/N) (laws of both N and `tokens`).
    """
    if len(table) == 0:
        raise ScalinglabError(f"{source}: no rows to check residuals on")
    predicted = np.asarray(law.predict(table), dtype=float)
    loss = table["loss"].to_numpy(float)
    if not (np.all(np.isfinite(predicted)) and np.all(predicted > 0)):
        raise ScalinglabError(f"{source}: the law predicts a non-positive or non-finite loss")
    residual = np.log(loss) - np.log(predicted)
    runs = table["run"].astype(str).to_numpy() if "run" in table.columns else np.arange(len(table))

    inputs = tuple(law.inputs)
    n_column = next((c for c in inputs if c in PARAMS_COLUMNS), None)
    variables: dict[str, np.ndarray] = {}
    if "flops" in table.columns:
        variables["log C"] = np.log(table["flops"].to_numpy(float))
    if n_column is not None:
        variables["log N"] = np.log(table[n_column].to_numpy(float))
        if "tokens" in inputs:
            variables["log D/N"] = np.log(table["tokens"].to_numpy(float)) - variables["log N"]

    trends = tuple(
        trend for name, x in variables.items()
        if (trend := _trend(name, x, residual, runs, alpha, min_change_percent)) is not None
    )
    return ResidualCheck(law=getattr(law, "name", type(law).__name__), source=source,
                         n_rows=len(table), n_runs=len(set(runs)), trends=trends,
                         alpha=alpha, min_change_percent=min_change_percent)


def _trend(name: str, x: np.ndarray, residual: np.ndarray, runs: np.ndarray,
           alpha: float, min_change_percent: float) -> Trend | None:
    """Least-squares slope of `residual` on `x`, CR2 cluster-robust by run; None if untestable."""
    clusters = [np.flatnonzero(runs == run) for run in dict.fromkeys(runs)]
    spread = float(x.max() - x.min())
    if len(clusters) < 3 or spread <= 1e-12 * max(1.0, float(np.abs(x).max())):
        return None
    design = np.column_stack([np.ones_like(x), x - x.mean()])
    bread = np.linalg.inv(design.T @ design)
    coef = bread @ design.T @ residual
    error = residual - design @ coef
    meat = np.zeros((2, 2))
    for rows in clusters:
        x_g = design[rows]
        leverage = x_g @ bread @ x_g.T
        values, vectors = np.linalg.eigh(np.eye(len(rows)) - leverage)
        inv_sqrt = np.where(values > 1e-10, 1.0 / np.sqrt(np.clip(values, 1e-10, None)), 0.0)
        adjusted = vectors @ (inv_sqrt * (vectors.T @ error[rows]))
        score = x_g.T @ adjusted
        meat += np.outer(score, score)
    stderr = float(np.sqrt((bread @ meat @ bread)[1, 1]))
    slope = float(coef[1])
    t = abs(slope) / stderr if stderr > 0 else np.inf
    p_value = float(2.0 * stats.t.sf(t, df=len(clusters) - 1))
    change = 100.0 * float(np.expm1(slope * spread))
    flagged = p_value < alpha and abs(change) > min_change_percent
    return Trend(name, slope, stderr, p_value, change, flagged)
