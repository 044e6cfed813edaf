"""Experiment 5: overfitting and the data needed to avoid it (Kaplan et al. 2020, Sec. 4).

Four transformer sizes train 8e6 tokens each on the first 2.5e5, 1e6, 4e6 or 1.6e7 tokens of
stdlib (the last never repeats: the infinite-data reference), 16 evaluations per run so the
early-stopping point is resolved. `analyses.overfitting` fits Kaplan's L(N, D) on the
early-stopped losses and gives D_min(N) = k N^(aN/aD), the data that keeps the loss within 2%
of its infinite-data value. Verdict on the exponent against Kaplan's 0.74: its interval holds
0.74: reproduced; excludes it: not reproduced; wider than 0.5: not identifiable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.reproductions.base import Experiment, Finding, exponent_verdict
from scalinglab.reproductions.common import figure, overrides, scaled_sizes

SIZES = (12384, 27792, 55536, 98624)
UNIQUE_TOKENS = (2.5e5, 1e6, 4e6, 1.6e7)
TOKENS = 8e6
EVALUATIONS = 16
PUBLISHED = "D ≳ 5e3 N^0.74 keeps the overfitting penalty near 2% (Kaplan et al. 2020, Eq. 4.4)"


def designs(scale: float, seed: int) -> list[dict[str, Any]]:
    sizes = scaled_sizes(SIZES, scale)
    return [{"name": f"overfitting-D{unique * scale:.0f}-s{seed}", "kind": "grid",
             "corpus": "stdlib", "seeds": [seed], "params": sizes, "tokens": [TOKENS * scale],
             "overrides": overrides(unique_tokens=int(unique * scale), eval_count=EVALUATIONS)}
            for unique in UNIQUE_TOKENS]


def analyze(tables: Any, n_resamples: int, seed: int) -> Finding:
    from scalinglab.analyses.overfitting import KAPLAN_EXPONENT, overfitting

    result = overfitting(tables.measurements, n_resamples, seed)
    verdict = exponent_verdict(result.exponent_interval, KAPLAN_EXPONENT)
    finding = Finding("overfitting", verdict, result.summary(), PUBLISHED,
                      {"overfitting": result.to_dict()})
    finding.figure = _figure(result)
    return finding


def _figure(result: Any) -> Any:
    fig, (left, right) = figure(2)
    runs = result.runs
    for (n, rows), color in zip(runs.groupby("params_nonembedding"),
                                ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"),
                                strict=False):
        left.scatter(rows["tokens"], rows["loss"], color=color, label=f"N = {n:.3g}")
        d = np.geomspace(rows["tokens"].min(), rows["tokens"].max(), 50)
        left.plot(d, result.law.predict({"params_nonembedding": np.full_like(d, n),
                                         "tokens": d}), color=color, lw=1)
    left.set_xlabel("Unique training tokens D")
    left.set_ylabel("Early-stopped loss (nats/token)")
    left.legend(fontsize=7)
    frame = result.d_min
    right.errorbar(frame["params"], frame["d_min"],
                   yerr=[frame["d_min"] - frame["lo"], frame["hi"] - frame["d_min"]], fmt="o")
    right.set_xlabel("Parameters N (non-embedding)")
    right.set_ylabel(f"D_min for a {100 * result.delta:g}% penalty")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
    return fig


EXPERIMENT = Experiment(
    "overfitting", "Overfitting and the data needed to avoid it",
    "Kaplan et al. 2020, Sec. 4 and Eq. 4.4", 35.0, designs, analyze)
