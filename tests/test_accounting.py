"""The accounting formulas against the models they describe: parameters and training FLOPs."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from scalinglab.accounting import (
    kaplan_flops,
    lstm_flops_per_token,
    lstm_params,
    transformer_flops_per_token,
    transformer_params,
)
from scalinglab.models import LSTMConfig, LSTMLanguageModel, Transformer, TransformerConfig


def _numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "n_layer, d_model, n_head, vocab_size, n_ctx, d_ff, positions, tied",
    [
        (1, 32, 2, 256, 64, None, "learned", False),
        (3, 48, 3, 13, 128, None, "rotary", False),
        (2, 64, 4, 300, 32, 100, "learned", True),
        (2, 40, 2, 18, 64, None, "rotary", True),
    ],
)
def test_transformer_params_match_torch(
    n_layer, d_model, n_head, vocab_size, n_ctx, d_ff, positions, tied
):
    config = TransformerConfig(vocab_size, n_ctx, n_layer, d_model, n_head, d_ff, positions, tied)
    model = Transformer(config)
    count = transformer_params(
        n_layer, d_model, vocab_size, n_ctx, d_ff, positions == "learned", tied
    )
    assert count.total == _numel(model)
    embeddings = set(map(id, model.wte.parameters())) | set(map(id, model.lm_head.parameters()))
    if model.wpe is not None:
        embeddings |= set(map(id, model.wpe.parameters()))
    nonembedding = sum(p.numel() for p in model.parameters() if id(p) not in embeddings)
    assert count.nonembedding == nonembedding


@pytest.mark.parametrize("n_layer, d_model, vocab_size", [(1, 16, 256), (2, 34, 18), (3, 50, 13)])
def test_lstm_params_match_torch(n_layer, d_model, vocab_size):
    model = LSTMLanguageModel(LSTMConfig(vocab_size, n_layer, d_model))
    count = lstm_params(n_layer, d_model, vocab_size)
    assert count.total == _numel(model)
    assert count.nonembedding == _numel(model.lstm)


def _training_flops(model: torch.nn.Module, idx: torch.Tensor, vocab_size: int) -> int:
    with FlopCounterMode(display=False) as counter:
        logits = model(idx)
        F.cross_entropy(logits.reshape(-1, vocab_size), idx.reshape(-1)).backward()
    return counter.get_total_flops()


def test_transformer_flops_match_flop_counter():
    """Matmul FLOPs of a forward+backward pass against the formula.

    Weights and the output layer match exactly (6 per weight per token). Attention: torch's
    counter sees the full n_ctx x n_ctx score and weighted-sum matmuls, 12 n_layer n_ctx d per
    token, while the formula counts the causal average (Kaplan's 2 n_layer n_ctx d forward,
    tripled), exactly half. So counted = formula + the formula's attention term.
    """
    n_layer, d_model, vocab_size, n_ctx, batch = 2, 64, 256, 64, 2
    model = Transformer(TransformerConfig(vocab_size, n_ctx, n_layer, d_model, n_head=2))
    idx = torch.randint(0, vocab_size, (batch, n_ctx))
    with sdpa_kernel(SDPBackend.MATH):  # the CPU flash kernel is invisible to the counter
        counted = _training_flops(model, idx, vocab_size)
    tokens = batch * n_ctx
    formula = transformer_flops_per_token(n_layer, d_model, vocab_size, n_ctx) * tokens
    attention = 6 * n_layer * n_ctx * d_model * tokens
    assert counted == pytest.approx(formula + attention, rel=1e-9)
    # Weights + output layer alone, without the attention term, also match exactly.
    assert counted - 2 * attention == pytest.approx(formula - attention, rel=1e-9)


def test_lstm_flops_match_flop_counter():
    """Within 1%: the backward skips the recurrent matmul's input gradient at the first step."""
    n_layer, d_model, vocab_size, n_ctx, batch = 2, 32, 64, 48, 2
    model = LSTMLanguageModel(LSTMConfig(vocab_size, n_layer, d_model))
    idx = torch.randint(0, vocab_size, (batch, n_ctx))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # oneDNN's fused LSTM is invisible to the counter; the reference path is plain matmuls.
        with torch.backends.mkldnn.flags(enabled=False):
            counted = _training_flops(model, idx, vocab_size)
    formula = lstm_flops_per_token(n_layer, d_model, vocab_size) * batch * n_ctx
    assert counted == pytest.approx(formula, rel=0.01)


def test_kaplan_flops_is_six_n_d():
    assert kaplan_flops(1e6, 2e7) == 6 * 1e6 * 2e7
