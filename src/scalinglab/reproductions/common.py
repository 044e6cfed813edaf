"""What the experiments share: the schedule settings and small figure helpers."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from scalinglab.models.ladder import lstm_shape, transformer_shape

# The demo's scanned settings (docs/demo.md): one batch and one warmup for every run.
BATCH_TOKENS = 1024
WARMUP_TOKENS = 7.5e4


def overrides(**extra: Any) -> dict[str, Any]:
    return {"batch_tokens": BATCH_TOKENS, "warmup_tokens": WARMUP_TOKENS, **extra}


def scaled_sizes(sizes: tuple[float, ...], scale: float,
                 family: str = "transformer") -> list[float]:
    """Sizes grown by sqrt(scale) (half of a bigger budget to size, as compute-optimal
    allocation roughly does), snapped to exact ladder shapes of `family`."""
    shape = lstm_shape if family == "lstm" else transformer_shape
    return sorted({float(shape(n * scale**0.5).params_nonembedding) for n in sizes})


def figure(ncols: int = 1) -> tuple[Figure, list[Any]]:
    fig = Figure(figsize=(5.0 * ncols, 3.6), layout="constrained")
    return fig, list(fig.subplots(1, ncols, squeeze=False)[0])


def interval_text(value: float, lo: float, hi: float, digits: str = ".3g") -> str:
    return f"{value:{digits}} [{lo:{digits}}, {hi:{digits}}]"


def label_axes(ax: Any, xlabel: str, ylabel: str, logy: bool = True, legend: bool = True) -> None:
    """Log x (and, by default, log y) axes with labels and a small legend."""
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(fontsize=7)
