"""Loss by token position: L(t) = L_inf + (t0/t)^a per model, and whether context keeps helping.

Kaplan et al. (2020, Fig. 20 and Sec. 3.2.1) found that a transformer's per-token loss keeps
falling as a power law in its position t in the context, while an LSTM's stops improving after
about 100 tokens. Each model's curve is fitted with the saturating law in t (L_inf is the law's
E); the bootstrap resamples positions, the only independent unit one curve has.

The criterion, per family (on its largest model, where the difference is clearest): the relative
gain of the fitted L(t) from t_from = min(100, T/4) to the last position T,
(L(t_from) - L(T)) / L(t_from), with its 95% interval. Above `PLATEAU_GAIN` with the whole
interval, the model "keeps improving"; below it with the whole interval, it "plateaus";
otherwise the data cannot tell ("unclear").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab import laws
from scalinglab.analyses.fitted import FIT_ERRORS, FittedLaw, fit_law, fmt
from scalinglab.errors import ScalinglabError

# Log-spaced bins of context positions each fit averages over (every decade weighs alike).
POSITION_POINTS = 48
# Kaplan et al.: LSTMs stop improving after about this many tokens of context.
CONTEXT_FROM = 100
# A relative loss gain below this from t_from to the last position counts as a plateau (1%).
PLATEAU_GAIN = 0.01


@dataclass
class ContextGain:
    """How much one model's fitted L(t) still falls from `t_from` to `t_to` (relative)."""

    family: str
    run: str
    params_nonembedding: float
    t_from: float
    t_to: float
    gain: float  # (L(t_from) - L(t_to)) / L(t_from) of the fitted law
    interval: tuple[float, float]  # 95%, NaN without a bootstrap
    measured_gain: float  # the same from the measured losses at the nearest positions
    verdict: str  # "keeps improving", "plateaus" or "unclear"
    position_se: float = float("nan")  # standard error of one position's loss (see below)

    def text(self) -> str:
        """`loss falls 8.1% [7.2, 9.0] from t = 100 to 512: keeps improving`."""
        lo, hi = self.interval
        span = f" [{100 * lo:.2g}, {100 * hi:.2g}]" if np.isfinite(lo) else ""
        return (f"loss falls {100 * self.gain:.2g}%{span} from t = {self.t_from:g} to "
                f"{self.t_to:g}: {self.verdict} (one position's loss has a standard error of "
                f"{self.position_se:.2g} nats)")

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "run": self.run,
                "params_nonembedding": self.params_nonembedding, "t_from": self.t_from,
                "t_to": self.t_to, "gain": self.gain, "interval": list(self.interval),
                "measured_gain": self.measured_gain, "verdict": self.verdict,
                "plateau_gain": PLATEAU_GAIN, "position_se": self.position_se}


@dataclass
class PositionFits:
    """L(t) per run (`laws`, keyed by run), why a run has none (`skipped`), and per family the
    context gain of its largest model (`families`)."""

    laws: dict[str, FittedLaw] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    families: dict[str, ContextGain] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "families": {k: v.to_dict() for k, v in self.families.items()},
            "runs": {run: {"family": str(f.data["family"].iloc[0]),
                           "params_nonembedding": float(f.data["params_nonembedding"].iloc[0]),
                           "law": f.to_dict()} for run, f in self.laws.items()},
            "skipped": dict(self.skipped),
        }


def position_table(positions: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The loss-by-position table with `family` and `params_nonembedding` for every run.

    A sweep store keeps positions by run name only; the run's family and size come from the
    measurements table. Position 0 or below, and runs not in `table`, are dropped.
    """
    missing = [c for c in ("run", "position", "loss") if c not in positions.columns]
    if missing:
        raise ScalinglabError(f"loss-by-position table: missing column(s) {', '.join(missing)}")
    positions = positions.copy()
    positions["run"] = positions["run"].astype(str)
    sizes = table.assign(run=table["run"].astype(str)).groupby("run").agg(
        family=("family", "first"), params_nonembedding=("params_nonembedding", "max"))
    for column in ("family", "params_nonembedding"):
        if column not in positions.columns:
            positions[column] = positions["run"].map(sizes[column])
    positions = positions.dropna(subset=["family", "params_nonembedding", "loss"])
    return positions[positions["position"] > 0].reset_index(drop=True)


def fit_position_law(run: str, rows: pd.DataFrame, n_resamples: int = 0, seed: int = 0
                     ) -> FittedLaw:
    """L(t) = L_inf + (t0/t)^a for one run's losses by position (`position`, `loss` columns).

    The fit sees the mean loss of every position in each of `POSITION_POINTS` log-spaced bins
    (at the bins' mean position): every decade of context weighs alike, and a late bin averages
    many positions' noise instead of keeping one. Bins are the bootstrap's resampled units.
    The returned law's `data` is every row.
    """
    position = rows["position"].to_numpy(float)
    bins = np.floor(np.log(position) / np.log(position.max() + 1) * POSITION_POINTS)
    binned = rows.assign(bin=bins).groupby("bin").agg(position=("position", "mean"),
                                                      loss=("loss", "mean"))
    curve = pd.DataFrame({"run": [f"t{t:.1f}" for t in binned["position"]],
                          "tokens": binned["position"].to_numpy(float),
                          "loss": binned["loss"].to_numpy(float)})
    fitted = fit_law(f"position:{run}", f"L(t) {run}", laws.get_law("saturating", x="tokens"),
                     curve, n_resamples, seed, note="loss by context position t")
    fitted.data = rows.sort_values("position").reset_index(drop=True)
    fitted.x_symbol = "t"
    return fitted


def context_gain(fitted: FittedLaw, t_from: float | None = None,
                 plateau_gain: float = PLATEAU_GAIN) -> ContextGain:
    """The relative gain of the fitted L(t) from `t_from` (default min(100, T/4)) to T."""
    rows = fitted.data
    t_to = float(rows["position"].max())
    t_from = float(t_from if t_from is not None else min(CONTEXT_FROM, np.floor(t_to / 4)))

    def gain_of(law: Any) -> float:
        start, end = law.predict({"tokens": np.array([t_from, t_to])})
        return float((start - end) / start)

    gain = gain_of(fitted.law)
    lo = hi = float("nan")
    if fitted.boot is not None:
        lo_a, hi_a = fitted.boot.quantity(gain_of)
        lo, hi = float(lo_a), float(hi_a)
    position, loss = rows["position"].to_numpy(float), rows["loss"].to_numpy(float)
    start = loss[np.argmin(np.abs(position - t_from))]
    end = loss[np.argmin(np.abs(position - t_to))]
    low, high = (lo, hi) if np.isfinite(lo) else (gain, gain)
    verdict = ("keeps improving" if low > plateau_gain
               else "plateaus" if high < plateau_gain else "unclear")
    return ContextGain(str(rows["family"].iloc[0]), str(fitted.label.removeprefix("L(t) ")),
                       float(rows["params_nonembedding"].iloc[0]), t_from, t_to, gain,
                       (lo, hi), float((start - end) / start), verdict,
                       position_standard_error(position, loss, t_from))


def position_standard_error(position: np.ndarray, loss: np.ndarray, t_from: float) -> float:
    """The noise of one position's mean loss past `t_from`, from adjacent positions' differences.

    Past t_from the true curve changes far less between neighbours than the validation set's
    sampling noise, so the differences' spread over sqrt(2) is that noise (the validation set's
    standard error per position), with no model of the curve.
    """
    order = np.argsort(position)
    late = loss[order][position[order] >= t_from]
    if late.size < 3:
        return float("nan")
    return float(np.std(np.diff(late), ddof=1) / np.sqrt(2))


def fit_positions(positions: pd.DataFrame, table: pd.DataFrame, n_resamples: int = 200,
                  seed: int = 0, bootstrap_all: bool = False) -> PositionFits:
    """L(t) for every run in `positions`, and the context gain of each family's largest model.

    `table` is the measurements table (for each run's family and size). Only each family's
    largest model is bootstrapped unless `bootstrap_all`. A run whose fit fails is recorded in
    `skipped` with the reason.
    """
    out = PositionFits()
    positions = position_table(positions, table)
    if positions.empty:
        raise ScalinglabError("loss-by-position table has no runs found in the measurements")
    largest = positions.groupby("family")["params_nonembedding"].transform("max")
    for run, rows in positions.groupby("run", sort=False):
        is_largest = bool((rows["params_nonembedding"] == largest[rows.index]).all())
        resamples = n_resamples if (is_largest or bootstrap_all) else 0
        try:
            out.laws[str(run)] = fit_position_law(str(run), rows, resamples, seed)
        except FIT_ERRORS as error:
            out.skipped[str(run)] = str(error).strip().splitlines()[0] or type(error).__name__
    for family in sorted(positions["family"].astype(str).unique()):
        fitted = [f for f in out.laws.values() if str(f.data["family"].iloc[0]) == family]
        if fitted:
            biggest = max(fitted, key=lambda f: float(f.data["params_nonembedding"].iloc[0]))
            out.families[family] = context_gain(biggest)
    return out


def summary(fits: PositionFits) -> str:
    """`transformer (N = 3.3e5): loss falls ...; lstm (N = 1e5): ...` for each family."""
    return "; ".join(f"{family} (N = {fmt(gain.params_nonembedding)}): {gain.text()}"
                     for family, gain in fits.families.items())
