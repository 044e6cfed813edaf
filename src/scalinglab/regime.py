"""The fit regime: which rows a law of annealed, post-warmup, post-plateau training describes.

A law such as E + A/N^alpha + B/D^beta describes models trained to the end of a schedule, past
warmup and past the early plateau on which a byte model still learns unigram and bigram
statistics (science.md, section 2). `fit_regime` applies one stated, automatic rule and says
which rows it kept and why it left out the others:

(a) Finished rows only (`measurements.is_finished`): the end of a run or of a cooldown branch.
    An evaluation taken at the running learning rate is not an annealed model.
(b) Past warmup: tokens >= `warmup_multiple` (4) x the run's warmup tokens, where the warmup is
    known: a `warmup_tokens` column (training records it), else the last token count of rows
    in `phase` "warmup", else, for the lab's own runs recorded before `warmup_tokens` was (rows
    with a `schedule`), the lab's default warmup, `schedules.WARMUP_FRACTION` of the run's
    tokens. 4x, not 5x: with the default 5% warmup it puts the cut at 20% of a run's tokens,
    clear of the curves design's first cooldown branch at 25%, instead of on it, where batch
    rounding would decide.
(c) Past the early plateau: E + B/D^beta has a log-log slope that only flattens as D grows, so
    a learning curve that first sits on a plateau and then falls faster than any power law is
    not of that form before the point where its log-log slope is steepest. A run's learning
    curve is its trunk's evaluations at the running learning rate: cooldown branches, a WSD
    run's own cooldown and the finished end are left out (the last only while 3 evaluations
    remain), so that an anneal's drop is not taken for the plateau's. The slopes between
    successive evaluations are smoothed by a running median of 3 (the two end slopes stay
    raw; ties are broken by the raw slope), and the run's rows below the end of the steepest
    smoothed segment are left out. A curve steepest at its first segment (flattening from the
    start, as the form does) loses nothing to this clause; nor does a run of fewer than 3
    evaluations, such as a row of a published table.

A run that loses all of its finished rows is reported, not dropped silently: the reason of its
rows says "(all of the run's finished rows)", and `lost_runs` names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglab import schedules
from scalinglab.jsonable import to_jsonable
from scalinglab.measurements import FINAL_FROM, UNMARKED, is_finished

WARMUP_MULTIPLE = 4.0
SMOOTHING_WINDOW = 3  # evaluations' slopes in the running median

NOT_FINISHED = "not finished"
UNMARKED_EVALUATION = "unmarked (not the run's last evaluation)"  # in a table marking no row
WARMUP = "warmup"
PLATEAU = "early plateau"
WHOLE_RUN = " (all of the run's finished rows)"


@dataclass(frozen=True, eq=False)
class Regime:
    """The rows a law may be fitted to, the rows left out (with a `reason`), and the rule.

    `thresholds` has one row per run: `warmup_tokens` and where it came from
    (`warmup_from`: "column", "phase", "lab default" or None when unknown), `min_tokens`
    (warmup_multiple x warmup_tokens) and `plateau_end_tokens` (NaN where the curve has no
    interior steepest point).
    """

    rows: pd.DataFrame
    excluded: pd.DataFrame
    rule: str
    thresholds: pd.DataFrame
    lost_runs: tuple[str, ...]
    warmup_multiple: float = WARMUP_MULTIPLE

    def counts(self) -> dict[str, int]:
        """Rows left out, by reason."""
        return {str(k): int(v) for k, v in self.excluded["reason"].value_counts().items()}

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "rule": self.rule,
            "n_rows": len(self.rows),
            "n_excluded": len(self.excluded),
            "excluded": self.counts(),
            "lost_runs": list(self.lost_runs),
            "warmup_multiple": self.warmup_multiple,
            "smoothing_window": SMOOTHING_WINDOW,
            "thresholds": self.thresholds.to_dict("records"),
        })


def fit_regime(table: pd.DataFrame, warmup_multiple: float = WARMUP_MULTIPLE,
               finished_only: bool = True) -> Regime:
    """Split a measurements table into the rows a law may be fitted to and the rest (module doc).

    `finished_only` False keeps evaluations taken during training too (clauses b and c still
    apply): the lower envelope of learning curves, which compares families at matched loss
    after warmup, is made of them.
    """
    table = table.reset_index(drop=True)
    runs = table["run"].astype(str)
    thresholds = pd.DataFrame([
        {"run": run, **_warmup(rows), **{"plateau_end_tokens": plateau_end(_curve(rows))}}
        for run, rows in table.groupby(runs, sort=False)
    ], columns=["run", "warmup_tokens", "warmup_from", "plateau_end_tokens"])
    thresholds.insert(3, "min_tokens", warmup_multiple * thresholds["warmup_tokens"])
    by_run = thresholds.set_index("run")
    tokens = table["tokens"].to_numpy(float)
    min_tokens = runs.map(by_run["min_tokens"]).to_numpy(float)
    plateau = runs.map(by_run["plateau_end_tokens"]).to_numpy(float)

    finished = (is_finished(table).to_numpy(bool) if finished_only
                else np.ones(len(table), dtype=bool))
    reason = np.full(len(table), "", dtype=object)
    reason[~finished] = NOT_FINISHED
    reason[~finished & _unmarked(table)] = UNMARKED_EVALUATION
    reason[(reason == "") & (tokens < min_tokens)] = WARMUP  # NaN (unknown) compares False
    reason[(reason == "") & (tokens < plateau)] = PLATEAU
    kept = reason == ""
    lost = sorted(set(runs[finished]) - set(runs[kept]))
    whole = runs.isin(lost).to_numpy() & finished
    reason[whole] = reason[whole] + WHOLE_RUN

    excluded = table[~kept].assign(reason=reason[~kept]).reset_index(drop=True)
    return Regime(
        rows=table[kept].reset_index(drop=True),
        excluded=excluded,
        rule=_rule(thresholds, warmup_multiple, _finished_words(table)) if finished_only else
        "every evaluation (learning curves), " + _rule(thresholds, warmup_multiple, ""),
        thresholds=thresholds,
        lost_runs=tuple(lost),
        warmup_multiple=warmup_multiple,
    )


def plateau_end(curve: pd.DataFrame) -> float | None:
    """Tokens where a learning curve's steepest log-log descent ends; None if not interior.

    `curve` has `tokens` and `loss` (one run). Slopes d log L / d log D between successive
    token counts are smoothed by a running median of `SMOOTHING_WINDOW`; the steepest smoothed
    segment (ties broken by the raw slope) ends at the returned token count. When the steepest
    segment is the first, the slope only flattens, as E + B/D^beta does, and there is no
    plateau to leave out.
    """
    points = curve.groupby("tokens")["loss"].mean().sort_index()
    if len(points) < 3:
        return None
    log_d, log_l = np.log(points.index.to_numpy(float)), np.log(points.to_numpy(float))
    raw = np.diff(log_l) / np.diff(log_d)
    # The end slopes stay raw: a shortened window would average them with their neighbour.
    smooth = pd.Series(raw).rolling(SMOOTHING_WINDOW, center=True).median().to_numpy()
    smooth = np.where(np.isnan(smooth), raw, smooth)
    ties = np.flatnonzero(smooth <= smooth.min() + 1e-12)
    steepest = int(ties[np.argmin(raw[ties])])
    return None if steepest == 0 else float(points.index[steepest + 1])


def _curve(rows: pd.DataFrame) -> pd.DataFrame:
    """A run's learning curve: its trunk's evaluations at the running learning rate (module doc)."""
    if "phase" in rows.columns:
        rows = rows[rows["phase"] != "cooldown"]
    if "schedule" in rows.columns and (rows["schedule"] == "wsd").all():
        decay_start = (1.0 - schedules.COOLDOWN_FRACTION) * rows["tokens"].max()
        rows = rows[rows["tokens"] <= decay_start]  # the trunk's own cooldown is an anneal
    running = rows[~is_finished(rows)] if "final" in rows.columns else rows
    return running if len(running) >= 3 else rows


def _warmup(rows: pd.DataFrame) -> dict[str, Any]:
    """A run's warmup tokens and where they come from (module doc, clause b)."""
    if "warmup_tokens" in rows.columns and rows["warmup_tokens"].notna().any():
        return {"warmup_tokens": float(rows["warmup_tokens"].max()), "warmup_from": "column"}
    if "phase" in rows.columns and (rows["phase"] == "warmup").any():
        last = rows.loc[rows["phase"] == "warmup", "tokens"].max()
        return {"warmup_tokens": float(last), "warmup_from": "phase"}
    if "schedule" in rows.columns and rows["schedule"].notna().any():
        budget = float(rows["tokens"].max())
        return {"warmup_tokens": schedules.WARMUP_FRACTION * budget, "warmup_from": "lab default"}
    return {"warmup_tokens": float("nan"), "warmup_from": None}


def _span(values: pd.Series) -> str:
    """`8.1e5 tokens` or `6.0e4 to 1.2e5 tokens`."""
    values = values.dropna()
    low, high = (f"{v:.1e}".replace("e+0", "e").replace("e+", "e")
                 for v in (float(values.min()), float(values.max())))
    return f"{low} tokens" if low == high else f"{low} to {high} tokens"


def _unmarked(table: pd.DataFrame) -> np.ndarray:
    """Rows whose `final` mark comes from the last-evaluation rule (the table marked none)."""
    if FINAL_FROM in table.columns:
        return (table[FINAL_FROM] == UNMARKED).to_numpy(bool)
    marked = "final" in table.columns and not table["final"].isna().all()
    return np.full(len(table), not marked)


def _finished_words(table: pd.DataFrame) -> str:
    """What counts as finished here, in words: marked rows, or runs' last evaluations."""
    runs = table["run"].astype(str)
    unmarked = runs[_unmarked(table)].nunique()
    if unmarked == 0 or runs.nunique() == len(table):  # nothing marked, nothing left out
        return "finished (annealed) rows, "
    if unmarked == table["run"].nunique():
        return ("each run's last evaluation (its evaluations are unmarked, so the others are "
                "left out as unmarked evaluations), ")
    return (f"finished (annealed) rows, or the last evaluation of the {unmarked} runs whose "
            "evaluations are unmarked, ")


def _rule(thresholds: pd.DataFrame, warmup_multiple: float,
          finished: str = "finished (annealed) rows, ") -> str:
    """The rule in one sentence, with the thresholds found."""
    known = thresholds["min_tokens"].notna()
    if known.any():
        assumed = (thresholds["warmup_from"] == "lab default").sum()
        unknown = f"; warmup unknown for {(~known).sum()} runs" if not known.all() else ""
        if assumed:
            unknown += (f"; the lab's default warmup ({schedules.WARMUP_FRACTION:.0%} of the "
                        f"tokens) for {assumed} runs recorded without theirs")
        warmup = (f"at least {warmup_multiple:g}x their run's warmup tokens "
                  f"({_span(thresholds['min_tokens'])}{unknown})")
    else:
        warmup = "past warmup where known (it is not known for any run here)"
    ends = thresholds["plateau_end_tokens"]
    if ends.notna().any():
        plateau = (f"at or past the end of their run's steepest log-log descent of loss against "
                   f"tokens, where the early plateau ends ({_span(ends)}, in "
                   f"{ends.notna().sum()} of {len(ends)} runs; running median of "
                   f"{SMOOTHING_WINDOW} slopes)")
    else:
        plateau = ("past the early plateau (no run's learning curve has an interior steepest "
                   "point, so none is cut)")
    return f"{finished}{warmup}, and {plateau}"
