"""Experiment 1: loss by context position, transformer against LSTM (Kaplan et al. 2020,
Fig. 20 and the lecture).

Two sizes of each family train on the same tokens at a context of 512. At the end each run's
per-token validation loss by position, on the whole validation split (1268 windows of 512 on
stdlib, so one position's loss has a standard error of about 0.04 nats; reported), is fitted
with L(t) = L_inf + (t0/t)^a (`analyses.positions`), and the relative gain of the fitted curve
from t = 100 to 512 is read for each family's largest model, with its bootstrap interval over
log-spaced position bins. The verdict reads the difference of the two gains (transformer minus
LSTM; intervals combined as independent normals): reproduced when it is above zero and the
transformer keeps improving, not reproduced when it is below zero or the transformer plateaus,
otherwise not identifiable.
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
from scalinglab.reproductions.common import figure, label_axes, overrides, scaled_sizes

N_CTX = 512
TRANSFORMER_SIZES = (27792, 98624)
LSTM_SIZES = (21312, 66560)
TOKENS = 1.2e7
BATCH_TOKENS = 8 * N_CTX  # 8 windows per step
# The first design's 32 validation windows left 0.25 nats of noise on each position's loss;
# asking for 2048 takes every window of stdlib's validation split (1268), cutting it 6x. Four
# evaluations, not eight, keep that at about a tenth of the training compute.
EVAL_TOKENS = 2**20
EVAL_COUNT = 4
PUBLISHED = ("LSTMs improve little after about 100 tokens of context; transformers keep "
             "improving to the end of the context (Kaplan et al. 2020, Fig. 20)")


def designs(scale: float, seed: int) -> list[dict[str, Any]]:
    common = {"kind": "curves", "corpus": "stdlib", "seeds": [seed], "tokens": TOKENS * scale,
              "cooldowns": [], "overrides": overrides(n_ctx=N_CTX, batch_tokens=BATCH_TOKENS,
                                    eval_tokens=EVAL_TOKENS, eval_count=EVAL_COUNT)}
    return [{"name": f"context-{family}-s{seed}", "families": [family],
             "params": scaled_sizes(sizes, scale, family), **common}
            for family, sizes in (("transformer", TRANSFORMER_SIZES), ("lstm", LSTM_SIZES))]


def analyze(tables: Any, n_resamples: int, seed: int) -> Finding:
    from scalinglab.analyses.positions import fit_positions, position_table
    from scalinglab.errors import ScalinglabError

    if tables.positions is None or tables.positions.empty:
        raise ScalinglabError(f"{tables.source}: no loss-by-position table")
    fits = fit_positions(tables.positions, tables.measurements, n_resamples, seed)
    gains = fits.families
    if not {"transformer", "lstm"} <= set(gains):
        raise ScalinglabError(f"{tables.source}: needs position losses of both families "
                              f"(have {', '.join(gains) or 'none'})")
    t, lstm = gains["transformer"], gains["lstm"]
    diff, (lo, hi) = gain_difference(t.gain, t.interval, lstm.gain, lstm.interval)
    ours = (f"from t = {t.t_from:g} to {t.t_to:g} the transformer's loss falls "
            f"{100 * t.gain:.2g}% [{100 * t.interval[0]:.2g}, {100 * t.interval[1]:.2g}] "
            f"({t.verdict}), the LSTM's {100 * lstm.gain:.2g}% [{100 * lstm.interval[0]:.2g}, "
            f"{100 * lstm.interval[1]:.2g}] ({lstm.verdict}); difference {100 * diff:.2g} "
            f"[{100 * lo:.2g}, {100 * hi:.2g}] points; one position's loss has a standard "
            f"error of {t.position_se:.2g} (transformer) and {lstm.position_se:.2g} (LSTM) "
            "nats")
    if lo > 0 and t.verdict == "keeps improving":
        verdict = REPRODUCED
    elif hi < 0 or t.verdict == "plateaus":
        verdict = NOT_REPRODUCED
    else:
        verdict = NOT_IDENTIFIABLE
    finding = Finding("context", verdict, ours, PUBLISHED,
                      {"gains": {k: v.to_dict() for k, v in gains.items()},
                       "difference": diff, "difference_interval": [lo, hi]})
    if verdict == NOT_IDENTIFIABLE:
        finding.notes.append("a larger validation set (less per-position noise) or bigger "
                             "models (more context to use) would narrow the difference")
    finding.figure = _figure(position_table(tables.positions, tables.measurements), fits)
    return finding


def gain_difference(a: float, a_interval: tuple[float, float], b: float,
                    b_interval: tuple[float, float]) -> tuple[float, tuple[float, float]]:
    """a - b with a 95% interval, treating the two intervals as independent normals."""
    sd = np.hypot((a_interval[1] - a_interval[0]) / 3.92, (b_interval[1] - b_interval[0]) / 3.92)
    if not np.isfinite(sd):
        return a - b, (float("nan"), float("nan"))
    return a - b, (float(a - b - 1.96 * sd), float(a - b + 1.96 * sd))


def _figure(positions: Any, fits: Any) -> Any:
    fig, (ax,) = figure()
    colors = {"transformer": "#1f77b4", "lstm": "#ff7f0e"}
    for run, rows in positions.groupby("run"):
        family = str(rows["family"].iloc[0])
        ax.plot(rows["position"], rows["loss"], color=colors.get(family, "grey"), lw=0.8,
                alpha=0.6, label=f"{family} N={rows['params_nonembedding'].iloc[0]:.3g}")
        fitted = fits.laws.get(str(run))
        if fitted is not None:
            t = np.geomspace(1, rows["position"].max(), 100)
            ax.plot(t, fitted.law.predict({"tokens": t}), color=colors.get(family, "grey"),
                    lw=1.5, linestyle="--")
    ax.axvline(100, color="grey", lw=0.6, linestyle=":")
    label_axes(ax, "Token position t in the context", "Loss (nats/token)", logy=False)
    return fig


EXPERIMENT = Experiment(
    "context", "Loss by context position: transformer against LSTM",
    "Kaplan et al. 2020, Fig. 20 (and the CS224N lecture)", 40.0, designs, analyze)
