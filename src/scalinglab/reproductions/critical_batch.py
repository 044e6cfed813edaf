"""Experiment 4: the critical batch size (McCandlish et al. 2018; Kaplan et al. 2020, Sec. 5.1).

Two model sizes, each trained at seven batch sizes (256 to 16,384 tokens per step) on the
same tokens. The learning rate grows with the batch as sqrt(B / 1024) from the lab's rule
(capped at 3e-2): the trade-off assumes a tuned rate at every batch, and sqrt is Adam's usual
scaling (an assumption, stated; a per-batch rate scan would remove it). For target losses
along the curves `analyses.critical_batch` fits S = S_min + E_min / B and B_crit(L); the
verdict reads alpha_B of B_crit ∝ L^(-1/alpha_B) on the larger size against Kaplan's 0.21:
reproduced when its interval contains 0.21, not reproduced when it excludes it, not
identifiable when the interval is wider than 0.5 or absent. The absolute B_crit is not
compared: Kaplan's B* is for WebText2 tokens at their losses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.reproductions.base import NOT_IDENTIFIABLE, Experiment, Finding, exponent_verdict
from scalinglab.reproductions.common import figure, label_axes, overrides, scaled_sizes

SIZES = (12384, 55536)
BATCHES = (256, 512, 1024, 2048, 4096, 8192, 16384)
TOKENS = 8e6
LR_CAP = 3e-2
PUBLISHED = "B_crit(L) ≈ B* / L^(1/alpha_B) with alpha_B ≈ 0.21 (Kaplan et al. 2020, Eq. 5.3)"


def batch_lr(params: float, batch_tokens: int) -> float:
    """The lab's learning rate for the size, grown as sqrt(batch / 1024), capped."""
    from scalinglab.models.ladder import transformer_shape
    from scalinglab.schedules import default_lr

    base = default_lr(transformer_shape(params).d_model)
    return float(min(LR_CAP, base * np.sqrt(batch_tokens / 1024)))


def designs(scale: float, seed: int) -> list[dict[str, Any]]:
    out = []
    for params in scaled_sizes(SIZES, scale):
        for batch in BATCHES:
            out.append({"name": f"critical-batch-N{params:.0f}-B{batch}-s{seed}", "kind": "scan",
                        "corpus": "stdlib", "seeds": [seed], "hyperparameter": "lr",
                        "values": [batch_lr(params, batch)], "params": params,
                        "tokens": TOKENS * scale, "overrides": overrides(batch_tokens=batch)})
    return out


def analyze(tables: Any, n_resamples: int, seed: int) -> Finding:
    from scalinglab.analyses.critical_batch import KAPLAN_ALPHA_B, critical_batch

    table = tables.measurements
    results = {float(n): critical_batch(rows, n_resamples=n_resamples, seed=seed)
               for n, rows in table.groupby("params_nonembedding")}
    largest = results[max(results)]
    verdict = exponent_verdict(largest.alpha_b_interval, KAPLAN_ALPHA_B)
    ours = "; ".join(f"N = {n:.3g}: {r.summary()}" for n, r in results.items())
    finding = Finding("critical-batch", verdict, ours, PUBLISHED,
                      {f"{n:g}": r.to_dict() for n, r in results.items()})
    if verdict == NOT_IDENTIFIABLE:
        finding.notes.append("more target losses (longer runs) or more batch sizes per target "
                             "would pin alpha_B down")
    finding.figure = _figure(results)
    return finding


def _figure(results: dict[float, Any]) -> Any:
    fig, (ax,) = figure()
    for (n, result), color in zip(results.items(), ("#1f77b4", "#ff7f0e", "#2ca02c"),
                                  strict=False):
        t = result.targets
        ax.errorbar(t["loss"], t["b_crit"], yerr=[t["b_crit"] - t["b_crit_lo"],
                                                  t["b_crit_hi"] - t["b_crit"]],
                    fmt="o", color=color, label=f"N = {n:.3g}")
        if np.isfinite(result.alpha_b):
            grid = np.geomspace(t["loss"].min(), t["loss"].max(), 50)
            ax.plot(grid, result.b_crit(grid), color=color, lw=1)
    label_axes(ax, "Target loss L (nats/token)", "Critical batch B_crit (tokens)")
    return fig


EXPERIMENT = Experiment(
    "critical-batch", "The critical batch size and its dependence on loss",
    "McCandlish et al. 2018; Kaplan et al. 2020, Sec. 5.1", 30.0, designs, analyze)
