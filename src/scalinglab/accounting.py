"""Parameter and FLOP accounting, in one place for our models and for Fermi estimates.

Conventions (they match `scalinglab.models` exactly; a test checks it against torch):
- Transformer: pre-LN blocks, linear layers without bias, LayerNorm with weight and no bias,
  MLP width `d_ff` (4 * d_model by default). Per block 4*d^2 (attention) + 2*d*d_ff (MLP) + 2*d
  (two LayerNorms); plus one final LayerNorm.
- Non-embedding parameters exclude token and position embeddings and an untied output layer,
  as in Kaplan et al. (2020).
- Training FLOPs per token = 6 * N_nonembedding (forward + backward of every weight)
  + 6 * n_layer * n_ctx * d_model (attention scores and weighted sum, Kaplan's 2*n_layer*n_ctx*d
  forward, tripled for the backward) + 6 * d_model * vocab (the output layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalinglab import constants
from scalinglab.errors import ScalinglabError


@dataclass(frozen=True)
class ParamCount:
    """Parameters of one model: `total` includes embeddings, `nonembedding` does not."""

    total: int
    nonembedding: int

    @property
    def embedding(self) -> int:
        return self.total - self.nonembedding


def transformer_params(
    n_layer: int,
    d_model: int,
    vocab_size: int,
    n_ctx: int,
    d_ff: int | None = None,
    learned_positions: bool = True,
    tied_embeddings: bool = False,
) -> ParamCount:
    """Exact parameter count of `scalinglab.models.transformer.Transformer`."""
    d_ff = 4 * d_model if d_ff is None else d_ff
    per_block = 4 * d_model * d_model + 2 * d_model * d_ff + 2 * d_model
    nonembedding = n_layer * per_block + d_model  # + final LayerNorm
    embedding = vocab_size * d_model
    if learned_positions:
        embedding += n_ctx * d_model
    if not tied_embeddings:
        embedding += vocab_size * d_model
    return ParamCount(total=nonembedding + embedding, nonembedding=nonembedding)


def transformer_flops_per_token(
    n_layer: int, d_model: int, vocab_size: int, n_ctx: int, d_ff: int | None = None
) -> float:
    """Training FLOPs per token: weights, attention and the output layer (see module doc)."""
    d_ff = 4 * d_model if d_ff is None else d_ff
    weights = 6 * (n_layer * (4 * d_model * d_model + 2 * d_model * d_ff))
    attention = 6 * n_layer * n_ctx * d_model
    output_layer = 6 * d_model * vocab_size
    return float(weights + attention + output_layer)


def lstm_params(n_layer: int, d_model: int, vocab_size: int) -> ParamCount:
    """Exact parameter count of `scalinglab.models.lstm.LSTMLanguageModel`.

    Each torch LSTM layer has four gates with input and recurrent weights and two bias vectors:
    4 * (2 * d^2 + 2 * d). Embedding and the (untied, bias-free) output layer are embeddings.
    """
    nonembedding = n_layer * 4 * (2 * d_model * d_model + 2 * d_model)
    embedding = 2 * vocab_size * d_model
    return ParamCount(total=nonembedding + embedding, nonembedding=nonembedding)


def lstm_flops_per_token(n_layer: int, d_model: int, vocab_size: int) -> float:
    """Training FLOPs per token of the LSTM: 6 per recurrent/input weight plus the output layer."""
    return float(6 * n_layer * 8 * d_model * d_model + 6 * d_model * vocab_size)


def kaplan_flops(params_nonembedding: float, tokens: float) -> float:
    """Kaplan's approximation C = 6 * N * D, the one most papers fit against."""
    return 6.0 * params_nonembedding * tokens


# --- Fermi estimates ----------------------------------------------------------------------


def fermi_params(n_layer: int, d_model: int) -> float:
    """Non-embedding parameters of a standard transformer: 12 * n_layer * d_model^2."""
    return 12.0 * n_layer * d_model * d_model


def attention_flops_share(n_ctx: int, d_model: int) -> float:
    """Attention FLOPs relative to weight FLOPs: (6*L*T*d) / (6*12*L*d^2) = T / (12 d)."""
    return n_ctx / (12.0 * d_model)


def gpu_spec(gpu: str) -> dict[str, float]:
    """Peak bf16 FLOP/s and power of a named GPU (see `constants.GPUS`)."""
    key = gpu.lower()
    if key not in constants.GPUS:
        raise ScalinglabError(f"unknown GPU {gpu!r}; choose one of {', '.join(constants.GPUS)}")
    return constants.GPUS[key]


def accelerator(gpu: str | None, peak_flops: float | None = None) -> dict[str, object]:
    """A named GPU's spec, or a custom chip's (`--peak-flops`, no power figure known)."""
    if peak_flops is not None:
        if not (peak_flops > 0 and math.isfinite(peak_flops)):
            raise ScalinglabError(f"--peak-flops must be a positive number, got {peak_flops}")
        spec = dict(gpu_spec(gpu)) if gpu is not None else {"power_watts": None}
        return {"name": gpu.lower() if gpu else "custom", **spec, "peak_flops": peak_flops}
    if gpu is None:
        raise ScalinglabError("give --gpu NAME or --peak-flops FLOP/s")
    return {"name": gpu.lower(), **gpu_spec(gpu)}


def hardware_cost(
    flops: float,
    gpu: str | None,
    mfu: float = 0.4,
    n_gpus: int = 1,
    price_per_gpu_hour: float | None = None,
    peak_flops: float | None = None,
) -> dict[str, float | None]:
    """GPU-hours, days on `n_gpus`, energy (kWh at the chip's board power) and cost of `flops`."""
    _check_mfu(mfu)
    if n_gpus < 1:
        raise ScalinglabError(f"--n-gpus must be at least 1, got {n_gpus}")
    spec = accelerator(gpu, peak_flops)
    gpu_hours = flops / (float(spec["peak_flops"]) * mfu) / constants.SECONDS_PER_HOUR
    power = spec["power_watts"]
    return {
        "gpu": spec["name"],
        "peak_flops": spec["peak_flops"],
        "mfu": mfu,
        "gpu_hours": gpu_hours,
        "gpu_days": gpu_hours / 24.0,
        "n_gpus": n_gpus,
        "wall_days": gpu_hours / 24.0 / n_gpus,
        "energy_kwh": None if power is None else gpu_hours * float(power) / 1000.0,
        "cost": None if price_per_gpu_hour is None else gpu_hours * price_per_gpu_hour,
    }


def flops_from_gpu_hours(gpu_hours: float, gpu: str | None, mfu: float = 0.4,
                         peak_flops: float | None = None) -> float:
    """The training FLOPs `gpu_hours` of a chip at `mfu` buy: hours x 3600 x peak x MFU."""
    _check_mfu(mfu)
    if not (gpu_hours > 0 and math.isfinite(gpu_hours)):
        raise ScalinglabError(f"--gpu-hours must be a positive number, got {gpu_hours}")
    spec = accelerator(gpu, peak_flops)
    return gpu_hours * constants.SECONDS_PER_HOUR * float(spec["peak_flops"]) * mfu


def _check_mfu(mfu: float) -> None:
    if not 0 < mfu <= 1:
        raise ScalinglabError(f"--mfu must be in (0, 1], got {mfu}")


def pf_days(flops: float) -> float:
    """FLOPs in petaflop/s-days (8.64e19 FLOPs)."""
    return flops / constants.PF_DAY_FLOPS


def data_stock_fractions(tokens: float) -> dict[str, float]:
    """`tokens` as a fraction of each data stock in `constants` (words converted to tokens)."""
    stocks = {
        name: words * constants.TOKENS_PER_WORD
        for name, words in constants.DATA_STOCKS_WORDS.items()
    }
    stocks["public text"] = constants.PUBLIC_TEXT_TOKENS
    return {name: tokens / stock_tokens for name, stock_tokens in stocks.items()}


def fermi_estimate(
    n_layer: int,
    d_model: int,
    n_ctx: int = 2048,
    vocab_size: int = 50257,
    tokens: float | None = None,
    gpu: str | None = None,
    mfu: float = 0.4,
    n_gpus: int = 1,
    ffn_mult: float = 4.0,
    n_head: int | None = None,
    n_kv_heads: int | None = None,
    tied_embeddings: bool = True,
    gated_ffn: bool = False,
) -> dict[str, object]:
    """Back-of-the-envelope numbers for a transformer, as in the scaling-law lectures.

    Parameters: 12 * n_layer * d_model^2 (non-embedding) for the standard shape; in general
    n_layer * (2 d^2 + 2 d^2 n_kv_heads / n_head + m ffn_mult d^2): query and output
    projections, keys and values shared by `n_kv_heads` groups (grouped-query attention), and
    an MLP `ffn_mult` x d_model wide with m = 2 matrices (3 for a gated MLP, SwiGLU as in Llama;
    norms are left out, 0.003% of Llama 3 8B). FLOPs per token: 6N, plus attention
    6 * n_layer * n_ctx * d_model, plus the output layer 6 * d_model * vocab. Training FLOPs:
    the familiar 6 N D, and the fuller count beside it; hardware time is the fuller count's.
    """
    for name, value in (("n_layer", n_layer), ("d_model", d_model), ("n_ctx", n_ctx),
                        ("vocab", vocab_size)):
        if value < 1:
            raise ScalinglabError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not ffn_mult > 0:
        raise ScalinglabError(f"--ffn-mult must be positive, got {ffn_mult}")
    n_head = n_head if n_head is not None else max(1, d_model // 128)
    n_kv_heads = n_head if n_kv_heads is None else n_kv_heads
    if n_head < 1 or d_model % n_head:
        raise ScalinglabError(f"--n-head {n_head} must divide --d-model {d_model}")
    if n_kv_heads < 1 or n_head % n_kv_heads:
        raise ScalinglabError(f"--n-kv-heads {n_kv_heads} must divide --n-head {n_head}")
    per_block = (2 + 2 * n_kv_heads / n_head + (3 if gated_ffn else 2) * ffn_mult) * d_model**2
    n = n_layer * per_block
    attention = 6.0 * n_layer * n_ctx * d_model
    output_layer = 6.0 * d_model * vocab_size
    estimate: dict[str, object] = {
        "n_layer": n_layer,
        "d_model": d_model,
        "n_ctx": n_ctx,
        "vocab_size": vocab_size,
        "n_head": n_head,
        "n_kv_heads": n_kv_heads,
        "ffn_mult": ffn_mult,
        "gated_ffn": gated_ffn,
        "tied_embeddings": tied_embeddings,
        "params_12ld2": fermi_params(n_layer, d_model),
        "params_nonembedding": n,
        "params_embedding": float(vocab_size * d_model * (1 if tied_embeddings else 2)),
        "flops_per_token_6n": 6.0 * n,
        "flops_per_token": 6.0 * n + attention + output_layer,
        "attention_share": attention_flops_share(n_ctx, d_model),
    }
    if tokens is not None:
        if not tokens > 0:
            raise ScalinglabError(f"--tokens must be positive, got {tokens}")
        training = 6.0 * n * tokens
        full = (6.0 * n + attention + output_layer) * tokens
        estimate.update(
            tokens=tokens,
            tokens_per_param=tokens / n,
            training_flops=training,
            training_flops_full=full,
            pf_days=pf_days(training),
            pf_days_full=pf_days(full),
            data_stock_fractions=data_stock_fractions(tokens),
        )
        if gpu is not None:  # a GPU runs every FLOP, not only the 6N ones
            estimate["hardware"] = hardware_cost(full, gpu, mfu=mfu, n_gpus=n_gpus)
    return estimate
