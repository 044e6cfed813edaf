"""Experiment 7: modalities on one trajectory (Henighan et al. 2020, Fig. 1-2; the lecture).

The `modalities` preset's curves sweep (transformers, five sizes) on four corpora: Python
bytes (stdlib), digit images as pixels, arithmetic problems and a Markov chain of known
entropy. Per corpus, `analyses.modalities` fits L(C) = E + (C0/C)^a through the envelope and
N_opt ∝ C^a (Approach 1); the verdict reads the difference of each corpus's N_opt exponent
from stdlib's, with its interval: all holding 0 and narrower than 0.5: reproduced (one
trajectory); any excluding 0: not reproduced (by the largest difference); otherwise not
identifiable. On markov the fitted E is checked against the exact entropy floor. And the
lecture's point that loss by position is not universal: each corpus's gain in per-token loss
from t = 32 to the end of the context (`analyses.positions`, grouped by corpus).
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
from scalinglab.reproductions.common import figure

PUBLISHED = ("every modality follows L(C) = E + (C0/C)^a, and the compute-optimal model size "
             "N_opt(C) follows nearly one trajectory, N_opt ∝ C^0.7 (Henighan et al. 2020)")
MAX_WIDTH = 0.5  # a difference interval wider than this cannot tell one trajectory from two


def designs(scale: float, seed: int) -> list[dict[str, Any]]:
    from scalinglab.sweep.design import PRESETS

    design = dict(PRESETS["modalities"])
    params = dict(design["params"])
    params.update(min=params["min"] * scale**0.5, max=params["max"] * scale**0.5)
    return [{**design, "name": f"modalities-s{seed}", "seeds": [seed], "params": params,
             "tokens_per_param": design["tokens_per_param"] * scale**0.5}]


def analyze(tables: Any, n_resamples: int, seed: int) -> Finding:
    from scalinglab.analyses.modalities import modalities

    result = modalities(tables.measurements, n_resamples, seed,
                        markov_source=tables.markov_source)
    differences = result.exponent_differences()
    if result.one_trajectory is None:
        verdict = NOT_IDENTIFIABLE
    elif not result.one_trajectory:
        verdict = NOT_REPRODUCED
    elif all(hi - lo <= MAX_WIDTH for _, lo, hi in differences.values()):
        verdict = REPRODUCED
    else:
        verdict = NOT_IDENTIFIABLE
    finding = Finding("modalities", verdict, result.summary(), PUBLISHED,
                      {"modalities": result.to_dict()})
    gains = _position_gains(tables, n_resamples, seed)
    if gains:
        finding.numbers["position_gains"] = gains
        finding.notes.append("loss by position is not universal: " + "; ".join(
            f"{corpus} falls {100 * g['gain']:.2g}% from t = {g['t_from']:g} to {g['t_to']:g}"
            for corpus, g in gains.items()))
    if result.markov is not None:
        finding.notes.append(result.markov.text())
    finding.figure = _figure(result)
    return finding


def _position_gains(tables: Any, n_resamples: int, seed: int) -> dict[str, Any]:
    """Each corpus's context gain (its largest model), the corpus standing in for the family."""
    from scalinglab.analyses.fitted import FIT_ERRORS
    from scalinglab.analyses.positions import context_gain, fit_positions
    from scalinglab.errors import ScalinglabError

    if tables.positions is None or tables.positions.empty:
        return {}
    by_corpus = tables.measurements.assign(family=tables.measurements["corpus"])
    try:
        fits = fit_positions(tables.positions.drop(columns=["family"], errors="ignore"),
                             by_corpus, n_resamples, seed)
    except (ScalinglabError, *FIT_ERRORS):
        return {}
    out = {}
    for corpus, gain in fits.families.items():
        biggest = [f for f in fits.laws.values() if f.data["family"].iloc[0] == corpus]
        early = context_gain(max(biggest, key=lambda f: f.data["params_nonembedding"].iloc[0]),
                             t_from=32) if biggest else gain
        out[corpus] = early.to_dict()
    return out


def _figure(result: Any) -> Any:
    fig, (left, right) = figure(2)
    for (corpus, fit), color in zip(result.corpora.items(),
                                    ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"), strict=False):
        env = fit.envelope
        left.scatter(env["flops"], env["loss"], s=10, color=color, label=corpus)
        c = np.geomspace(env["flops"].min(), env["flops"].max(), 100)
        left.plot(c, fit.loss_law.law.predict({"flops": c}), color=color, lw=1)
        if fit.allocation is not None:
            points = fit.allocation.fit.points
            right.scatter(points["flops"], points["params"], s=12, color=color, label=corpus)
            right.plot(c, fit.allocation.fit.n_opt(c), color=color, lw=1)
    for ax, ylabel in ((left, "Loss (nats/token)"), (right, "N_opt (parameters)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("Compute C (FLOPs)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    return fig


EXPERIMENT = Experiment(
    "modalities", "Modalities on one trajectory: L(C) and N_opt(C) per corpus",
    "Henighan et al. 2020, Fig. 1-2", 45.0, designs, analyze)
