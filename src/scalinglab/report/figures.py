"""The report's figures, one function each, in the style of the scaling-law papers.

Every function takes the fitted analyses (`Study`, or the parts it needs) and returns a
`FigureResult`: a matplotlib Figure and a one-line caption stating the fitted law with its 95%
interval, or no figure and the reason it was skipped (published Chinchilla data, for example,
has no learning curves and no loss by position). Axes are log-log, loss is in nats per token,
compute in FLOPs, and curves are coloured by model size with a colourbar, as in Kaplan et al.
(2020) Fig. 1 and Hoffmann et al. (2022) Fig. 3-4.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from scalinglab.analyses.study import (
    Allocation,
    EnvelopeFit,
    FittedLaw,
    Study,
    fmt,
    is_learning_curves,
)
from scalinglab.laws.approaches import isoflop_budgets
from scalinglab.laws.identifiability import interval_reason
from scalinglab.measurements import finished_rows
from scalinglab.progress import report

# Paper style: small serif-free type, thin lines, light grid on log axes.
STYLE = {
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.1,
    "svg.fonttype": "path",
    "svg.hashsalt": "scalinglab",  # deterministic ids, so the same data gives the same SVG
}
SINGLE = (5.0, 3.5)
DOUBLE = (9.0, 3.5)
SIZE_CMAP = "viridis"
LOSS_LABEL = "Loss (nats/token)"
COMPUTE_LABEL = "Compute C (FLOPs)"
FIT_COLOR = "#d62728"
LOSS_TICKS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)  # plain labels on short loss axes
GROUP_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


@dataclass
class FigureResult:
    """A drawn figure and its caption, or `figure=None` and the reason it was skipped."""

    name: str
    title: str
    figure: Figure | None
    caption: str
    wide: bool = False

    @property
    def skipped(self) -> bool:
        return self.figure is None


def skip(name: str, title: str, reason: str) -> FigureResult:
    return FigureResult(name, title, None, reason)


@contextmanager
def paper_style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def _figure(size: tuple[float, float] = SINGLE, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def _log_axes(ax: Axes, xlabel: str, ylabel: str = LOSS_LABEL) -> None:
    """Log-log axes; a loss axis spanning less than a decade gets plain labels (2, 3, 4)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylabel == LOSS_LABEL:
        plain_loss_ticks(ax)


def plain_loss_ticks(ax: Axes) -> None:
    """Label a short log axis with plain numbers instead of 2x10^0, 3x10^0, ..."""
    lo, hi = ax.get_ylim()
    if hi / lo < 12.0:
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=LOSS_TICKS))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def _log_norm(values: pd.Series | np.ndarray) -> LogNorm:
    values = np.asarray(values, float)
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        lo, hi = lo / 1.5, hi * 1.5
    return LogNorm(vmin=lo, vmax=hi)


def _colorbar(figure: Figure, ax: Axes | list[Axes], norm: Normalize, label: str,
              cmap: str = SIZE_CMAP) -> None:
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01, aspect=30)
    bar.set_label(label)
    if "loss" in label.lower() and norm.vmax / norm.vmin < 12.0:
        bar.ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=LOSS_TICKS))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())


def _grid(lo: float, hi: float, n: int = 200, pad: float = 1.0) -> np.ndarray:
    return np.geomspace(lo / pad, hi * pad, n)


def _fit_curve(ax: Axes, fitted: FittedLaw, column: str, x: np.ndarray, label: str,
               color: str = FIT_COLOR, linestyle: str = "--") -> None:
    """The fitted law as a line, with its bootstrap 95% band when there is one."""
    data = pd.DataFrame({column: x})
    ax.plot(x, fitted.law.predict(data), color=color, linestyle=linestyle, lw=1.5, label=label,
            zorder=5)
    if fitted.boot is not None:
        lo, hi = fitted.boot.predict_interval(data)
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0, zorder=4)


def _reason(fits: Study, key: str, default: str) -> str:
    return fits.skipped.get(key, default)


def _curve_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows on a run's training curve (cooldown branches are drawn as separate points)."""
    if "phase" in table.columns:
        return table[table["phase"].astype(str) != "cooldown"]
    return table


# --- 1. Learning curves against compute, with the envelope (Kaplan et al. Fig. 1 left) ------
def learning_curves(fits: Study) -> FigureResult:
    name, title = "learning_curves", "Learning curves against compute, with the L(C) envelope"
    table = fits.table
    if not is_learning_curves(table):
        return skip(name, title, "each run has a single evaluation (final losses only): "
                                 "there are no learning curves to draw")
    if fits.envelope is None:
        return skip(name, title, _reason(fits, "l_c", "no envelope fit"))
    envelope = fits.envelope
    with paper_style():
        figure, (ax,) = _figure()
        norm = _log_norm(table["params_nonembedding"])
        cmap = colormaps[SIZE_CMAP]
        curves = _curve_rows(table)
        for _, rows in curves.groupby("run", sort=False):
            rows = rows.sort_values("flops")
            color = cmap(norm(rows["params_nonembedding"].iloc[0]))
            ax.plot(rows["flops"], rows["loss"], color=color, lw=0.9, alpha=0.85)
        extra = table.drop(curves.index)
        if not extra.empty:
            ax.scatter(extra["flops"], extra["loss"], s=6,
                       c=[cmap(norm(v)) for v in extra["params_nonembedding"]], zorder=3)
        points = envelope.envelope
        ax.scatter(points["flops"], points["loss"], s=5, color="black", zorder=6,
                   label="envelope (lowest loss so far)")
        fitted = envelope.loss_law
        _fit_curve(ax, fitted, "flops", _grid(points["flops"].min(), table["flops"].max()),
                   f"L(C), a = {fmt(fitted.law.params_['a'])}")
        _log_axes(ax, COMPUTE_LABEL)
        ax.legend(loc="upper right")
        _colorbar(figure, ax, norm, "Parameters N (non-embedding)")
    caption = (f"{table['run'].nunique()} learning curves coloured by size; the dashed line is "
               f"{fitted.formula()} fitted to the lower envelope ({len(points)} points): "
               f"{fitted.param_text(['a', 'E', 'X0'])}.")
    return FigureResult(name, title, figure, caption)


# --- 2-3. L(N) and L(D) ------------------------------------------------------------------------
def loss_vs_params(fits: Study) -> FigureResult:
    """Final losses against non-embedding N, coloured by tokens, with L(N) through the best."""
    return _one_variable(fits, "l_n", "loss_vs_params", "L(N): loss against model size",
                         "params", _n_label(fits),
                         "tokens", "Tokens D", "size")


def _n_label(fits: Study) -> str:
    """The x label of N in the study's convention."""
    counted = (fits.convention.params_column if fits.convention is not None
               else "params_nonembedding")
    return ("Parameters N (non-embedding)" if counted == "params_nonembedding"
            else "Parameters N (all)")


def loss_vs_tokens(fits: Study) -> FigureResult:
    """Losses against tokens, coloured by model size, with L(D) through the best."""
    return _one_variable(fits, "l_d", "loss_vs_tokens", "L(D): loss against training tokens",
                         "tokens", "Tokens D", "params_nonembedding",
                         "Parameters N (non-embedding)", "token count")


def _one_variable(fits: Study, key: str, name: str, title: str, x: str, xlabel: str,
                  color_by: str, color_label: str, unit: str) -> FigureResult:
    fitted = fits.laws.get(key)
    if fitted is None:
        return skip(name, title, _reason(fits, key, "not fitted"))
    done = finished_rows(fits.table)
    with paper_style():
        figure, (ax,) = _figure()
        norm = _log_norm(done[color_by])
        ax.scatter(done[x], done["loss"], c=done[color_by], norm=norm, cmap=SIZE_CMAP, s=9,
                   alpha=0.7, lw=0, label="all finished models")
        best = fitted.data
        ax.scatter(best[x], best["loss"], s=26, facecolors="none", edgecolors="black", lw=0.8,
                   label=f"lowest loss per {unit}", zorder=6)
        _fit_curve(ax, fitted, x, _grid(done[x].min(), done[x].max(), pad=1.5),
                   f"{fitted.formula()}, a = {fmt(fitted.law.params_['a'])}")
        _log_axes(ax, xlabel)
        ax.legend(loc="upper right")
        _colorbar(figure, ax, norm, color_label)
    caption = (f"{fitted.formula()} fitted to the lowest loss at each of {len(best)} "
               f"{unit}s: {fitted.param_text(['a', 'E', 'X0'])}.")
    return FigureResult(name, title, figure, caption)


# --- 4. IsoFLOP profiles (Hoffmann et al. Fig. 3 left) -----------------------------------------
def isoflop_profiles(fits: Study) -> FigureResult:
    name, title = "isoflop_profiles", "IsoFLOP profiles: loss against size at fixed compute"
    if fits.isoflop is None:
        return skip(name, title, _reason(fits, "isoflop", "no IsoFLOP fit"))
    allocation: Allocation = fits.isoflop
    done = fits.done
    # The budgets exactly as Approach 2 formed them (equal compute, never a rounded grid).
    budget, _ = isoflop_budgets(done, flops_column=allocation.fit.flops_column)
    minima = allocation.fit.points
    with paper_style():
        figure, (ax,) = _figure()
        norm = _log_norm(done["flops"])
        cmap = colormaps["plasma"]
        for _, rows in done[budget >= 0].groupby(budget[budget >= 0]):
            compute = float(np.exp(np.mean(np.log(rows["flops"]))))
            color = cmap(norm(compute))
            match = minima[np.isclose(minima["flops"], compute, rtol=0.05)]
            ax.scatter(rows["params"], rows["loss"], s=10, color=color,
                       alpha=0.9 if len(match) else 0.25, lw=0)
            if match.empty:
                continue
            # The parabola Approach 2 fitted near the minimum, over the sizes it used.
            vertex = match.iloc[0]
            log_n = np.log(rows["params"].to_numpy(float))
            grid = np.linspace(log_n.min(), log_n.max(), 100)
            curve = vertex["loss"] + vertex["curvature"] * (grid - np.log(vertex["params"])) ** 2
            ax.plot(np.exp(grid), curve, color=color, lw=1.0)
        ax.scatter(minima["params"], minima["loss"], marker="*", s=70, color="black",
                   zorder=6, label="minimum of each parabola")
        _log_axes(ax, "Parameters N")
        ax.legend(loc="upper right")
        _colorbar(figure, ax, norm, "Compute budget C (FLOPs)", cmap="plasma")
    caption = (f"A parabola in log N per compute budget ({len(minima)} with a minimum inside "
               f"the sizes measured, {len(allocation.fit.skipped)} skipped, drawn faint); "
               f"the minima give {allocation.text()}.")
    return FigureResult(name, title, figure, caption)


# --- 5. N_opt(C) and D_opt(C) (Hoffmann et al. Fig. 1, Kaplan et al. Fig. 14) ----------------
def _exponent_text(allocation: dict[str, Any]) -> str:
    """Approach 3's a with its interval, or "not identified" past the stated range."""
    interval = allocation.get("interval")
    if interval is None:
        return fmt(allocation["a"])
    reason = interval_reason(*interval)
    if reason:
        return "not identified"
    return f"{fmt(allocation['a'])} [{fmt(interval[0])}, {fmt(interval[1])}]"


def compute_optimal(fits: Study) -> FigureResult:
    name, title = "compute_optimal", "Compute-optimal model size and tokens"
    approaches: list[tuple[str, Allocation, str]] = []
    if fits.envelope is not None:
        approaches.append(("Approach 1 (envelope)", fits.envelope.allocation, "o"))
    if fits.isoflop is not None:
        approaches.append(("Approach 2 (IsoFLOP)", fits.isoflop, "s"))
    chinchilla = fits.laws.get("l_nd")
    if not approaches and chinchilla is None:
        return skip(name, title, "neither the envelope, the IsoFLOP minima nor L(N, D) could "
                                 "be fitted")
    flops = fits.table["flops"]
    grid = _grid(flops.min(), flops.max(), 50, pad=3.0)
    captions = []
    with paper_style():
        figure, (ax_n, ax_d) = _figure(DOUBLE, 2)
        for (label, allocation, marker), color in zip(approaches, GROUP_COLORS, strict=False):
            points = allocation.fit.points
            ax_n.scatter(points["flops"], points["params"], marker=marker, s=14, color=color,
                         alpha=0.7, lw=0)
            ax_d.scatter(points["flops"], points["tokens"], marker=marker, s=14, color=color,
                         alpha=0.7, lw=0)
            ax_n.plot(grid, allocation.fit.n_opt(grid), color=color,
                      label=f"{label}: a = {fmt(allocation.fit.n_exponent)}")
            ax_d.plot(grid, allocation.fit.d_opt(grid), color=color,
                      label=f"{label}: b = {fmt(allocation.fit.d_exponent)}")
            captions.append(f"{label} {allocation.text()}")
        frontier = pd.DataFrame(chinchilla.extra.get("frontier", [])) if chinchilla else None
        if frontier is not None and not frontier.empty:
            allocation = chinchilla.extra["allocation"]
            text = _exponent_text(allocation)
            ax_n.plot(frontier["compute"], frontier["n_params"], color="black", ls="--",
                      label=f"Approach 3 (L(N, D)): a = {text}")
            ax_d.plot(frontier["compute"], frontier["tokens"], color="black", ls="--",
                      label="Approach 3 (L(N, D))")
            captions.append(f"Approach 3 a = {text} at {fmt(allocation['at_flops'])} FLOPs, "
                            "in the study's convention")
        _log_axes(ax_n, COMPUTE_LABEL, "Compute-optimal parameters N_opt")
        _log_axes(ax_d, COMPUTE_LABEL, "Compute-optimal tokens D_opt")
        ax_n.legend(loc="upper left")
        ax_d.legend(loc="upper left")
    caption = "N_opt ∝ C^a and D_opt ∝ C^b: " + "; ".join(captions) + "."
    return FigureResult(name, title, figure, caption, wide=True)


# --- 6. L(N, D) contours with the compute-optimal frontier (Hoffmann et al. Fig. 4 left) -----
def lnd_contours(fits: Study) -> FigureResult:
    name, title = "lnd_contours", "L(N, D): iso-loss contours and the compute-optimal frontier"
    fitted = fits.laws.get("l_nd")
    if fitted is None:
        return skip(name, title, _reason(fits, "l_nd", "no L(N, D) fit"))
    done = fitted.data
    frontier = pd.DataFrame(fitted.extra.get("frontier", []))
    if frontier.empty or fits.cost is None:
        return skip(name, title, _reason(fits, "l_nd allocation", "no compute-optimal frontier"))
    c_grid = _grid(done["flops"].min(), done["flops"].max(), 160, pad=3.0)
    n_grid = _grid(done["params"].min(), done["params"].max(), 160, pad=3.0)
    cc, nn = np.meshgrid(c_grid, n_grid)
    # D that spends C at each N, counted as the study counts compute.
    with np.errstate(invalid="ignore"):
        tokens = cc / fits.cost.flops_per_token(nn)
        loss = np.full(cc.shape, np.nan)
        ok = np.isfinite(tokens) & (tokens > 0)
        loss[ok] = fitted.law.predict({"params": nn[ok], "tokens": tokens[ok]})
    with paper_style():
        figure, (ax,) = _figure()
        measured_lo = float(done["loss"].min())
        levels = np.geomspace(max(float(np.nanmin(loss)), measured_lo * 0.95),
                              float(done["loss"].max()) * 1.05, 12)
        norm = LogNorm(vmin=levels[0], vmax=levels[-1])
        ax.contourf(cc, nn, loss, levels=levels, cmap="viridis_r", norm=norm, alpha=0.55,
                    extend="both")
        lines = ax.contour(cc, nn, loss, levels=levels[::2], colors="black", linewidths=0.5,
                           alpha=0.6)
        ax.clabel(lines, fmt=lambda v: f"{v:.2f}", fontsize=6.5)
        ax.scatter(done["flops"], done["params"], c=done["loss"], cmap="viridis_r", norm=norm,
                   s=10, edgecolors="white", linewidths=0.4, zorder=5, label="runs")
        ax.plot(frontier["compute"], frontier["n_params"], color=FIT_COLOR, lw=1.6,
                label=f"compute-optimal frontier (a = "
                      f"{_exponent_text(fitted.extra['allocation'])})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(c_grid[0], c_grid[-1])
        ax.set_ylim(n_grid[0], n_grid[-1])
        ax.set_xlabel(COMPUTE_LABEL)
        ax.set_ylabel("Parameters N")
        ax.legend(loc="upper left")
        _colorbar(figure, ax, norm, "Predicted loss (nats/token)", cmap="viridis_r")
    caption = (f"{fitted.formula()} with D = C / (FLOPs per token of N) in the study's "
               f"convention, fitted to {len(done)} finished models: "
               f"{fitted.param_text(['E', 'A', 'B', 'alpha', 'beta'])}.")
    return FigureResult(name, title, figure, caption)


# --- 7. Loss by token position (Kaplan et al. Fig. 20) -----------------------------------------
def position_loss(fits: Study) -> FigureResult:
    name, title = "position_loss", "Loss by position in the context"
    if not fits.positions:
        return skip(name, title, _reason(fits, "positions", "no loss-by-position table"))
    by_family: dict[str, list[FittedLaw]] = {}
    for fitted in fits.positions.values():
        by_family.setdefault(str(fitted.data["family"].iloc[0]), []).append(fitted)
    families = sorted(by_family, key=lambda f: (f != "transformer", f))
    sizes = pd.concat([f.data["params_nonembedding"] for f in fits.positions.values()])
    norm = _log_norm(sizes)
    cmap = colormaps[SIZE_CMAP]
    captions = []
    with paper_style():
        width = SINGLE[0] if len(families) == 1 else min(4.2 * len(families) + 0.8, 13.0)
        figure, axes = _figure((width, 3.4), len(families))
        for ax, family in zip(axes, families, strict=True):
            runs = sorted(by_family[family], key=lambda f: f.data["params_nonembedding"].iloc[0])
            for fitted in runs:
                rows = fitted.data.sort_values("position")
                color = cmap(norm(rows["params_nonembedding"].iloc[0]))
                ax.plot(rows["position"], rows["loss"], color=color, lw=0.9)
                ax.plot(rows["position"], fitted.law.predict({"tokens": rows["position"]}),
                        color=color, lw=0.8, ls=":", alpha=0.9)
            _log_axes(ax, "Token position t in the context")
            ax.set_title(family)
            largest = runs[-1]
            gain = fits.position_gains.get(family)
            text = f"{family} (largest, {fmt(largest.data['params_nonembedding'].iloc[0])} " \
                   f"params): {largest.param_text(['a', 'E'])}"
            captions.append(text + (f", {gain.text()}" if gain is not None else ""))
        _colorbar(figure, axes, norm, "Parameters N (non-embedding)")
    caption = ("L(t) = E + (t0/t)^a fitted per model (dotted); " + "; ".join(captions) + ".")
    return FigureResult(name, title, figure, caption, wide=len(families) > 1)


# --- 8. Family comparison (transformer vs LSTM, Kaplan et al. Fig. 7) --------------------------
def family_comparison(fits: Study) -> FigureResult:
    name, title = "family_comparison", "Model families: L(C) envelopes and compute multiplier"
    if len(fits.families) < 2:
        return skip(name, title, _reason(fits, "families",
                                         "fewer than two families could be fitted"))
    names = sorted(fits.families, key=lambda f: (f != "transformer", f))
    captions, multipliers = [], []
    with paper_style():
        figure, (ax,) = _figure()
        for family, color in zip(names, GROUP_COLORS, strict=False):
            envelope = fits.families[family]
            _draw_envelope(ax, envelope, color, family)
            captions.append(f"{family} {envelope.loss_law.param_text(['a', 'E'])}")
        _log_axes(ax, COMPUTE_LABEL)
        ax.legend(loc="upper right")
    for family in names[1:]:
        comparison = fits.comparisons.get(family)
        if comparison is not None:
            multipliers.append(comparison.summary())
    caption = ("L(C) = E + (C0/C)^a through each family's envelope: " + "; ".join(captions)
               + ". " + "; ".join(multipliers) + ".")
    return FigureResult(name, title, figure, caption)


def equal_tokens(fits: Study) -> FigureResult:
    """Kaplan et al. 2020 Fig. 7 (left): final loss against non-embedding N at equal tokens."""
    name, title = "equal_tokens", "Model families at equal tokens: loss against N (Kaplan's view)"
    if not fits.equal_tokens:
        reasons = [v for k, v in fits.skipped.items() if k.startswith("equal tokens")]
        return skip(name, title, reasons[0] if reasons else "fewer than two model families")
    l_nd = fits.laws["l_nd"]
    base = next(iter(fits.equal_tokens.values())).base
    with paper_style():
        figure, (ax,) = _figure()
        for comparison, color in zip(fits.equal_tokens.values(), GROUP_COLORS[1:], strict=False):
            rows = comparison.rows
            ax.scatter(rows["params"], rows["loss"], s=16, color=color, zorder=5,
                       label=f"{comparison.other} (final loss)")
            matched = comparison.matched
            ax.scatter(matched["base_params"], matched["loss"], s=16, facecolor="none",
                       edgecolor=GROUP_COLORS[0], zorder=5,
                       label=f"{base} size with the same loss")
        column = l_nd.law.params_column
        n = _grid(l_nd.data[column].min(), l_nd.data[column].max(), pad=1.0)
        lo, hi = next(iter(fits.equal_tokens.values())).tokens
        for d, style in sorted({(lo, "-"), (hi, "--")}):
            ax.plot(n, l_nd.law.predict({column: n, "tokens": np.full_like(n, d)}),
                    color=GROUP_COLORS[0], linestyle=style, label=f"{base} L(N, D = {d:.3g})")
        _log_axes(ax, _n_label(fits))
        ax.legend(loc="upper right")
    caption = (f"{base}'s fitted L(N, D) at the other family's token counts, only over "
               f"{base}'s fitted sizes; filled points: the other family's final losses; open "
               "points: the size of " + base + " with the same loss.")
    return FigureResult(name, title, figure, caption)


def _draw_envelope(ax: Axes, envelope: EnvelopeFit, color: str, label: str) -> None:
    rows = envelope.rows
    ax.scatter(rows["flops"], rows["loss"], s=4, color=color, alpha=0.18, lw=0)
    points = envelope.envelope
    ax.scatter(points["flops"], points["loss"], s=12, color=color, lw=0, zorder=5)
    fitted = envelope.loss_law
    _fit_curve(ax, fitted, "flops", _grid(points["flops"].min(), points["flops"].max(), pad=2.0),
               f"{label}: a = {fmt(fitted.law.params_['a'])}", color=color, linestyle="-")


# --- 9. Modalities (Henighan et al. 2020 Fig. 1-2) ---------------------------------------------
def modalities(fits: Study) -> FigureResult:
    name, title = "modalities", "Corpora: L(C) and N_opt(C) for each"
    if len(fits.corpora) < 2:
        return skip(name, title, _reason(fits, "corpora", "fewer than two corpora fitted"))
    captions = []
    all_flops = pd.concat([e.rows["flops"] for e in fits.corpora.values()])
    grid = _grid(all_flops.min(), all_flops.max(), 50, pad=2.0)
    with paper_style():
        figure, (ax_l, ax_n) = _figure(DOUBLE, 2)
        for (corpus, envelope), color in zip(sorted(fits.corpora.items()), GROUP_COLORS,
                                             strict=False):
            _draw_envelope(ax_l, envelope, color, corpus)
            allocation = envelope.allocation
            points = allocation.fit.points
            ax_n.scatter(points["flops"], points["params"], s=12, color=color, lw=0)
            ax_n.plot(grid, allocation.fit.n_opt(grid), color=color,
                      label=f"{corpus}: N_opt ∝ C^{fmt(allocation.fit.n_exponent)}")
            captions.append(f"{corpus} {envelope.loss_law.param_text(['a', 'E'])}, "
                            f"{allocation.text().split(', D_opt')[0]}")
        _log_axes(ax_l, COMPUTE_LABEL)
        _log_axes(ax_n, COMPUTE_LABEL, "Compute-optimal parameters N_opt")
        ax_l.legend(loc="upper right")
        ax_n.legend(loc="upper left")
    caption = ("L = E + (C0/C)^a and N_opt(C) along each corpus's envelope: "
               + "; ".join(captions) + ".")
    if fits.markov is not None:
        caption += f" {fits.markov.text()}."
    return FigureResult(name, title, figure, caption, wide=True)


# --- 10. Backtest ------------------------------------------------------------------------------
def backtest(fits: Study) -> FigureResult:
    name, title = "backtest", "Backtest: fit on small runs, predict the largest"
    frame = fits.backtest
    if frame is None or frame.empty:
        return skip(name, title, _reason(fits, "backtest", "no backtest"))
    info = fits.backtest_info
    threshold = float(info["train_max"])
    done = finished_rows(fits.table)
    run_flops = done.groupby("run")["flops"].transform("max")
    train = done[run_flops <= threshold]
    inside = (frame["measured"] >= frame["lo"]) & (frame["measured"] <= frame["hi"])
    with paper_style():
        figure, (ax,) = _figure()
        ax.scatter(train["flops"], train["loss"], s=8, color="0.6", lw=0,
                   label=f"fitted on ({len(train)} rows)")
        yerr = np.vstack([frame["predicted"] - frame["lo"], frame["hi"] - frame["predicted"]])
        has_interval = bool(np.isfinite(yerr).all())
        ax.errorbar(frame["flops"], frame["predicted"],
                    yerr=np.clip(yerr, 0, None) if has_interval else None,
                    fmt="o", ms=3.5, color=FIT_COLOR, elinewidth=0.8, capsize=2,
                    label="predicted (95% interval)", zorder=5)
        ax.scatter(frame["flops"], frame["measured"], marker="x", s=22, color="black",
                   label="measured (held out)", zorder=6)
        ax.axvline(threshold, color="0.3", ls=":", lw=1.0)
        ax.text(threshold, 0.02, " fit threshold", transform=ax.get_xaxis_transform(),
                va="bottom", fontsize=7, color="0.3")
        _log_axes(ax, COMPUTE_LABEL)
        ax.legend(loc="upper right")
    coverage = (f"; {int(inside.sum())} of {len(frame)} measured losses inside the 95% interval"
                if has_interval else "")
    largest = frame.loc[frame["flops"].idxmax()]
    interval = (f" [{fmt(largest['lo'])}, {fmt(largest['hi'])}]" if has_interval else "")
    caption = (f"L(N, D) fitted on the runs with C ≤ {fmt(threshold)} FLOPs "
               f"({info['n_train']} rows) predicts {info['n_test']} held-out rows: median "
               f"absolute relative error {100 * info['median_are']:.2f}%, max "
               f"{100 * frame['are'].max():.2f}%{coverage}; at the largest compute "
               f"({fmt(largest['flops'])} FLOPs) predicted {fmt(largest['predicted'])}{interval}, "
               f"measured {fmt(largest['measured'])} nats/token.")
    return FigureResult(name, title, figure, caption)


# --- 11. Fit residuals -------------------------------------------------------------------------
def residuals(fits: Study) -> FigureResult:
    name, title = "residuals", "Residuals of the L(N, D) fit"
    fitted = fits.laws.get("l_nd")
    if fitted is None:
        return skip(name, title, _reason(fits, "l_nd", "no L(N, D) fit"))
    data = fitted.data
    percent = 100.0 * (data["loss"].to_numpy(float) / fitted.law.predict(data) - 1.0)
    norm = _log_norm(data["params"])
    with paper_style():
        figure, (ax_c, ax_r) = _figure(DOUBLE, 2)
        for ax, x, label in ((ax_c, data["flops"], COMPUTE_LABEL),
                             (ax_r, data["tokens"] / data["params"], "Tokens per parameter D/N")):
            ax.scatter(x, percent, c=data["params"], norm=norm, cmap=SIZE_CMAP, s=10, lw=0)
            ax.axhline(0.0, color="black", lw=0.8)
            ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("Measured / predicted − 1 (%)")
        _colorbar(figure, [ax_c, ax_r], norm, "Parameters N")
    rms = float(np.sqrt(np.mean(percent**2)))
    caption = (f"{fitted.formula()} ({fitted.param_text(['alpha', 'beta'])}) misses the "
               f"{len(data)} finished models by {rms:.2f}% RMS, at most "
               f"{np.max(np.abs(percent)):.2f}%; a trend against compute or D/N would mean the "
               "form does not describe the data.")
    return FigureResult(name, title, figure, caption, wide=True)


# --- 12. Capabilities (exact match vs size next to loss) ---------------------------------------
def capabilities(fits: Study) -> FigureResult:
    name, title = "capabilities", "Capabilities: exact-match accuracy and loss against size"
    result = fits.capabilities
    if result is None:
        return skip(name, title, _reason(fits, "capabilities", "no accuracies"))
    runs, points = result.runs, result.points
    with paper_style():
        figure, (ax_a, ax_l) = _figure(DOUBLE, 2)
        for ax, column, label in ((ax_a, "accuracy", "Exact-match accuracy (%)"),
                                  (ax_l, "loss", LOSS_LABEL)):
            scale = 100.0 if column == "accuracy" else 1.0
            ax.scatter(runs["params_nonembedding"], scale * runs[column], s=8, color="0.6",
                       lw=0, label="every run")
            ax.plot(points["params_nonembedding"], scale * points[column], "o-", ms=3.5,
                    color=FIT_COLOR, label="best run per size")
            if result.verdict != "no rise":
                ax.axvspan(result.jump_from, result.jump_to, color=FIT_COLOR, alpha=0.08,
                           lw=0, label="largest accuracy step")
            ax.set_xscale("log")
            ax.set_xlabel("Parameters N (non-embedding)")
            ax.set_ylabel(label)
        ax_l.set_yscale("log")
        plain_loss_ticks(ax_l)
        ax_a.legend(loc="upper left")
    caption = f"Arithmetic, {result.summary()}."
    return FigureResult(name, title, figure, caption, wide=True)


FIGURES = (learning_curves, loss_vs_params, loss_vs_tokens, isoflop_profiles, compute_optimal,
           lnd_contours, position_loss, family_comparison, equal_tokens, modalities, backtest,
           residuals, capabilities)


# The study's verdicts each figure's caption ends with.
VERDICT_OF_FIGURE = {"loss_vs_params": ("l_n",), "loss_vs_tokens": ("l_d",),
                     "isoflop_profiles": ("isoflop",), "compute_optimal": ("allocation",),
                     "lnd_contours": ("l_nd",), "residuals": ("residuals",),
                     "learning_curves": ("l_c",), "backtest": ("backtest",)}


def draw_all(fits: Study) -> list[FigureResult]:
    """Every figure in the report's order (skipped ones included, with their reasons); each
    drawn figure's caption ends with the study's verdict on what it shows."""
    results = []
    for done, draw in enumerate(FIGURES):
        report("report figures", done, len(FIGURES), draw.__name__.removeprefix("_"))
        results.append(draw(fits))
    report("report figures", len(FIGURES), len(FIGURES))
    for result in results:
        keys = VERDICT_OF_FIGURE.get(result.name, ())
        if result.name in ("family_comparison", "equal_tokens"):
            prefix = "families:" if result.name == "family_comparison" else "equal_tokens:"
            keys = tuple(k for k in fits.verdicts if k.startswith(prefix))
        said = [fits.verdicts[k] for k in keys if k in fits.verdicts]
        if result.figure is not None and said:
            result.caption = f"{result.caption} Verdict: {' '.join(said)}"
    return results
