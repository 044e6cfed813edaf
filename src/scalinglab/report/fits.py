"""The fits a report shows: each law fitted once, with its bootstrap, on the data it describes.

The report never fits anything itself; it calls `scalinglab.laws` and keeps, for every fit, the
table it was fitted on (so a reader can see which points a law saw), its bootstrap intervals and
whether it converged. A fit the data cannot support is not an error here: it is recorded in
`skipped` with the reason, and the figures that needed it say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab import laws
from scalinglab.analyses.capabilities import Capabilities, capabilities
from scalinglab.analyses.compare import Comparison, compare_envelopes, compute_multiplier
from scalinglab.analyses.envelope import (
    Allocation,
    EnvelopeFit,
    allocation_intervals,
    fit_envelope,
    lower_envelope,
)
from scalinglab.analyses.fitted import FIT_ERRORS, FittedLaw, display_name, fit_law, fmt
from scalinglab.analyses.modalities import EntropyCheck, entropy_check
from scalinglab.analyses.positions import ContextGain, fit_positions, position_table
from scalinglab.errors import ScalinglabError
from scalinglab.measurements import finished_rows

# The analyses live in `scalinglab.analyses`; the report's figures import them from here too.
__all__ = ["FIT_ERRORS", "Allocation", "Capabilities", "Comparison", "ContextGain",
           "EnvelopeFit", "FittedLaw", "ReportFits", "allocation_intervals", "compare_envelopes",
           "compute_multiplier", "display_name", "fit_envelope", "fit_law", "fit_report", "fmt",
           "lower_envelope", "position_table"]

# Bins per decade when taking the lowest loss per model size (L(N)) or per token count (L(D)).
FRONTIER_BINS_PER_DECADE = 20
# A run counts as a learning curve when it has at least this many evaluations.
MIN_CURVE_POINTS = 3


@dataclass
class ReportFits:
    """Everything the figures need, fitted once; `skipped` maps a fit's key to why it is absent.

    `table` holds the main group's rows (one family on one corpus: a law describes one model
    family on one data distribution); `full` holds every row, for the comparisons.
    """

    table: pd.DataFrame
    full: pd.DataFrame
    group: str = ""
    laws: dict[str, FittedLaw] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    envelope: Any | None = None
    isoflop: Any | None = None
    backtest: pd.DataFrame | None = None
    backtest_info: dict[str, Any] = field(default_factory=dict)
    families: dict[str, Any] = field(default_factory=dict)
    corpora: dict[str, Any] = field(default_factory=dict)
    positions: dict[str, FittedLaw] = field(default_factory=dict)
    position_gains: dict[str, ContextGain] = field(default_factory=dict)
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # family -> vs the first
    markov: EntropyCheck | None = None  # fitted E on markov against the exact loss floor
    capabilities: Capabilities | None = None


def main_group(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of one family on one corpus: transformers if any, on their commonest corpus.

    Returns the rows and a label such as "transformer on stdlib" (empty when the table holds a
    single family and corpus, so nothing was set aside).
    """
    families = table["family"].astype(str)
    family = "transformer" if (families == "transformer").any() else families.mode().iloc[0]
    rows = table[families == family]
    label = family if families.nunique() > 1 else ""
    if "corpus" in table.columns and table["corpus"].nunique() > 1:
        corpus = rows["corpus"].mode().iloc[0]
        rows = rows[rows["corpus"] == corpus]
        label = f"{family} on {corpus}"
    return rows.reset_index(drop=True), label


def is_learning_curves(table: pd.DataFrame) -> bool:
    """True when at least two runs have several evaluations each (curves, not final losses)."""
    counts = table.groupby("run")["tokens"].nunique()
    return int((counts >= MIN_CURVE_POINTS).sum()) >= 2


def frontier(table: pd.DataFrame, x: str, bins_per_decade: int = FRONTIER_BINS_PER_DECADE
             ) -> pd.DataFrame:
    """The lowest-loss row in each log-spaced bin of column `x` (the best loss at each N or D).

    Kaplan et al.'s L(N) and L(D) describe models not limited by the other variable; among our
    runs the lowest loss reached at each size (or token count) is the closest to that.
    """
    bins = np.floor(np.log10(table[x].to_numpy(float)) * bins_per_decade + 1e-9)
    idx = table.assign(_bin=bins).groupby("_bin")["loss"].idxmin()
    return table.loc[idx.to_numpy()].sort_values(x).reset_index(drop=True)


def _attempt(fits: ReportFits, key: str, make: Callable[[], Any]) -> Any:
    """Run one fit; on data that cannot support it, record why in `fits.skipped` and go on."""
    try:
        return make()
    except FIT_ERRORS as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        fits.skipped[key] = message
        return None


def fit_report(
    table: pd.DataFrame,
    n_resamples: int = 200,
    seed: int = 0,
    position_losses: pd.DataFrame | None = None,
    accuracies: pd.DataFrame | None = None,
    backtest: pd.DataFrame | None = None,
) -> ReportFits:
    """Fit every law and analysis the report can show for `table` (a measurements table).

    A given `backtest` frame is shown as is instead of the report's own backtest.

    `accuracies` (a store's run, name, value table) or an `accuracy` column in `table` adds
    the capabilities analysis (exact match against size, on arithmetic runs).
    """
    full = table
    table, group = main_group(full)
    fits = ReportFits(table=table, full=full, group=group)
    done = finished_rows(table)
    n_column = "params_nonembedding"

    # L(N) and L(D): saturating power laws through the lowest loss at each size / token count.
    if done[n_column].nunique() >= 4:
        best_n = frontier(done, n_column)
        fitted = _attempt(fits, "l_n", lambda: fit_law(
            "l_n", "L(N)", laws.get_law("saturating", x=n_column), best_n, n_resamples, seed,
            note="lowest loss reached at each model size"))
        if fitted is not None:
            fits.laws["l_n"] = fitted
    else:
        fits.skipped["l_n"] = "fewer than 4 model sizes"
    if done["tokens"].nunique() >= 4:
        best_d = frontier(done, "tokens")
        fitted = _attempt(fits, "l_d", lambda: fit_law(
            "l_d", "L(D)", laws.get_law("saturating", x="tokens"), best_d, n_resamples, seed,
            note="lowest loss reached at each token count"))
        if fitted is not None:
            fits.laws["l_d"] = fitted
    else:
        fits.skipped["l_d"] = "fewer than 4 token counts"

    # L(N, D): Chinchilla's parametric form on every finished model (Approach 3).
    reason = _two_variable_reason(done)
    if reason is None:
        fitted = _attempt(fits, "l_nd", lambda: fit_law(
            "l_nd", "L(N, D)", laws.get_law("chinchilla"), done, n_resamples, seed,
            note="every finished model; N total parameters, D tokens (Approach 3)"))
        if fitted is not None:
            fits.laws["l_nd"] = fitted
    else:
        fits.skipped["l_nd"] = reason

    # L(C) and N_opt(C) from the lower envelope of all rows (Approach 1).
    envelope = _attempt(fits, "l_c", lambda: fit_envelope("", table, n_resamples, seed))
    if envelope is not None:
        fits.envelope = envelope
        fits.laws["l_c"] = envelope.loss_law

    # IsoFLOP profiles and their minima (Approach 2); the intervals keep every budget and size.
    isoflop = _attempt(fits, "isoflop", lambda: laws.isoflop_fit(done, source="IsoFLOP"))
    if isoflop is not None:
        fits.isoflop = Allocation(isoflop)
        boot = None if n_resamples <= 0 else _attempt(
            fits, "isoflop_intervals",
            lambda: laws.isoflop_intervals(done, n_resamples, seed, source="IsoFLOP"))
        if boot is not None:
            resampling = {k: v for k, v in boot.to_dict().items() if k != "intervals"}
            fits.isoflop = Allocation(isoflop, boot.intervals, resampling)

    _fit_groups(fits, n_resamples, seed)
    if backtest is not None:
        fits.backtest, fits.backtest_info = backtest, dict(backtest.attrs)
    elif "l_nd" in fits.laws:
        _attempt(fits, "backtest", lambda: _backtest(fits, done, n_resamples, seed))
    else:
        fits.skipped["backtest"] = "no L(N, D) fit to backtest"
    if position_losses is not None and not position_losses.empty:
        _fit_positions(fits, position_losses, full, n_resamples, seed)
    else:
        fits.skipped["positions"] = "no loss-by-position table"
    has_accuracy = (accuracies is not None and not accuracies.empty) or "accuracy" in full
    if has_accuracy:
        fits.capabilities = _attempt(fits, "capabilities",
                                     lambda: capabilities(full, accuracies,
                                                          n_resamples=n_resamples, seed=seed))
    else:
        fits.skipped["capabilities"] = "no accuracies (arithmetic runs report exact match)"
    return fits


def _fit_groups(fits: ReportFits, n_resamples: int, seed: int) -> None:
    """Envelopes per family (on the main corpus) and per corpus (for the main family)."""
    table = fits.full
    corpus = fits.table["corpus"].iloc[0] if "corpus" in table.columns else None
    same_corpus = table if corpus is None else table[table["corpus"] == corpus]
    families = sorted(same_corpus["family"].unique())
    if len(families) >= 2:
        for family in families:
            rows = same_corpus[same_corpus["family"] == family]
            fitted = _attempt(fits, f"family {family}",
                              lambda rows=rows, family=family: fit_envelope(
                                  family, rows, n_resamples, seed))
            if fitted is not None:
                fits.families[family] = fitted
        names = sorted(fits.families, key=lambda f: (f != "transformer", f))
        for family in names[1:]:
            fits.comparisons[family] = compare_envelopes(fits.families[names[0]],
                                                         fits.families[family])
    else:
        fits.skipped["families"] = f"one model family only ({families[0]})"
    if "corpus" not in table.columns or table["corpus"].nunique() < 2:
        fits.skipped["corpora"] = "the table has no 'corpus' column with two or more corpora"
        return
    family = fits.table["family"].iloc[0]
    for name in sorted(table.loc[table["family"] == family, "corpus"].unique()):
        rows = table[(table["family"] == family) & (table["corpus"] == name)]
        fitted = _attempt(fits, f"corpus {name}",
                          lambda rows=rows, name=name: fit_envelope(name, rows, n_resamples, seed))
        if fitted is not None:
            fits.corpora[name] = fitted
    if "markov" in fits.corpora:
        fits.markov = _attempt(fits, "markov", lambda: entropy_check(fits.corpora["markov"]))


def backtest_threshold(done: pd.DataFrame) -> float:
    """Compute below which the backtest fits: holds out the runs in the top ~quarter of compute.

    Thresholds sit between distinct run budgets (the geometric midpoint), so a run is either
    wholly in the fit or wholly held out.
    """
    run_flops = np.sort(done.groupby("run")["flops"].max().unique())
    if len(run_flops) < 4:
        raise ScalinglabError("fewer than 4 distinct run budgets: nothing to hold out")
    cut = max(1, len(run_flops) // 4)
    below, above = run_flops[-cut - 1], run_flops[-cut]
    return float(np.sqrt(below * above))


def _backtest(fits: ReportFits, done: pd.DataFrame, n_resamples: int, seed: int) -> None:
    """Fit L(N, D) on the runs below a compute threshold; predict the runs above it."""
    threshold = backtest_threshold(done)
    # Whole runs are held out: x is each run's largest compute, not the row's.
    done = done.assign(run_flops=done.groupby("run")["flops"].transform("max"))
    frame = laws.backtest(laws.get_law("chinchilla"), done, x="run_flops", train_max=threshold,
                          n_resamples=n_resamples, seed=seed, source="backtest")
    held_out = done[done["run_flops"] > threshold]  # same rows, same order as `frame`
    for column in ("flops", "params", "tokens"):
        frame[column] = held_out[column].to_numpy(float)
    fits.backtest = frame
    fits.backtest_info = dict(frame.attrs)


def _two_variable_reason(table: pd.DataFrame) -> str | None:
    """Why N and D cannot be separated in this table, or None when they can."""
    if table["params"].nunique() < 3:
        return "fewer than 3 model sizes: N and D cannot be separated"
    if table["tokens"].nunique() < 3:
        return "fewer than 3 token counts: N and D cannot be separated"
    log_n, log_d = np.log(table["params"]), np.log(table["tokens"])
    if abs(np.corrcoef(log_n, log_d)[0, 1]) > 0.995:
        return "model size and tokens vary together: N and D cannot be separated"
    return None


def _fit_positions(fits: ReportFits, positions: pd.DataFrame, table: pd.DataFrame,
                   n_resamples: int, seed: int) -> None:
    """L(t) per run and each family's context gain (`analyses.fit_positions`)."""
    result = _attempt(fits, "positions",
                      lambda: fit_positions(positions, table, n_resamples, seed))
    if result is None:
        return
    fits.positions = result.laws
    fits.position_gains = result.families
    for run, reason in result.skipped.items():
        fits.skipped[f"position:{run}"] = reason
