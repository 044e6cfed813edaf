"""One analysis step in front of every renderer: `study(table)` computes each number once.

The report, the demo's printed summary and `--json` only render a `Study`; none of them fits
anything. A study reads the table in one accounting convention (`conventions`), fits only the
rows of the regime the laws describe (`regime.fit_regime`: finished, past warmup, past the
early plateau; the rest listed with reasons), bootstraps every fit with a resample that keeps
the design, says which parameters the data do not identify, checks residuals for trends, and
ends each analysis in a verdict in words (`verdicts`). A fit the data cannot support is not an
error here: it is recorded in `skipped` with the reason, and the figures that needed it say so.
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
from scalinglab.analyses.equal_tokens import EqualTokensComparison, compare_at_equal_tokens
from scalinglab.analyses.fitted import FIT_ERRORS, FittedLaw, display_name, fit_law, fmt
from scalinglab.analyses.modalities import EntropyCheck, entropy_check
from scalinglab.analyses.positions import ContextGain, fit_positions, position_table
from scalinglab.conventions import (
    Convention,
    TokenCost,
    default_convention,
    get_convention,
    token_cost_for,
)
from scalinglab.errors import ScalinglabError
from scalinglab.jsonable import to_jsonable
from scalinglab.laws.diagnostics import residual_trends
from scalinglab.laws.identifiability import interval_reason
from scalinglab.laws.uncertainty import NoiseModel, seed_noise
from scalinglab.measurements import apply_final_rule
from scalinglab.progress import report
from scalinglab.regime import Regime, fit_regime

# The analyses live in `scalinglab.analyses`; the report's figures import them from here too.
__all__ = ["FIT_ERRORS", "Allocation", "Capabilities", "Comparison", "ContextGain",
           "EnvelopeFit", "FittedLaw", "Study", "allocation_intervals", "compare_envelopes",
           "compute_multiplier", "display_name", "fit_envelope", "fit_law", "study", "fmt",
           "lower_envelope", "position_table"]

# Bins per decade when taking the lowest loss per model size (L(N)) or per token count (L(D)).
FRONTIER_BINS_PER_DECADE = 20
# A run counts as a learning curve when it has at least this many evaluations.
MIN_CURVE_POINTS = 3


@dataclass
class Study:
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
    # family -> Kaplan's view against the main family: loss vs non-embedding N at equal tokens
    equal_tokens: dict[str, EqualTokensComparison] = field(default_factory=dict)
    markov: EntropyCheck | None = None  # fitted E on markov against the exact loss floor
    capabilities: Capabilities | None = None
    convention: Convention | None = None
    regime: Regime | None = None  # which rows of `table` the laws were fitted to, and why
    noise: NoiseModel | None = None  # seed-to-seed spread, where the data have seeds
    cost: TokenCost | None = None  # FLOPs per token of the law's N, in the study's convention
    verdicts: dict[str, str] = field(default_factory=dict)  # analysis key -> verdict in words
    n_attempted: int = 0  # analyses started so far (for progress reports)

    @property
    def done(self) -> pd.DataFrame:
        """The rows the laws describe (the regime's rows)."""
        return self.regime.rows if self.regime is not None else self.table

    def to_dict(self) -> dict[str, Any]:
        """Every number of the study, JSON-ready (the summary and `--json` print this)."""
        allocations = {}
        if self.envelope is not None and self.envelope.allocation is not None:
            allocations["envelope"] = self.envelope.allocation.to_dict()
        if self.isoflop is not None:
            allocations["isoflop"] = self.isoflop.to_dict()
        return to_jsonable({
            "group": self.group,
            "convention": None if self.convention is None else self.convention.to_dict(),
            "regime": None if self.regime is None else self.regime.to_dict(),
            "seed_noise": None if self.noise is None else self.noise.to_dict(),
            "fits": [f.to_dict() for f in self.laws.values()],
            "allocations": allocations,
            "comparisons": {k: c.to_dict() for k, c in self.comparisons.items()},
            "equal_tokens": {k: c.to_dict() for k, c in self.equal_tokens.items()},
            "verdicts": dict(self.verdicts),
            "skipped": dict(self.skipped),
            "backtest": {k: v for k, v in self.backtest_info.items() if k != "law"},
        })


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


def _attempt(fits: Study, key: str, make: Callable[[], Any]) -> Any:
    """Run one fit; on data that cannot support it, record why in `fits.skipped` and go on."""
    fits.n_attempted += 1
    report("study", fits.n_attempted, None, key)
    try:
        return make()
    except FIT_ERRORS as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        fits.skipped[key] = message
        return None


def study(
    table: pd.DataFrame,
    n_resamples: int = 200,
    seed: int = 0,
    position_losses: pd.DataFrame | None = None,
    accuracies: pd.DataFrame | None = None,
    backtest: pd.DataFrame | None = None,
    convention_name: str | None = None,
    final: str | None = None,
) -> Study:
    """Fit every law and analysis the report can show for `table` (a measurements table).

    `final` re-marks the finished rows by that rule first (`measurements.apply_final_rule`:
    last, all or a column); None keeps the table's marks, and a table that marks none has
    each run's last evaluation stand for it (`measurements.is_finished`).

    `convention_name` names the accounting convention every fit, envelope and plan uses
    (default: `conventions.default_convention`).

    A given `backtest` frame is shown as is instead of the report's own backtest.

    `accuracies` (a store's run, name, value table) or an `accuracy` column in `table` adds
    the capabilities analysis (exact match against size, on arithmetic runs).
    """
    if final is not None:
        table, _ = apply_final_rule(table, final)
    convention = get_convention(convention_name or default_convention(table))
    full = convention.view(table)
    table, group = main_group(full)
    regime = fit_regime(table)
    done = regime.rows
    fits = Study(table=table, full=full, group=group, convention=convention, regime=regime,
                 noise=seed_noise(done) if len(done) else None)
    if done.empty:
        raise ScalinglabError(f"no rows in the fit regime ({regime.rule})")
    n_column = "params"  # the convention's N

    # L(N) and L(D): saturating power laws through the lowest loss at each size / token count.
    if done[n_column].nunique() >= 4:
        best_n = frontier(done, n_column)
        fitted = _attempt(fits, "l_n", lambda: fit_law(
            "l_n", "L(N)", laws.get_law("saturating", x=n_column), best_n, n_resamples, seed,
            note="lowest finished loss at each model size"))
        if fitted is not None:
            fits.laws["l_n"] = fitted
    else:
        fits.skipped["l_n"] = "fewer than 4 model sizes"
    if done["tokens"].nunique() >= 4:
        best_d = frontier(done, "tokens")
        fitted = _attempt(fits, "l_d", lambda: fit_law(
            "l_d", "L(D)", laws.get_law("saturating", x="tokens"), best_d, n_resamples, seed,
            note="lowest finished loss at each token count"))
        if fitted is not None:
            fits.laws["l_d"] = fitted
    else:
        fits.skipped["l_d"] = "fewer than 4 token counts"

    # L(N, D): Chinchilla's parametric form on every finished model (Approach 3).
    reason = _two_variable_reason(done)
    if reason is None:
        fitted = _attempt(fits, "l_nd", lambda: fit_law(
            "l_nd", "L(N, D)", laws.get_law("chinchilla"), done, n_resamples, seed,
            note=f"every row of the fit regime; {convention.description} (Approach 3)"))
        if fitted is not None:
            fits.laws["l_nd"] = fitted
            _attempt(fits, "l_nd allocation", lambda: _approach_3(fits, fitted))
    else:
        fits.skipped["l_nd"] = reason

    # L(C) and N_opt(C) from the lower envelope of all rows (Approach 1).
    envelope = _attempt(fits, "l_c", lambda: fit_envelope("", done, n_resamples, seed))
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
    fits.verdicts = verdicts(fits)
    report("study", fits.n_attempted, fits.n_attempted, "done")
    return fits


def _fit_groups(fits: Study, n_resamples: int, seed: int) -> None:
    """Envelopes per family (on the main corpus) and per corpus (for the main family)."""
    table = fits.full
    corpus = fits.table["corpus"].iloc[0] if "corpus" in table.columns else None
    same_corpus = table if corpus is None else table[table["corpus"] == corpus]
    families = sorted(same_corpus["family"].unique())
    if len(families) >= 2:
        for family in families:
            rows = fit_regime(same_corpus[same_corpus["family"] == family],
                              finished_only=False).rows
            fitted = _attempt(fits, f"family {family}",
                              lambda rows=rows, family=family: fit_envelope(
                                  family, rows, n_resamples, seed, require_allocation=False))
            if fitted is not None:
                fits.families[family] = fitted
        names = sorted(fits.families, key=lambda f: (f != "transformer", f))
        for family in names[1:]:
            fits.comparisons[family] = compare_envelopes(fits.families[names[0]],
                                                         fits.families[family])
        _equal_tokens(fits, same_corpus, families, seed)
    else:
        fits.skipped["families"] = f"one model family only ({families[0]})"
    if "corpus" not in table.columns or table["corpus"].nunique() < 2:
        fits.skipped["corpora"] = "the table has no 'corpus' column with two or more corpora"
        return
    family = fits.table["family"].iloc[0]
    for name in sorted(table.loc[table["family"] == family, "corpus"].unique()):
        rows = fit_regime(table[(table["family"] == family) & (table["corpus"] == name)],
                          finished_only=False).rows
        fitted = _attempt(fits, f"corpus {name}",
                          lambda rows=rows, name=name: fit_envelope(name, rows, n_resamples, seed))
        if fitted is not None:
            fits.corpora[name] = fitted
    if "markov" in fits.corpora:
        fits.markov = _attempt(fits, "markov", lambda: entropy_check(fits.corpora["markov"]))


def _equal_tokens(fits: Study, rows: pd.DataFrame, families: list[str], seed: int) -> None:
    """Kaplan's view of every other family against the main family's L(N, D)."""
    base = fits.table["family"].iloc[0]
    l_nd = fits.laws.get("l_nd")
    noise = fits.noise.total_sd if fits.noise is not None else 0.0  # one run's, in log loss
    for family in families:
        if family == base:
            continue
        if l_nd is None:
            fits.skipped[f"equal tokens {family}"] = f"no L(N, D) of {base} to compare with"
            continue
        finished = fit_regime(rows[rows["family"] == family]).rows
        result = _attempt(fits, f"equal tokens {family}", lambda finished=finished,
                          family=family: compare_at_equal_tokens(l_nd, finished, base, family,
                                                                 noise, seed))
        if result is not None:
            fits.equal_tokens[family] = result


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


def _backtest(fits: Study, done: pd.DataFrame, n_resamples: int, seed: int) -> None:
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


def _fit_positions(fits: Study, positions: pd.DataFrame, table: pd.DataFrame,
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


def _approach_3(fits: Study, fitted: FittedLaw) -> None:
    """What Approach 3 pins down, in the study's convention: the allocation exponent a (found
    numerically, since C is not proportional to N D for small models), the loss at the centre
    of the data, and whether the residuals trend (the form describing the data or not)."""
    from scalinglab import decide

    law, done = fitted.law, fitted.data
    try:
        cost = token_cost_for(fits.convention, fits.table)
    except ScalinglabError as error:
        fits.skipped["l_nd allocation"] = str(error)
        return
    law.accounting = {"convention": fits.convention.name, **cost.to_dict()}
    fits.cost = cost
    centre_c = float(np.exp(np.mean(np.log(done["flops"]))))
    # N_opt(C) along the data's compute range (x3 either side), for the figures to draw.
    grid = np.geomspace(done["flops"].min() / 3.0, done["flops"].max() * 3.0, 40)
    frontier = []
    for compute in grid:
        try:
            best = decide.compute_optimal(law, float(compute), cost)
        except ScalinglabError:
            continue
        frontier.append({k: best[k] for k in ("compute", "n_params", "tokens", "loss")})
    centre = {"params": [float(np.exp(np.mean(np.log(done["params"]))))],
              "tokens": [float(np.exp(np.mean(np.log(done["tokens"]))))]}
    allocation: dict[str, Any] = {
        "a": decide.allocation_exponent(law, centre_c, cost), "at_flops": centre_c,
        "convention": fits.convention.name,
        "a_closed_form": law.derived().get("n_opt_exponent"),
    }
    centre_loss: dict[str, Any] = {"params": centre["params"][0], "tokens": centre["tokens"][0],
                                   "loss": float(law.predict(centre)[0])}
    if fitted.boot is not None:
        lo, hi = fitted.boot.quantity(
            lambda resampled: decide.allocation_exponent(resampled, centre_c, cost))
        allocation["interval"] = [float(lo), float(hi)]
        lo, hi = fitted.boot.predict_interval(centre)
        centre_loss["interval"] = [float(lo[0]), float(hi[0])]
    check = residual_trends(law, done, source="L(N, D)")
    fitted.extra.update(allocation=allocation, centre_loss=centre_loss,
                        residuals=check.to_dict(), frontier=frontier)


def _span_text(value: float, interval: Any) -> str:
    """`0.5 [0.46, 0.54]`, or "not identified (...)" when the interval is wider than the
    identifiability range."""
    if interval is None or len(interval) != 2:
        return fmt(value)
    reason = interval_reason(*interval)
    if reason:
        return f"not identified ({reason})"
    return f"{fmt(value)} [{fmt(interval[0])}, {fmt(interval[1])}]"


def exponents(fits: Study) -> dict[str, tuple[float, tuple[float, float] | None]]:
    """N_opt exponent a of each approach that ran: value and interval (None if none)."""
    out: dict[str, tuple[float, tuple[float, float] | None]] = {}
    for name, allocation in (("Approach 1", fits.envelope.allocation if fits.envelope else None),
                             ("Approach 2", fits.isoflop)):
        if allocation is not None:
            out[name] = (allocation.fit.n_exponent, allocation.intervals.get("n_opt_exponent"))
    l_nd = fits.laws.get("l_nd")
    if l_nd is not None and "allocation" in l_nd.extra:
        a = l_nd.extra["allocation"]
        out["Approach 3"] = (a["a"], tuple(a["interval"]) if "interval" in a else None)
    return out


def allocation_verdict(fits: Study) -> str:
    """Whether Approaches 1-3 agree on a (N_opt ~ C^a), within their intervals, in words."""
    return agreement_verdict(exponents(fits))


def agreement_verdict(found: dict[str, tuple[float, tuple[float, float] | None]]) -> str:
    """The verdict of `allocation_verdict` on each approach's exponent and interval."""
    if len(found) < 2:
        return "fewer than two approaches could estimate a here: nothing to compare"
    text = "; ".join(f"{name} a = {_span_text(v, i)}" for name, (v, i) in found.items())
    with_intervals = {k: i for k, (_, i) in found.items()
                      if i is not None and not interval_reason(*i)}
    if len(with_intervals) < 2:
        return (f"{text}. Fewer than two approaches pin a down here, so their agreement cannot "
                "be judged at this scale (more sizes or seeds would).")
    names = list(with_intervals)
    apart = [(a, b) for k, a in enumerate(names) for b in names[k + 1:]
             if with_intervals[a][1] < with_intervals[b][0]
             or with_intervals[b][1] < with_intervals[a][0]]
    if not apart:
        unpinned = [name for name in found if name not in with_intervals]
        if not unpinned:
            return f"{text}: the approaches agree within their intervals."
        # An approach that is not identified neither agrees nor disagrees: say which ones agree.
        return (f"{text}: {' and '.join(names)} agree within their intervals; "
                f"{', '.join(unpinned)} cannot be compared (not identified).")
    pairs = ", ".join(f"{a} and {b}" for a, b in apart)
    return (f"{text}: {pairs} disagree. Approach 1 follows the sizes that happened to be "
            "trained (its points are the winners of the envelope), Approach 2 the minima of "
            "the IsoFLOP profiles, Approach 3 assumes E + A/N^α + B/D^β holds over the whole "
            "range; a residual trend or a parameter not identified in L(N, D) points at it.")


def verdicts(fits: Study) -> dict[str, str]:
    """Each analysis's verdict in one or two sentences (science.md, section 6)."""
    out = {}
    for key, fitted in fits.laws.items():
        unidentified = fitted.not_identified()
        status = "" if fitted.converged else "The fit did not converge. "
        warnings = [w for w in fitted.warnings if "bound" not in w and "floor" not in w]
        text = status + (unidentified + "." if unidentified else
                         "Every parameter is identified by this data.")
        if warnings:
            text += " " + "; ".join(warnings) + "."
        if fitted.boot is not None and fitted.boot.noise is not None:
            text += f" Intervals: {fitted.boot.method} bootstrap, {fitted.boot.noise.describe()}."
            if fitted.boot.n_failed:
                text += f" {fitted.boot.n_failed} of {fitted.boot.n_resamples} resamples failed."
        out[key] = text
    l_nd = fits.laws.get("l_nd")
    if l_nd is not None and "residuals" in l_nd.extra:
        out["residuals"] = l_nd.extra["residuals"]["sentence"]
    out["allocation"] = allocation_verdict(fits)
    if fits.isoflop is not None:
        n = getattr(fits.isoflop.fit, "n_budgets", len(fits.isoflop.fit.points))
        failed = fits.isoflop.resampling.get("n_failed") if fits.isoflop.resampling else None
        out["isoflop"] = (f"Approach 2 from {n} IsoFLOP budgets" +
                          (f"; {failed} failed resamples" if failed else "") + ".")
    elif "isoflop" in fits.skipped:
        out["isoflop"] = f"No Approach 2 exponent: {fits.skipped['isoflop']}."
    for family, comparison in fits.comparisons.items():
        out[f"families:{family}"] = comparison.summary()
    for family, comparison in fits.equal_tokens.items():
        out[f"equal_tokens:{family}"] = comparison.summary() + "."
    if fits.backtest_info:
        info = fits.backtest_info
        out["backtest"] = (f"median absolute relative error {100 * info['median_are']:.2f}%"
                           + (f"; {info['verdict']}." if info.get("verdict") else "."))
    if fits.regime is not None:
        out["regime"] = (f"Fitted rows: {len(fits.regime.rows)} of {len(fits.table)} "
                         f"({fits.regime.rule}).")
    return out
