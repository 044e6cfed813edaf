"""Models behave as language models, and the size ladder hits its targets."""

from __future__ import annotations

import math

import pytest
import torch

from scalinglab.errors import ScalinglabError
from scalinglab.models import (
    LSTMConfig,
    LSTMLanguageModel,
    Transformer,
    TransformerConfig,
    lstm_shape,
    transformer_shape,
)
from scalinglab.models.ladder import ASPECT_RATIO


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_transformer_is_causal(positions):
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(50, 16, 2, 32, 2, positions=positions)).eval()
    idx = torch.randint(0, 50, (2, 16))
    changed = idx.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 50
    with torch.no_grad():
        a, b = model(idx), model(changed)
    assert a.shape == (2, 16, 50)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_tied_embeddings_share_one_tensor():
    model = Transformer(TransformerConfig(50, 16, 1, 32, 2, tied_embeddings=True))
    assert model.lm_head.weight is model.wte.weight


def test_lstm_is_causal():
    torch.manual_seed(0)
    model = LSTMLanguageModel(LSTMConfig(20, 2, 16)).eval()
    idx = torch.randint(0, 20, (3, 12))
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    with torch.no_grad():
        a, b = model(idx), model(changed)
    assert a.shape == (3, 12, 20)
    torch.testing.assert_close(a[:, :6], b[:, :6])


@pytest.mark.parametrize("target", [1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 5e7])
def test_transformer_ladder_hits_target(target):
    shape = transformer_shape(target)
    assert abs(math.log(shape.params_nonembedding / target)) < 0.35
    assert shape.d_model % shape.n_head == 0
    # Aspect ratio stays near the fixed value once there is more than one layer to vary.
    if shape.n_layer >= 4:
        assert 0.5 < shape.d_model / shape.n_layer / ASPECT_RATIO < 2.0


def test_ladder_grows_with_target():
    shapes = [transformer_shape(n) for n in (1e4, 1e5, 1e6, 1e7)]
    counts = [s.params_nonembedding for s in shapes]
    assert counts == sorted(counts)
    assert shapes[-1].n_layer > shapes[0].n_layer


@pytest.mark.parametrize("target", [1e4, 1e5, 1e6, 1e7])
def test_lstm_ladder_hits_target(target):
    shape = lstm_shape(target)
    assert abs(math.log(shape.params_nonembedding / target)) < 0.1


def test_ladder_overrides_are_kept():
    shape = transformer_shape(1e5, n_layer=4)
    assert shape.n_layer == 4
    shape = transformer_shape(1e5, n_layer=2, d_model=96, n_head=3)
    assert (shape.n_layer, shape.d_model, shape.n_head) == (2, 96, 3)


def test_ladder_rejects_bad_shapes():
    with pytest.raises(ScalinglabError, match="divisible"):
        transformer_shape(1e5, d_model=50, n_head=3)
    with pytest.raises(ScalinglabError, match="positive"):
        transformer_shape(-1)
