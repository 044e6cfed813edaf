"""An LSTM language model: embedding, stacked torch LSTM layers of width d_model, output layer.

Matches `scalinglab.accounting.lstm_params` exactly (torch's LSTM carries two bias vectors per
layer; the output layer has no bias). Each window starts from a zero state (truncated BPTT over
n_ctx tokens), like the transformer's context window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from scalinglab.accounting import ParamCount, lstm_flops_per_token, lstm_params


@dataclass(frozen=True)
class LSTMConfig:
    """The single source of an LSTM's shape."""

    vocab_size: int
    n_layer: int
    d_model: int

    def param_count(self) -> ParamCount:
        return lstm_params(self.n_layer, self.d_model, self.vocab_size)

    def flops_per_token(self) -> float:
        return lstm_flops_per_token(self.n_layer, self.d_model, self.vocab_size)


class LSTMLanguageModel(nn.Module):
    """Token ids [batch, time] -> next-token logits [batch, time, vocab]."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.lstm = nn.LSTM(
            config.d_model, config.d_model, num_layers=config.n_layer, batch_first=True
        )
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        nn.init.normal_(self.embedding.weight, std=0.02)
        nn.init.normal_(self.lm_head.weight, std=0.02)

    def param_count(self) -> ParamCount:
        return self.config.param_count()

    def flops_per_token(self) -> float:
        return self.config.flops_per_token()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.embedding(idx))
        return self.lm_head(hidden)
