"""Experiment 3: hyperparameter basins (Kaplan et al. 2020, Fig. 5 and Sec. 3.1).

At a fixed non-embedding N, two scans with two seeds each: the aspect ratio d_model / n_layer
(n_layer from 1 to 12, the width solved for N: a 48x range) and the learning rate (1e-3 to
6e-2: 60x). `analyses.basins` reads the loss 3x either side of each scan's best value; the
seed noise of one run comes from the two seeds. Reproduced when both basins are broad (within
3% of the best), not reproduced when either is narrow, otherwise not identifiable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.reproductions.base import (
    NOT_IDENTIFIABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    Experiment,
    Finding,
)
from scalinglab.reproductions.common import figure, overrides

PARAMS = 2e5  # one layer is then d_model 128: aspect 3-128, room for 3x either side of ~30
TOKENS = 3e6
N_LAYERS = (1, 2, 3, 4, 6, 8, 12)
LEARNING_RATES = {"min": 1e-3, "max": 6e-2, "count": 7}
PUBLISHED = ("at fixed N the loss stays within a few percent over a wide range of shapes "
             "and learning rates (Kaplan et al. 2020, Fig. 5)")


def designs(scale: float, seed: int) -> list[dict[str, Any]]:
    common = {"kind": "scan", "corpus": "stdlib", "seeds": [seed, seed + 1000],
              "params": PARAMS * scale**0.5, "tokens": TOKENS * scale, "overrides": overrides()}
    return [{"name": f"basins-aspect-s{seed}", "hyperparameter": "n_layer",
             "values": list(N_LAYERS), **common},
            {"name": f"basins-lr-s{seed}", "hyperparameter": "lr", "values": LEARNING_RATES,
             **common}]


def analyze(tables: Any, n_resamples: int, seed: int) -> Finding:
    from scalinglab.analyses.basins import basin
    from scalinglab.measurements import final_rows

    done = final_rows(tables.measurements)
    done = done.assign(aspect=done["d_model"] / done["n_layer"])
    found = {}
    for hyperparameter, sweep in (("aspect", "basins-aspect"), ("lr", "basins-lr")):
        rows = done[done["sweep"].str.startswith(sweep)]
        noise = two_seed_noise(rows, hyperparameter)
        means = rows.groupby(hyperparameter)["loss"].mean()
        found[hyperparameter] = basin(means.index.to_numpy(float), means.to_numpy(float),
                                      hyperparameter, noise)
    verdicts = [b.verdict for b in found.values()]
    if all(v == "broad" for v in verdicts):
        verdict = REPRODUCED
    elif any(v == "narrow" for v in verdicts):
        verdict = NOT_REPRODUCED
    else:
        verdict = NOT_IDENTIFIABLE
    ours = "; ".join(b.summary() for b in found.values())
    finding = Finding("basins", verdict, ours, PUBLISHED,
                      {k: b.to_dict() for k, b in found.items()})
    finding.figure = _figure(found)
    return finding


def two_seed_noise(rows: Any, column: str) -> float:
    """One run's relative seed noise from runs repeated with several seeds at each value."""
    logs = np.log(rows["loss"].to_numpy(float))
    groups = rows.assign(log_loss=logs).groupby(column)["log_loss"]
    spread = groups.var(ddof=1).dropna()
    return float(np.sqrt(spread.mean())) if len(spread) else 0.0


def _figure(found: dict[str, Any]) -> Any:
    fig, axes = figure(len(found))
    labels = {"aspect": "Aspect ratio d_model / n_layer", "lr": "Peak learning rate"}
    for ax, (name, result) in zip(axes, found.items(), strict=True):
        ax.plot(result.values, result.losses, "o-", color="#1f77b4")
        ax.axvspan(result.best / 3, result.best * 3, color="grey", alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel(labels.get(name, name))
        ax.set_ylabel("Final loss (nats/token)")
        ax.set_title(result.verdict.split(" (")[0], fontsize=9)
    return fig


EXPERIMENT = Experiment(
    "basins", "Hyperparameter basins: aspect ratio and learning rate at fixed N",
    "Kaplan et al. 2020, Fig. 5", 30.0, designs, analyze)
