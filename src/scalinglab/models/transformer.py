"""A decoder-only transformer in the nanoGPT mould, counted exactly by `scalinglab.accounting`.

Pre-LN blocks (LayerNorm with weight, no bias), bias-free linear layers, fused QKV projection,
`scaled_dot_product_attention` with a causal mask, GELU MLP of width d_ff = 4 d_model, learned or
rotary positions, optionally tied input/output embeddings. GPT-2 initialisation: N(0, 0.02), the
residual output projections scaled by 1/sqrt(2 n_layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scalinglab.accounting import ParamCount, transformer_flops_per_token, transformer_params


@dataclass(frozen=True)
class TransformerConfig:
    """The single source of a transformer's shape."""

    vocab_size: int
    n_ctx: int
    n_layer: int
    d_model: int
    n_head: int
    d_ff: int | None = None  # None: 4 * d_model
    positions: str = "learned"  # "learned" | "rotary"
    tied_embeddings: bool = False

    @property
    def ff_width(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff

    def param_count(self) -> ParamCount:
        """Total and non-embedding parameters, from the shared accounting module."""
        return transformer_params(
            self.n_layer,
            self.d_model,
            self.vocab_size,
            self.n_ctx,
            d_ff=self.ff_width,
            learned_positions=self.positions == "learned",
            tied_embeddings=self.tied_embeddings,
        )

    def flops_per_token(self) -> float:
        """Training FLOPs per token (6N + attention + output layer; see accounting)."""
        return transformer_flops_per_token(
            self.n_layer, self.d_model, self.vocab_size, self.n_ctx, d_ff=self.ff_width
        )


class Rotary(nn.Module):
    """Rotary position embedding (Su et al. 2021) applied to queries and keys; no parameters."""

    def __init__(self, head_dim: int, n_ctx: int, base: float = 10000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(n_ctx, dtype=torch.float32), inv_freq)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [batch, head, time, head_dim] -> the same, rotated pairwise by position."""
        n_time = x.shape[-2]
        cos, sin = self.cos[:n_time].to(x.dtype), self.sin[:n_time].to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return rotated.flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if config.d_model % config.n_head:
            raise ValueError(f"d_model={config.d_model} is not divisible by n_head={config.n_head}")
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)
        head_dim = config.d_model // config.n_head
        self.rotary = Rotary(head_dim, config.n_ctx) if config.positions == "rotary" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_batch, n_time, d_model = x.shape
        q, k, v = self.qkv(x).split(d_model, dim=2)
        shape = (n_batch, n_time, self.n_head, d_model // self.n_head)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(n_batch, n_time, d_model))


class MLP(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.d_model, config.ff_width, bias=False)
        self.down = nn.Linear(config.ff_width, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, bias=False)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=False)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """Token ids [batch, time] -> next-token logits [batch, time, vocab]."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if config.positions not in ("learned", "rotary"):
            raise ValueError(f"positions must be 'learned' or 'rotary', got {config.positions!r}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = (
            nn.Embedding(config.n_ctx, config.d_model) if config.positions == "learned" else None
        )
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=False)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tied_embeddings:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        residual_std = 0.02 / math.sqrt(2 * config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.down.weight, mean=0.0, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def param_count(self) -> ParamCount:
        return self.config.param_count()

    def flops_per_token(self) -> float:
        return self.config.flops_per_token()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe.weight[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))
