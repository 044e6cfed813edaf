"""Experiment 6: memorization, by the lecture's recipe (per-sequence loss on repeated text).

Three transformer sizes train 4e6 tokens on the first 1.25e5 or 5e5 tokens of stdlib (32 or 8
passes), and at the end record the mean loss of each of 256 training windows (text seen at every
pass) and 256 validation windows (fresh text; `RunConfig.sequence_losses`). Per run,
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
UNIQUE_TOKENS = (1.25e5, 5e5)
TOKENS = 4e6
SEQUENCES = 256
PUBLISHED = ("sequences seen many times form a second, low-loss mode of per-sequence loss, and "
             "bigger models and more repetitions memorize more (the lecture; Carlini et al. "
             "2022)")


def designs(scale: float, seed: int) -> list[dict[str, Any]]:
    return [{"name": f"memorization-D{unique:.0f}-s{seed}", "kind": "grid", "corpus": "stdlib",
             "seeds": [seed], "params": scaled_sizes(SIZES, scale), "tokens": [TOKENS * scale],
             "overrides": overrides(unique_tokens=int(unique), sequence_losses=SEQUENCES)}
            for unique in UNIQUE_TOKENS]


def analyze(tables: Any, n_resamples: int, seed: int) -> Finding:
    from scalinglab.analyses.memorization import memorization, sequence_losses
    from scalinglab.errors import ScalinglabError

    losses = sequence_losses(tables.accuracies)
    if not losses:
        raise ScalinglabError(f"{tables.source}: no per-sequence losses (runs trained with "
                              "sequence_losses)")
    sizes = tables.measurements.groupby("run").agg(
        params=("params_nonembedding", "max"), unique=("unique_tokens", "max"),
        tokens=("tokens", "max"))
    rows = []
    for run, (repeated, fresh) in losses.items():
        result = memorization(repeated, fresh, n_resamples, seed)
        info = sizes.loc[run]
        rows.append({"run": run, "params": float(info["params"]),
                     "passes": float(info["tokens"] / info["unique"]), **result.to_dict()})
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
