"""The size ladder: a model shape for a target number of non-embedding parameters.

Transformers keep a fixed aspect ratio d_model / n_layer (32 by default; Kaplan et al. 2020 found
loss nearly flat over a wide range of shapes at fixed N, Fig. 5), so a sweep over N varies depth
and width together. With N ~ 12 n_layer d_model^2 and d_model = A n_layer,

    n_layer = round((N / (12 A^2))^(1/3)),  d_model = sqrt(N / (12 n_layer)),

d_model rounded to a multiple of 8 below 64 (so the one-layer models below 4e4 parameters come
about 1.6x apart, not 2-4x), of 16 below 512 and of 64 from there; then the neighbouring widths
are tried and the one whose exact count is closest to N (in log) wins. Heads are about 16 wide below
d_model 64, 32 below 256 and 64 from there (Kaplan's head size). LSTMs keep n_layer fixed
(2 by default) and solve the width from N = 8 n_layer d_model (d_model + 1). The exact count
of the chosen shape is what a run records, never the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalinglab.accounting import lstm_params, transformer_params
from scalinglab.errors import ScalinglabError

ASPECT_RATIO = 32
LSTM_LAYERS = 2


@dataclass(frozen=True)
class Shape:
    """A model shape and its exact non-embedding parameter count."""

    n_layer: int
    d_model: int
    n_head: int
    params_nonembedding: int


def head_dim_for(d_model: int) -> int:
    """Attention head width used for a given model width."""
    return 16 if d_model < 64 else 32 if d_model < 256 else 64


def transformer_shape(
    params: float,
    aspect_ratio: float = ASPECT_RATIO,
    n_layer: int | None = None,
    d_model: int | None = None,
    n_head: int | None = None,
) -> Shape:
    """(n_layer, d_model, n_head) with about `params` non-embedding parameters.

    Any of n_layer/d_model/n_head given is kept as is and the others are chosen around it.
    """
    if params <= 0 and (n_layer is None or d_model is None):
        raise ScalinglabError(f"--params must be positive, got {params:g}")
    if n_layer is None:
        if d_model is not None:
            n_layer = max(1, round(params / (12 * d_model**2)))
        else:
            n_layer = max(1, round((params / (12 * aspect_ratio**2)) ** (1 / 3)))
    if d_model is None:
        ideal = math.sqrt(max(params, 1) / (12 * n_layer))
        step = (8 if ideal < 64 else 16 if ideal < 512 else 64) if n_head is None else n_head
        candidates = {
            max(step, step * k) for k in (math.floor(ideal / step), math.ceil(ideal / step))
        }
        d_model = min(
            candidates,
            key=lambda d: abs(math.log(transformer_params(n_layer, d, 1, 1).nonembedding / params)),
        )
    if n_head is None:
        n_head = max(1, d_model // head_dim_for(d_model))
        while d_model % n_head:
            n_head -= 1
    if n_layer < 1 or d_model < 1 or n_head < 1 or d_model % n_head:
        raise ScalinglabError(
            f"invalid shape n_layer={n_layer}, d_model={d_model}, n_head={n_head} "
            "(all positive, d_model divisible by n_head)"
        )
    count = transformer_params(n_layer, d_model, 1, 1).nonembedding
    return Shape(n_layer=n_layer, d_model=d_model, n_head=n_head, params_nonembedding=count)


def lstm_shape(params: float, n_layer: int | None = None, d_model: int | None = None) -> Shape:
    """(n_layer, d_model) of an LSTM with about `params` non-embedding parameters."""
    if params <= 0 and (n_layer is None or d_model is None):
        raise ScalinglabError(f"--params must be positive, got {params:g}")
    if n_layer is None:
        n_layer = LSTM_LAYERS if d_model is None else max(1, round(params / (8 * d_model**2)))
    if d_model is None:
        d_model = max(4, 2 * round((-1 + math.sqrt(1 + params / (2 * n_layer))) / 4))
    if n_layer < 1 or d_model < 1:
        raise ScalinglabError(f"invalid LSTM shape n_layer={n_layer}, d_model={d_model}")
    count = lstm_params(n_layer, d_model, 1).nonembedding
    return Shape(n_layer=n_layer, d_model=d_model, n_head=0, params_nonembedding=count)
