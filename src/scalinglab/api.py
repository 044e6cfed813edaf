"""The notebook surface: the whole loop in six functions, the same answers as the CLI.

    from scalinglab import read_runs, fit, bootstrap, predict, plan, plot_fit

    table = read_runs("runs.csv")               # measurements table, finished rows marked
    law = fit(table, "chinchilla")              # the fit regime's rows, in the table's convention
    boot = bootstrap(law, table, n_resamples=200)
    predict(law, 7e9, 2e12, boot)               # DataFrame: loss, mean and new-run intervals
    plan(law, 1e23, boot)                       # compute-optimal N, D, loss, with intervals
    plot_fit(law, table, boot)                  # matplotlib Axes

Each is a thin layer over the library (`measurements`, `laws`, `decide`, `predictions`), and
`fit_rows` is the one preparation the CLI's `fit` uses too: the accounting convention, then the
fit regime (finished rows, past warmup and the early plateau; `regime`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scalinglab import decide, laws
from scalinglab.conventions import accounting_for, default_convention, get_convention
from scalinglab.errors import ScalinglabError
from scalinglab.extrapolation import check_reach, extrapolation
from scalinglab.laws.base import Law
from scalinglab.laws.downstream import AccuracyLaw
from scalinglab.laws.uncertainty import Bootstrap
from scalinglab.measurements import CURVE_INPUTS, read_measurements
from scalinglab.predictions import predict as _predict

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["FitRows", "bootstrap", "fit", "fit_rows", "plan", "plot_fit", "predict",
           "read_runs"]


def read_runs(path: str | Path, column_map: dict[str, str] | None = None,
              final: str = "last", x: str | None = None, verbose: bool = True) -> pd.DataFrame:
    """A measurements CSV or Parquet file as the measurements table (`measurements`), with
    finished rows marked by the `final` rule; what was derived is printed to stderr."""
    table, notes = read_measurements(path, column_map, x=x, final=final)
    if verbose:
        for message in notes:
            print(f"note: {message}", file=sys.stderr)
    return table


@dataclass(frozen=True)
class FitRows:
    """The rows a law is fitted on, the convention they are counted in, and what was done."""

    rows: pd.DataFrame
    convention: str | None  # None: a learning curve's law, which counts neither N nor C
    notes: list[str] = field(default_factory=list)


def fit_rows(table: pd.DataFrame, x: str | None = None, convention: str | None = None,
             all_rows: bool = False, source: str = "table") -> FitRows:
    """The rows a law of `x` (None: a law of N and D) is fitted on: `table` viewed in the
    accounting convention (default: `conventions.default_convention`), then its fit regime
    (`regime.fit_regime`; a learning curve's law keeps every evaluation past warmup and the
    plateau) unless `all_rows`."""
    from scalinglab.regime import fit_regime

    notes: list[str] = []
    name = None
    if x is None:
        name = convention or default_convention(table)
        table = get_convention(name).view(table, source)
    if all_rows or not {"run", "tokens"} <= set(table.columns):
        return FitRows(table.reset_index(drop=True), name, notes)
    regime = fit_regime(table, finished_only=x not in CURVE_INPUTS)
    if regime.rows.empty:
        raise ScalinglabError(f"{source}: no rows in the fit regime: {regime.rule}")
    if not regime.excluded.empty:
        counts = ", ".join(f"{n} {reason}" for reason, n in
                           regime.excluded["reason"].value_counts().items())
        notes.append(f"fitting {len(regime.rows)} of {len(table)} rows, the fit regime "
                     f"({counts} left out; --all-rows, or all_rows=True, fits every row)")
    return FitRows(regime.rows, name, notes)


def fit(table: pd.DataFrame, law: str | Law = "chinchilla", x: str | None = None,
        convention: str | None = None, all_rows: bool = False, source: str = "table",
        verbose: bool = True) -> Law:
    """A law fitted to the fit regime's rows of `table` (`fit_rows`), its accounting recorded
    so plans count compute in the same convention. `law` is a name (`laws.get_law`, or "auto"
    for `laws.select_law`) or an unfitted law; a fitted copy is returned."""
    law = _law(law, x)
    x = _one_x(law) if law is not None else None
    prepared = fit_rows(table, x, convention, all_rows, source)
    if verbose:
        for message in prepared.notes:
            print(f"note: {message}", file=sys.stderr)
    if law is None:
        selection = laws.select_law(prepared.rows, source=source)
        if verbose:
            print(f"note: {selection.sentence()}", file=sys.stderr)
        fitted = selection.law
    else:
        fitted = law.clone().fit(prepared.rows, source)
    if prepared.convention is not None:
        fitted.accounting = accounting_for(get_convention(prepared.convention), prepared.rows)
    return fitted


def bootstrap(law: Law, table: pd.DataFrame, n_resamples: int = 200, seed: int = 0,
              all_rows: bool = False, method: str = "auto", n_jobs: int = 1,
              source: str = "table") -> Bootstrap:
    """The design-keeping bootstrap (`laws.bootstrap`) of a law from `fit`, on the same rows
    (`fit_rows` with the law's own convention)."""
    convention = (law.accounting or {}).get("convention")
    prepared = fit_rows(table, _one_x(law), convention, all_rows, source)
    return laws.bootstrap(law, prepared.rows, n_resamples=n_resamples, seed=seed,
                          n_jobs=n_jobs, source=source, method=method)


def predict(law: Law, params: float | np.ndarray | list[float],
            tokens: float | np.ndarray | list[float], boot: Bootstrap | None = None,
            allow_extrapolation: bool = False, accuracy: AccuracyLaw | None = None,
            forms: dict[str, Law] | None = None) -> pd.DataFrame:
    """Loss at each (params, tokens) with 95% intervals for the law's mean and a new run, and
    how far each point extrapolates (`predictions.predict`, also the task `accuracy` and the
    tied `forms` there); refuses beyond `extrapolation.MAX_EXTRAPOLATION` unless
    `allow_extrapolation`. What `scalinglab predict` answers."""
    table = _predict(law, params, tokens, boot, accuracy=accuracy, forms=forms)
    if law.fitted_range_ is not None:
        for row in table.itertuples():
            check_reach(extrapolation(law.fitted_range_, row.params, row.tokens, row.flops),
                        allow_extrapolation)
    return table


def plan(law: Law, compute: float, boot: Bootstrap | None = None,
         allow_extrapolation: bool = False) -> dict[str, Any]:
    """Compute-optimal N and D for `compute` FLOPs in the law's convention, the predicted loss
    and, with `boot`, intervals on each; refused past the extrapolation limit unless allowed
    (`decide.plan`, what `scalinglab plan` answers)."""
    samples = boot.samples[boot.ok].to_dict("records") if boot is not None else None
    return decide.plan(law, compute, samples, allow_extrapolation)


def plot_fit(law: Law, table: pd.DataFrame | None = None, boot: Bootstrap | None = None,
             ax: Axes | None = None) -> Axes:
    """Measured loss and the fitted law, with the bootstrap's 95% band of the law's mean.

    A law of N and D: loss against tokens, one colour per model size (its fitted curve through
    the sizes' rows). A one-variable law: loss against its x. Returns the Axes (a new figure's
    when `ax` is None), so a notebook can keep drawing on it.
    """
    import matplotlib.pyplot as plt

    if law.params_ is None:
        raise ScalinglabError(f"the {law.name} law is not fitted: call fit() first")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    rows = None
    if table is not None:
        convention = (law.accounting or {}).get("convention")
        rows = fit_rows(table, _one_x(law), convention).rows
    if len(law.inputs) == 1:
        _plot_one_variable(law, rows, boot, ax)
    else:
        _plot_two_variable(law, rows, boot, ax)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(f"{law.name} law")
    return ax


def _plot_one_variable(law: Law, rows: pd.DataFrame | None, boot: Bootstrap | None,
                       ax: Axes) -> None:
    x = law.inputs[0]
    if rows is not None:
        ax.scatter(rows[x], rows["loss"], s=12, color="black", label="measured")
        grid = np.geomspace(rows[x].min(), rows[x].max() * 10, 100)
    else:
        grid = np.geomspace(1e3, 1e9, 100)
    ax.plot(grid, law.predict({x: grid}), color="C0", label="fit")
    if boot is not None:
        lo, hi = boot.predict_interval({x: grid})
        ax.fill_between(grid, lo, hi, color="C0", alpha=0.2, label="95% (mean)")
    ax.set_xlabel(x)
    ax.legend(frameon=False)


def _plot_two_variable(law: Law, rows: pd.DataFrame | None, boot: Bootstrap | None,
                       ax: Axes) -> None:
    n_key, d_key = law.inputs
    if rows is not None:
        sizes = np.sort(rows[n_key].unique())
        d_span = (rows[d_key].min(), rows[d_key].max())
    elif law.fitted_range_ is not None:
        sizes = np.geomspace(*law.fitted_range_.params, 4)
        d_span = law.fitted_range_.tokens
    else:
        sizes, d_span = np.geomspace(1e7, 1e10, 4), (1e9, 1e12)
    shown = sizes if len(sizes) <= 8 else sizes[np.linspace(0, len(sizes) - 1, 8).astype(int)]
    grid = np.geomspace(d_span[0], d_span[1] * 3, 80)
    colours = _colours(len(shown))
    for n, colour in zip(shown, colours, strict=True):
        point = {n_key: np.full(grid.size, n), d_key: grid}
        ax.plot(grid, law.predict(point), color=colour, label=f"N = {n:.3g}")
        if boot is not None:
            lo, hi = boot.predict_interval(point)
            ax.fill_between(grid, lo, hi, color=colour, alpha=0.15)
        if rows is not None:
            mine = rows[np.isclose(rows[n_key], n)]
            ax.scatter(mine[d_key], mine["loss"], s=12, color=colour)
    ax.set_xlabel(f"{d_key} (D)")
    ax.legend(frameon=False, fontsize="small")


def _colours(n: int) -> list[Any]:
    """`n` colours along viridis, small to large."""
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.9, n)]


def _law(law: str | Law, x: str | None) -> Law | None:
    """The named law (None for "auto"), or a copy of the given one."""
    if isinstance(law, Law):
        return law
    if law == "auto":
        return None
    from scalinglab.laws.forms import OneVariableLaw

    made = laws.get_law(law)
    return laws.get_law(law, x=x) if isinstance(made, OneVariableLaw) else made


def _one_x(law: Law) -> str | None:
    from scalinglab.laws.forms import OneVariableLaw

    return law.x if isinstance(law, OneVariableLaw) else None
