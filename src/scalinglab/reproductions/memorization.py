"""Experiment 6: memorization, by the lecture's recipe (per-sequence loss on repeated text).

Three transformer sizes train 4e6 tokens of stdlib in which a small subset is repeated: a
quarter of every batch (2 of its 8 windows) comes from the first 15,625 or 62,500 training
tokens (about 64 or 16 passes over them by the end), the rest from the text after them, seen at
most once (`RunConfig.repeated_tokens`, `repeated_fraction`). At the end each run records the
mean loss of each of 256 windows of the subset (fewer where it holds fewer) and of 256
validation windows (fresh text; `RunConfig.sequence_losses`). Per run,
`analyses.memorization` splits the repeated windows' log losses into two modes where two
Gaussians win and separate, with the low mode below the fresh windows' lowest 1%: the fraction
memorized. Verdict: some run has a memorized mode and, at the most repeated data, the largest
model memorizes at least as much as the smallest: reproduced; a memorized mode that shrinks with
size: not reproduced; no memorized mode anywhere: not identifiable (more passes or bigger
models would be needed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scalinglab.reproductions.base import (
    NOT_IDENTIFIABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    Experiment,
    Finding,
)
from scalinglab.reproductions.common import figure, label_axes, overrides, scaled_sizes

SIZES = (3120, 12384, 55536)
SUBSETS = (15_625, 62_500)  # tokens repeated: ~64 and ~16 passes at a quarter of 4e6 tokens
REPEATED_FRACTION = 0.25
TOKENS = 4e6
SEQUENCES = 256
PUBLISHED = ("sequences seen many times form a second, low-loss mode of per-sequence loss, and "
             "bigger models and more repetitions memorize more (the lecture; Carlini et al. "
             "2022)")


def designs(scale: float, seed: int) -> list[dict[str, Any]]:
    # --scale grows the subsets with the tokens, so the passes stay as designed.
    return [{"name": f"memorization-R{subset}-s{seed}", "kind": "grid", "corpus": "stdlib",
             "seeds": [seed], "params": scaled_sizes(SIZES, scale), "tokens": [TOKENS * scale],
             "overrides": overrides(repeated_tokens=int(subset * scale),
                                    repeated_fraction=REPEATED_FRACTION,
                                    sequence_losses=SEQUENCES)}
            for subset in SUBSETS]


def analyze(tables: Any, n_resamples: int, seed: int) -> Finding:
    from scalinglab.analyses.memorization import memorization, sequence_losses
    from scalinglab.errors import ScalinglabError

    losses = sequence_losses(tables.accuracies)
    if not losses:
        raise ScalinglabError(f"{tables.source}: no per-sequence losses (runs trained with "
                              "sequence_losses)")
    rows = []
    for run, (repeated, fresh) in losses.items():
        result = memorization(repeated, fresh, n_resamples, seed)
        runs = tables.measurements[tables.measurements["run"] == run]
        rows.append({"run": run, "params": float(runs["params_nonembedding"].max()),
                     "passes": passes(runs), **result.to_dict()})
    table = pd.DataFrame(rows).sort_values(["passes", "params"])
    most = table[table["passes"] == table["passes"].max()]
    if not table["bimodal"].any():
        verdict = NOT_IDENTIFIABLE
    elif most["fraction"].iloc[-1] >= most["fraction"].iloc[0]:
        verdict = REPRODUCED
    else:
        verdict = NOT_REPRODUCED
    ours = "; ".join(f"N = {r.params:.3g}, {r.passes:.0f} passes: {r.verdict}"
                     for r in table.itertuples())
    finding = Finding("memorization", verdict, ours, PUBLISHED,
                      {"runs": table.to_dict("records")})
    if verdict == NOT_IDENTIFIABLE:
        finding.notes.append("no run memorized: more passes or bigger models would be needed")
    finding.figure = _figure(table, losses)
    return finding


def passes(rows: pd.DataFrame) -> float:
    """Passes over the repeated text by a run's end: over its repeated subset, or (runs on a
    cut training set, `unique_tokens`) over the whole of it."""
    if "repeated_passes" in rows.columns and rows["repeated_passes"].notna().any():
        return float(rows["repeated_passes"].max())
    return float(rows["tokens"].max() / rows["unique_tokens"].max())


def _figure(table: pd.DataFrame, losses: dict[str, Any]) -> Any:
    fig, (left, right) = figure(2)
    run = table.sort_values(["fraction", "params"]).iloc[-1]["run"]
    repeated, fresh = losses[run]
    bins = np.linspace(np.log(min(repeated.min(), fresh.min())),
                       np.log(max(repeated.max(), fresh.max())), 40)
    left.hist(np.log(fresh), bins=bins, alpha=0.6, label="fresh")
    left.hist(np.log(repeated), bins=bins, alpha=0.6, label="repeated")
    left.set_xlabel("log per-sequence loss")
    left.set_ylabel("sequences")
    left.set_title(str(run), fontsize=8)
    left.legend(fontsize=7)
    for passes, group in table.groupby("passes"):
        right.plot(group["params"], group["fraction"], "o-", label=f"{passes:.0f} passes")
    label_axes(right, "Parameters N (non-embedding)", "fraction memorized", logy=False)
    return fig


EXPERIMENT = Experiment(
    "memorization", "Memorization: per-sequence loss on repeated against fresh text",
    "the CS224N lecture's recipe (Carlini et al. 2022)", 20.0, designs, analyze)
