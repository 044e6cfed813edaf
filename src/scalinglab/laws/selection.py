"""`--law auto`: choose among L(N, D) forms by how well each extrapolates within the data.

Model selection must not look at what it will be tested on: each candidate is fitted to the
runs of every size but the largest (in the law's N) and scored by its median absolute relative
error on the largest size's rows, which it did not see. The winner is refitted on everything.
With fewer than `MIN_SIZES` sizes there is nothing to extrapolate to and selection refuses.

`holdout="compute"` holds out the rows within a factor `COMPUTE_HOLDOUT` of the largest compute:
the direction a compute-optimal prediction extrapolates in. On a design whose largest size has
a single short run (an IsoFLOP design's top budget), the largest-size score rests on one row
at the edge of the fit regime and picked a law that then missed a 4x backtest by 10%
(docs/demo.md, seed 1); the compute hold-out scores on every size of the top budget.

Candidates by default: Chinchilla's E + A/N^alpha + B/D^beta, Kaplan's L(N, D), and Chinchilla's
form with alpha = beta (Gadre et al. 2024; Muennighoff et al. 2023).

The winner is not the only answer: every candidate that fitted is refitted on all rows and kept
(`forms`), and those whose held-out error the held-out rows cannot tell from the winner's are
`tied` (within `TIE_STANDARD_ERRORS` standard errors of a median absolute relative error of
that many rows at the winner's residual noise, `tie_margin`). A prediction then carries the
spread of the tied forms (`predictions.predict`), the largest error an interval conditional on
one form leaves out (science.md, section 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import Law
from scalinglab.laws.registry import get_law
from scalinglab.progress import report

CANDIDATES = ("chinchilla", "kaplan-nd", "chinchilla-tied")
MIN_SIZES = 4
# holdout="compute": the rows within this factor of the largest compute (on a design whose
# budgets are 2x apart, the top budget and nothing else)
COMPUTE_HOLDOUT = 1.5
MIN_HELD_OUT_ROWS = 3
# Forms within this many standard errors of the winner's held-out error are tied with it.
TIE_STANDARD_ERRORS = 2.0
# The standard error of the median of n absolute values of N(0, s^2) noise: 1 / (2 f(m) sqrt(n))
# with f the half-normal density at its median m = 0.674 s, f(m) = 0.636 / s: 0.787 s / sqrt(n).
MEDIAN_ABS_SE = 0.787
# Fit failures on unsuitable data; anything else is a bug and propagates.
_FIT_ERRORS = (ScalinglabError, ValueError, ArithmeticError, np.linalg.LinAlgError)


@dataclass
class Selection:
    """The chosen law (fitted on every row), each candidate's held-out error, and why."""

    law: Law
    scores: dict[str, float]  # median ARE on the largest size, per candidate that fitted
    failed: dict[str, str] = field(default_factory=dict)  # candidate -> why it could not fit
    held_out_size: float = float("nan")
    n_train_rows: int = 0
    n_check_rows: int = 0
    held_out_flops: float = float("nan")  # holdout="compute": the lowest held-out compute
    forms: dict[str, Law] = field(default_factory=dict)  # every candidate, fitted on all rows
    tie_margin: float = 0.0  # a form within this of the winner's score is tied with it

    @property
    def tied(self) -> tuple[str, ...]:
        """The other forms the held-out rows cannot tell from the winner, best first."""
        best = self.scores[self.winner]
        return tuple(name for name, score in sorted(self.scores.items(), key=lambda kv: kv[1])
                     if name != self.winner and name in self.forms
                     and score - best <= self.tie_margin)

    @property
    def winner(self) -> str:
        return self.law.name

    def sentence(self) -> str:
        """E.g. "kaplan-nd chosen: 1.20% median error predicting the largest size ..."."""
        ranked = sorted(self.scores.items(), key=lambda kv: kv[1])
        others = ", ".join(f"{100 * v:.2f}% ({k})" for k, v in ranked[1:])
        target = (f"the largest size (N = {self.held_out_size:.3g}) from the smaller"
                  if np.isnan(self.held_out_flops) else
                  f"the runs of at least {self.held_out_flops:.3g} FLOPs from the rest")
        text = (f"{self.winner} chosen: {100 * self.scores[self.winner]:.2f}% median error "
                f"predicting {target}")
        text += f", against {others}" if others else ""
        if self.tied:
            text += (f"; tied with it within the held-out rows' noise "
                     f"({100 * self.tie_margin:.2g} points): {', '.join(self.tied)}, whose "
                     "predictions enter every interval")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"winner": self.winner, "scores": dict(self.scores), "failed": dict(self.failed),
                "held_out_size": self.held_out_size, "n_train_rows": self.n_train_rows,
                "n_check_rows": self.n_check_rows, "held_out_flops": self.held_out_flops,
                "tie_margin": self.tie_margin, "tied": list(self.tied),
                "sentence": self.sentence()}


def select_law(
    table: pd.DataFrame,
    candidates: Sequence[str] = CANDIDATES,
    params_column: str = "params",
    source: str = "table",
    holdout: str = "size",
) -> Selection:
    """Fit each candidate without the largest size (or, `holdout="compute"`, without the rows
    within `COMPUTE_HOLDOUT` of the largest compute), score it there, refit the winner on all."""
    if params_column not in table.columns:
        raise ScalinglabError(f"{source}: missing column {params_column!r}")
    sizes = np.sort(table[params_column].astype(float).unique())
    if len(sizes) < MIN_SIZES:
        raise ScalinglabError(
            f"{source}: --law auto needs at least {MIN_SIZES} model sizes to hold the largest "
            f"out, the data have {len(sizes)}"
        )
    held_out_flops = float("nan")
    if holdout == "size":
        largest = table[params_column].astype(float) == sizes[-1]
    elif holdout == "compute":
        if "flops" not in table.columns:
            raise ScalinglabError(f"{source}: holding out by compute needs a 'flops' column")
        held_out_flops = float(table["flops"].max()) / COMPUTE_HOLDOUT
        largest = table["flops"].astype(float) >= held_out_flops
        if largest.sum() < MIN_HELD_OUT_ROWS or (~largest).sum() < MIN_HELD_OUT_ROWS:
            raise ScalinglabError(f"{source}: the top factor {COMPUTE_HOLDOUT:g} of compute "
                                  f"holds {int(largest.sum())} of {len(table)} rows; need at "
                                  f"least {MIN_HELD_OUT_ROWS} on each side")
    else:
        raise ScalinglabError(f"unknown hold-out {holdout!r}; choose size or compute")
    train, check = table[~largest], table[largest]
    measured = check["loss"].to_numpy(float)
    scores, failed = {}, {}
    for done, name in enumerate(candidates):
        report("law selection", done, len(candidates), name)
        law = get_law(name, params_column=params_column)
        try:
            law.fit(train, source=f"{source} ({name}, without the held-out rows)")
        except _FIT_ERRORS as error:
            failed[name] = str(error).splitlines()[0] if str(error) else type(error).__name__
            continue
        scores[name] = float(np.median(np.abs(law.predict(check) - measured) / measured))
    report("law selection", len(candidates), len(candidates))
    if not scores:
        raise ScalinglabError(f"{source}: no candidate law could be fitted ({failed})")
    winner = min(scores, key=scores.__getitem__)
    law = get_law(winner, params_column=params_column).fit(table, source)
    forms = {winner: law}
    for name in scores:
        if name != winner:
            try:
                forms[name] = get_law(name, params_column=params_column).fit(table, source)
            except _FIT_ERRORS as error:
                failed[name] = str(error).splitlines()[0] if str(error) else type(error).__name__
    return Selection(law, scores, failed, float(sizes[-1]), len(train), len(check),
                     held_out_flops, forms, _tie_margin(law, table, len(check)))


def _tie_margin(law: Law, table: pd.DataFrame, n_check: int) -> float:
    """Two standard errors of a median absolute relative error of `n_check` rows, at the
    relative noise the winner leaves in its residuals (docs/uncertainty.md)."""
    residuals = np.log(table["loss"].to_numpy(float)) - np.log(law.predict(table))
    dof = max(1, residuals.size - law.n_params)
    noise = float(np.sqrt(np.sum(residuals**2) / dof))
    return TIE_STANDARD_ERRORS * MEDIAN_ABS_SE * noise / np.sqrt(max(1, n_check))
