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
from scalinglab.errors import ScalinglabError

# Bins per decade when taking the lowest loss per model size (L(N)) or per token count (L(D)).
FRONTIER_BINS_PER_DECADE = 20
# A run counts as a learning curve when it has at least this many evaluations.
MIN_CURVE_POINTS = 3
# Log-spaced context positions each loss-by-position fit uses.
POSITION_POINTS = 48
# Errors a fit on unsuitable data can raise; anything else is a bug and propagates.
FIT_ERRORS = (ScalinglabError, ValueError, ArithmeticError, np.linalg.LinAlgError)

FORMULAS = {
    "power": "L = ({x0}/{x})^{a}",
    "saturating": "L = E + ({x0}/{x})^{a}",
    "chinchilla": "L = E + A/N^α + B/D^β",
    "kaplan-nd": "L = [(Nc/N)^(aN/aD) + Dc/D]^aD",
    "broken-power": "L = E + b x^-c0 (1 + (x/d1)^(1/f1))^(-c1 f1)",
}
SYMBOLS = {"params": "N", "params_nonembedding": "N", "tokens": "D", "flops": "C",
           "position": "t"}


@dataclass
class FittedLaw:
    """One fitted law as the report shows it: the law, its data, intervals and derived numbers."""

    key: str
    label: str
    law: Any
    data: pd.DataFrame
    boot: Any | None = None
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    derived: dict[str, float] = field(default_factory=dict)
    derived_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    note: str = ""
    x_symbol: str = ""  # overrides the symbol of a one-variable law's x (t for position)

    @property
    def converged(self) -> bool:
        result = getattr(self.law, "result_", None)
        return bool(result is not None and result.converged)

    @property
    def objective(self) -> float | None:
        result = getattr(self.law, "result_", None)
        return None if result is None else float(result.objective)

    def formula(self) -> str:
        """The law written with the report's symbols, e.g. `L = E + (N0/N)^a`."""
        name = self.law.name
        if name in ("power", "saturating"):
            x = self.x_symbol or SYMBOLS.get(self.law.x, "X")
            return FORMULAS[name].format(x0=f"{x}0", x=x, a="a")
        return FORMULAS.get(name, name)

    def param_text(self, names: list[str] | None = None) -> str:
        """`a = 0.34 [0.31, 0.37], E = 1.82 [1.77, 1.87]` for the named (or all) parameters."""
        values = {**self.law.params_, **self.derived}
        spans = {**self.intervals, **self.derived_intervals}
        shown = names or list(self.law.params_)
        parts = []
        for name in shown:
            if name not in values:
                continue
            label = display_name(name, self.law)
            if name == "X0" and self.x_symbol:
                label = f"{self.x_symbol}0"
            text = f"{label} = {fmt(values[name])}"
            if name in spans:
                lo, hi = spans[name]
                text += f" [{fmt(lo)}, {fmt(hi)}]"
            parts.append(text)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the law's own description plus intervals and what it was fitted on."""
        out = dict(self.law.to_dict())
        out.update({
            "key": self.key,
            "label": self.label,
            "formula": self.formula(),
            "note": self.note,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "derived": dict(self.derived),
            "derived_intervals": {k: list(v) for k, v in self.derived_intervals.items()},
            "n_resamples": 0 if self.boot is None else int(self.boot.n_resamples),
        })
        return out


def display_name(name: str, law: Any = None) -> str:
    """Parameter names as a reader of the papers knows them."""
    names = {"alpha": "α", "beta": "β", "n_opt_exponent": "a (N_opt ∝ C^a)",
             "d_opt_exponent": "b (D_opt ∝ C^b)"}
    if name == "X0" and law is not None and hasattr(law, "x"):
        return f"{SYMBOLS.get(law.x, 'X')}0"
    return names.get(name, name)


def fmt(value: float) -> str:
    """Three significant digits, with a compact exponent (4.78e2, 1.3e-5)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    text = f"{value:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


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


def fit_law(
    key: str,
    label: str,
    law: Any,
    data: pd.DataFrame,
    n_resamples: int,
    seed: int,
    note: str = "",
) -> FittedLaw:
    """Fit `law` to `data` and bootstrap it over runs (`n_resamples` = 0: no intervals)."""
    law.fit(data, source=label)
    fitted = FittedLaw(key=key, label=label, law=law, data=data, note=note,
                       derived=dict(law.derived()))
    if n_resamples > 0 and data["run"].nunique() >= 3:
        boot = laws.bootstrap(law, data, n_resamples=n_resamples, seed=seed, source=label)
        fitted.boot = boot
        fitted.intervals = boot.intervals(0.95)
        fitted.derived_intervals = boot.derived_intervals(0.95)
    return fitted


def _attempt(fits: ReportFits, key: str, make: Callable[[], Any]) -> Any:
    """Run one fit; on data that cannot support it, record why in `fits.skipped` and go on."""
    try:
        return make()
    except FIT_ERRORS as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        fits.skipped[key] = message
        return None


def completed_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of finished models: those marked `final` (end of a run or of a cooldown branch).

    Without a `final` column every row counts (a user's table of final losses, or curves the
    user vouches for). Intermediate evaluations of a run still at high learning rate are not
    finished models and would bias L(N, D) and the IsoFLOP minima upwards.
    """
    if "final" in table.columns:
        marked = table["final"].fillna(False).astype(bool)
        if marked.any():
            return table[marked].reset_index(drop=True)
    return table


def allocation_intervals(
    make: Callable[[pd.DataFrame], Any], table: pd.DataFrame, n_resamples: int, seed: int
) -> dict[str, tuple[float, float]]:
    """95% intervals of the N_opt and D_opt exponents of Approach 1 or 2, resampling runs.

    The approaches are least-squares fits with no optimiser to restart, so a bootstrap is just
    the approach rerun on resampled runs; a resample where it finds too few points is skipped.
    """
    if n_resamples <= 0 or table["run"].nunique() < 3:
        return {}
    rng = np.random.default_rng(seed)
    groups = [rows for _, rows in table.groupby("run", sort=False)]
    exponents = []
    for _ in range(n_resamples):
        draw = rng.integers(0, len(groups), size=len(groups))
        resample = pd.concat([groups[i] for i in draw], ignore_index=True)
        try:
            fit = make(resample)
        except FIT_ERRORS:
            continue
        exponents.append((fit.n_exponent, fit.d_exponent))
    if len(exponents) < 2:
        return {}
    values = np.array(exponents)
    lo, hi = np.percentile(values, [2.5, 97.5], axis=0)
    return {"n_opt_exponent": (float(lo[0]), float(hi[0])),
            "d_opt_exponent": (float(lo[1]), float(hi[1]))}


@dataclass
class Allocation:
    """Approach 1 or 2 (`laws.AllocationFit`) with bootstrap intervals on its two exponents."""

    fit: Any
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def text(self) -> str:
        """`N_opt ∝ C^0.50 [0.46, 0.54], D_opt ∝ C^0.50 [0.46, 0.54]`."""
        parts = []
        for label, value, key in (("N_opt", self.fit.n_exponent, "n_opt_exponent"),
                                  ("D_opt", self.fit.d_exponent, "d_opt_exponent")):
            text = f"{label} ∝ C^{fmt(value)}"
            if key in self.intervals:
                lo, hi = self.intervals[key]
                text += f" [{fmt(lo)}, {fmt(hi)}]"
            parts.append(text)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out = self.fit.to_dict()
        out.pop("points", None)
        out["intervals"] = {k: list(v) for k, v in self.intervals.items()}
        return out


@dataclass
class EnvelopeFit:
    """A compute envelope with its L(C) law and Approach 1 allocation: one group's trend."""

    name: str
    rows: pd.DataFrame  # every row of the group
    envelope: pd.DataFrame  # the lower envelope of loss against compute (rows of `rows`)
    allocation: Allocation
    loss_law: FittedLaw


def lower_envelope(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose loss is lower than that of every row with less compute (Kaplan's L(C)).

    Kaplan et al. fit L(C) to this frontier of all learning curves; a run contributes the
    stretch of compute over which it was the best model trained.
    """
    ordered = rows.sort_values(["flops", "loss"], kind="stable")
    best_before = ordered["loss"].cummin().shift(1, fill_value=np.inf)
    return ordered[ordered["loss"] < best_before].reset_index(drop=True)


def fit_envelope(name: str, rows: pd.DataFrame, n_resamples: int, seed: int) -> EnvelopeFit:
    """L(C) = E + (C0/C)^a through the lower envelope of `rows`, and Approach 1 on them."""
    envelope = lower_envelope(rows)
    if len(envelope) < 4:
        raise ScalinglabError(f"{name or 'table'}: only {len(envelope)} envelope points; "
                              "need 4 for L(C)")
    label = f"L(C) {name}".strip()
    loss_law = fit_law(f"l_c:{name}" if name else "l_c", label,
                       laws.get_law("saturating", x="flops"), envelope, n_resamples, seed,
                       note="lower envelope of loss against compute")
    allocation = laws.envelope_fit(rows, source=name or "table")
    intervals = allocation_intervals(lambda t: laws.envelope_fit(t, source=name), rows,
                                     n_resamples, seed)
    return EnvelopeFit(name, rows, envelope, Allocation(allocation, intervals), loss_law)


def compute_multiplier(
    base: EnvelopeFit, other: EnvelopeFit, n_points: int = 3
) -> pd.DataFrame | None:
    """C_other(L) / C_base(L) at matched loss, at `n_points` losses both envelopes reach.

    Inverts each family's L(C) = E + (C0/C)^a; the interval pairs bootstrap resample i of
    one family with resample i of the other. Returns loss, multiplier, lo, hi (or None when the
    envelopes share no loss range).
    """
    lo_loss = max(base.envelope["loss"].min(), other.envelope["loss"].min(),
                  base.loss_law.law.params_["E"], other.loss_law.law.params_["E"])
    hi_loss = min(base.envelope["loss"].max(), other.envelope["loss"].max())
    if not hi_loss > lo_loss:
        return None
    # Inside the shared range, away from its ends, where a fit is least extrapolated.
    losses = lo_loss + (hi_loss - lo_loss) * np.linspace(0.15, 0.85, n_points)

    def ratio(p_base: dict[str, float], p_other: dict[str, float]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return _inverse_saturating(p_other, losses) / _inverse_saturating(p_base, losses)

    point = ratio(base.loss_law.law.params_, other.loss_law.law.params_)
    lo = hi = np.full(n_points, np.nan)
    if base.loss_law.boot is not None and other.loss_law.boot is not None:
        pairs = zip(base.loss_law.boot.samples.to_dict("records"),
                    other.loss_law.boot.samples.to_dict("records"), strict=False)
        samples = np.array([ratio(a, b) for a, b in pairs])
        lo, hi = np.nanpercentile(samples, 2.5, axis=0), np.nanpercentile(samples, 97.5, axis=0)
    return pd.DataFrame({"loss": losses, "multiplier": point, "lo": lo, "hi": hi})


def _inverse_saturating(params: dict[str, float], loss: np.ndarray) -> np.ndarray:
    """C at which E + (C0/C)^a equals `loss` (NaN at or below E)."""
    gap = np.where(loss > params["E"], loss - params["E"], np.nan)
    return params["X0"] * gap ** (-1.0 / params["a"])


def fit_report(
    table: pd.DataFrame,
    n_resamples: int = 200,
    seed: int = 0,
    position_losses: pd.DataFrame | None = None,
) -> ReportFits:
    """Fit every law and analysis the report can show for `table` (a measurements table)."""
    full = table
    table, group = main_group(full)
    fits = ReportFits(table=table, full=full, group=group)
    done = completed_rows(table)
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

    # IsoFLOP profiles and their minima (Approach 2).
    isoflop = _attempt(fits, "isoflop", lambda: laws.isoflop_fit(done, source="IsoFLOP"))
    if isoflop is not None:
        fits.isoflop = Allocation(isoflop, allocation_intervals(
            lambda t: laws.isoflop_fit(t, source="IsoFLOP"), done, n_resamples, seed))

    _fit_groups(fits, n_resamples, seed)
    if "l_nd" in fits.laws:
        _attempt(fits, "backtest", lambda: _backtest(fits, done, n_resamples, seed))
    else:
        fits.skipped["backtest"] = "no L(N, D) fit to backtest"
    if position_losses is not None and not position_losses.empty:
        _fit_positions(fits, position_losses, full, n_resamples, seed)
    else:
        fits.skipped["positions"] = "no loss-by-position table"
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


def position_table(positions: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The loss-by-position table with `family` and `params_nonembedding` for every run.

    A sweep store keeps positions by run name only; the run's family and size come from the
    measurements table.
    """
    missing = [c for c in ("run", "position", "loss") if c not in positions.columns]
    if missing:
        raise ScalinglabError(f"loss-by-position table: missing column(s) {', '.join(missing)}")
    positions = positions.copy()
    positions["run"] = positions["run"].astype(str)
    sizes = table.groupby("run").agg(family=("family", "first"),
                                     params_nonembedding=("params_nonembedding", "max"))
    for column in ("family", "params_nonembedding"):
        if column not in positions.columns:
            positions[column] = positions["run"].map(sizes[column])
    if "params_nonembedding" not in positions and "params" in positions:
        positions["params_nonembedding"] = positions["params"]
    positions = positions.dropna(subset=["family", "params_nonembedding", "loss"])
    return positions[positions["position"] > 0].reset_index(drop=True)


def _fit_positions(fits: ReportFits, positions: pd.DataFrame, table: pd.DataFrame,
                   n_resamples: int, seed: int) -> None:
    """L(t) = L_inf + (t0/t)^a for each run's loss by context position t (Kaplan et al. Fig. 20).

    The law is the saturating one with context position in the role of x; positions are the
    resampled units of the bootstrap, which is run only for each family's largest model.
    """
    positions = position_table(positions, table)
    if positions.empty:
        fits.skipped["positions"] = "loss-by-position table has no runs found in the measurements"
        return
    largest = positions.groupby("family")["params_nonembedding"].transform("max")
    for run, rows in positions.groupby("run", sort=False):
        # Log-spaced positions: each decade of context weighs alike, and the fit stays fast.
        wanted = np.unique(np.round(np.geomspace(1, rows["position"].max(), POSITION_POINTS)))
        fit_rows = rows[rows["position"].isin(wanted)]
        curve = pd.DataFrame({"run": fit_rows["position"].astype(int).astype(str).to_numpy(),
                              "tokens": fit_rows["position"].to_numpy(float),
                              "loss": fit_rows["loss"].to_numpy(float)})
        is_largest = bool((rows["params_nonembedding"] == largest[rows.index]).all())
        fitted = _attempt(fits, f"position:{run}", lambda curve=curve, run=run, big=is_largest:
                          fit_law(f"position:{run}", f"L(t) {run}",
                                  laws.get_law("saturating", x="tokens"), curve,
                                  n_resamples if big else 0, seed,
                                  note="loss by context position t"))
        if fitted is not None:
            fitted.data = rows.reset_index(drop=True)
            fitted.x_symbol = "t"
            fits.positions[str(run)] = fitted


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
