"""The two model families of the lab: a decoder-only transformer and an LSTM language model."""

from scalinglab.models.ladder import Shape, lstm_shape, transformer_shape
from scalinglab.models.lstm import LSTMConfig, LSTMLanguageModel
from scalinglab.models.transformer import Transformer, TransformerConfig

__all__ = [
    "LSTMConfig",
    "LSTMLanguageModel",
    "Shape",
    "Transformer",
    "TransformerConfig",
    "lstm_shape",
    "transformer_shape",
]
