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

The cheap estimate beside it: the run at the lab's batch (1024 tokens) of each size measures
the gradient noise scale at every evaluation (`noise_scale_batches`, `analyses.noise_scale`),
and B_noise(L) is read at the same target losses as B_crit(L), with the ratio of the two.
Every run evaluates 24 times, so that steps to a target are interpolated between close points.
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
EVALUATIONS = 24
NOISE_BATCH = 1024  # the run that also measures the gradient noise scale
NOISE_BATCHES = 16
PUBLISHED = "B_crit(L) ≈ B* / L^(1/alpha_B) with alpha_B ≈ 0.21 (Kaplan et al. 2020, Eq. 5.3)"


def batch_lr(params: float, batch_tokens: int) -> float:
    """The lab's learning rate for the size, grown as sqrt(batch / 1024), capped."""
    from scalinglab.models.ladder import transformer_shape
    from scalinglab.schedules import default_lr

    base = default_lr(transformer_shape(params).d_model)
    return float(min(LR_CAP, base * np.sqrt(batch_tokens / 1024)))


def designs(scale: float, seed: int) -> list[dict[str, Any]]:
    """One scan of the batch per size (its runs train in parallel), the rate going with it."""
    out = []
    for params in scaled_sizes(SIZES, scale):
        out.append({"name": f"critical-batch-N{params:.0f}-s{seed}", "kind": "scan",
                    "corpus": "stdlib", "seeds": [seed], "hyperparameter": "batch_tokens",
                    "values": list(BATCHES), "params": params, "tokens": TOKENS * scale,
                    "together": {"lr": [batch_lr(params, b) for b in BATCHES],
                                 "noise_scale_batches": [NOISE_BATCHES if b == NOISE_BATCH else 0
                                                         for b in BATCHES]},
                    "overrides": {k: v for k, v in overrides(eval_count=EVALUATIONS).items()
                                  if k != "batch_tokens"}})
    return out


def analyze(tables: Any, n_resamples: int, seed: int) -> Finding:
    from scalinglab.analyses.critical_batch import KAPLAN_ALPHA_B, critical_batch

    table = tables.measurements
    results = {float(n): critical_batch(rows, n_resamples=n_resamples, seed=seed)
               for n, rows in table.groupby("params_nonembedding")}
    noise, unfitted = {}, []
    for n, rows in table.groupby("params_nonembedding"):
        noise[n], reason = _noise_scale(rows, n_resamples, seed)
        if reason:
            unfitted.append(f"N = {n:.3g}, gradient noise scale not fitted: {reason}")
    largest = results[max(results)]
    verdict = exponent_verdict(largest.alpha_b_interval, KAPLAN_ALPHA_B)
    ours = "; ".join(f"N = {n:.3g}: {r.summary()}" for n, r in results.items())
    numbers = {f"{n:g}": r.to_dict() for n, r in results.items()}
    finding = Finding("critical-batch", verdict, ours, PUBLISHED, numbers, notes=unfitted)
    for n, estimate in noise.items():
        if estimate is None:
            continue
        comparison = compare_noise(results[n], estimate)
        if comparison.empty:
            continue
        numbers[f"{n:g}"]["noise_scale"] = {**estimate.to_dict(),
                                            "comparison": comparison.to_dict("records")}
        finding.notes.append(f"N = {n:.3g}, gradient noise scale: "
                             f"{estimate.summary(comparison['loss'].to_numpy())}; "
                             f"B_noise / B_crit = " + ", ".join(
                                 f"{r.ratio:.2g} at L = {r.loss:.3g}"
                                 for r in comparison.itertuples()))
    if verdict == NOT_IDENTIFIABLE:
        finding.notes.append("more target losses (longer runs) or more batch sizes per target "
                             "would pin alpha_B down")
    finding.figure = _figure(results, noise)
    return finding


def _noise_scale(rows: Any, n_resamples: int, seed: int) -> tuple[Any, str]:
    """B_noise(L) from the size's runs that measured it, or None with why ("" when no run
    measured it)."""
    from scalinglab.analyses.noise_scale import noise_scale
    from scalinglab.errors import ScalinglabError

    if "grad_sq" not in rows.columns or rows["grad_sq"].notna().sum() == 0:
        return None, ""
    try:
        return noise_scale(rows, n_resamples=n_resamples, seed=seed), ""
    except ScalinglabError as error:
        return None, str(error)


def compare_noise(result: Any, estimate: Any) -> Any:
    """B_noise against B_crit at the critical-batch targets: both with intervals, and the ratio."""
    t = result.identified
    losses = t["loss"].to_numpy(float)
    lo, hi = estimate.interval(losses)
    b_noise = estimate.b_noise(losses)
    return t[["loss", "b_crit", "b_crit_lo", "b_crit_hi"]].assign(
        b_noise=b_noise, b_noise_lo=lo, b_noise_hi=hi, ratio=b_noise / t["b_crit"].to_numpy())


def _figure(results: dict[float, Any], noise: dict[float, Any]) -> Any:
    fig, (ax,) = figure()
    for (n, result), color in zip(results.items(), ("#1f77b4", "#ff7f0e", "#2ca02c"),
                                  strict=False):
        t = result.identified
        if t.empty:
            continue
        ax.errorbar(t["loss"], t["b_crit"], yerr=[t["b_crit"] - t["b_crit_lo"],
                                                  t["b_crit_hi"] - t["b_crit"]],
                    fmt="o", color=color, label=f"B_crit, N = {n:.3g}")
        grid = np.geomspace(t["loss"].min(), t["loss"].max(), 50)
        if np.isfinite(result.alpha_b):
            ax.plot(grid, result.b_crit(grid), color=color, lw=1)
        if noise.get(n) is not None:
            lo, hi = noise[n].interval(grid)
            ax.plot(grid, noise[n].b_noise(grid), color=color, lw=1, ls="--",
                    label=f"B_noise, N = {n:.3g}")
            ax.fill_between(grid, lo, hi, color=color, alpha=0.15, lw=0)
    label_axes(ax, "Target loss L (nats/token)", "Batch (tokens)")
    return fig


EXPERIMENT = Experiment(
    "critical-batch", "The critical batch size and its dependence on loss",
    "McCandlish et al. 2018; Kaplan et al. 2020, Sec. 5.1", 30.0, designs, analyze)
