"""The two model families of the lab: a decoder-only transformer and an LSTM language model.

The size ladder (`models.ladder`) needs no PyTorch, so plans and exact-FLOPs accounting work on
a light install; the models themselves are loaded on first use (PEP 562) and need the `[train]`
extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scalinglab.models.ladder import Shape, lstm_shape, transformer_shape

if TYPE_CHECKING:
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
_MODULES = {"LSTMConfig": "lstm", "LSTMLanguageModel": "lstm", "Transformer": "transformer",
            "TransformerConfig": "transformer"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        import importlib

        return getattr(importlib.import_module(f"scalinglab.models.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'scalinglab.models' has no attribute {name!r}")
