"""What every corpus hands to training: token arrays split into train and validation.

A corpus is a stream of integer token ids. Training cuts the train stream into windows of
`n_ctx + 1` tokens (inputs and shifted targets), visits them in a seeded shuffled order, one pass
per epoch, so the batch at step `s` is a pure function of (seed, s): resuming a run needs only the
step. Validation uses a fixed set of windows spread evenly over the validation stream, the same for
every run on the corpus, so losses of different runs are comparable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import ScalinglabError


@dataclass
class Corpus:
    """Token streams of one corpus and what a run needs to know about them.

    `train` and `val` are 1-D integer arrays (possibly memory-mapped). `max_epochs` is how many
    passes over `train` a run may make (None: unlimited, for small corpora such as digits that
    are meant to be repeated). `document_length`, when set, aligns windows to documents (digits:
    one image per window). `entropy_rate` is the exact irreducible loss in nats/token, when known.
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    vocab_size: int
    fingerprint: str
    n_ctx_default: int = 128
    max_epochs: float | None = 1.0
    document_length: int | None = None
    entropy_rate: float | None = None
    tokenizer_json: str | None = None
    accuracy: Callable[[np.ndarray, np.ndarray], tuple[int, int]] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def check_budget(self, tokens: float, n_ctx: int) -> None:
        """Raise if a run of `tokens` would need more passes over `train` than allowed."""
        available = self.n_train_windows(n_ctx) * n_ctx
        if available == 0:
            raise ScalinglabError(
                f"corpus {self.name!r} has {len(self.train)} training tokens, "
                f"fewer than one window of n_ctx={n_ctx} + 1"
            )
        if self.max_epochs is not None and tokens > available * self.max_epochs:
            raise ScalinglabError(
                f"corpus {self.name!r} has {available:,} training tokens "
                f"({len(self.val):,} more held out for validation), fewer than the "
                f"{int(tokens):,} requested; ask for fewer tokens or a larger corpus"
            )

    def n_train_windows(self, n_ctx: int) -> int:
        """How many windows of `n_ctx + 1` tokens one pass over `train` has."""
        stride = self.document_length or n_ctx
        return max(0, (len(self.train) - n_ctx - 1) // stride + 1)

    def val_windows(self, n_ctx: int, max_tokens: int) -> np.ndarray:
        """The fixed validation set: up to `max_tokens // n_ctx` windows spread evenly over val."""
        stride = self.document_length
        if stride:
            starts = np.arange(0, len(self.val) - n_ctx, stride)
        else:
            starts = np.arange(0, len(self.val) - n_ctx, n_ctx)
        if len(starts) == 0:
            raise ScalinglabError(
                f"corpus {self.name!r}: the validation split has {len(self.val)} tokens, "
                f"fewer than one window of n_ctx={n_ctx} + 1"
            )
        n_windows = max(1, min(len(starts), max_tokens // n_ctx))
        pick = np.linspace(0, len(starts) - 1, n_windows).round().astype(np.int64)
        starts = starts[np.unique(pick)]
        return np.asarray(self.val[starts[:, None] + np.arange(n_ctx + 1)], dtype=np.int64)


class BatchSampler:
    """Windows of the train stream in a seeded shuffled order; batch(step) is deterministic."""

    def __init__(self, corpus: Corpus, n_ctx: int, batch_size: int, seed: int) -> None:
        self.data = corpus.train
        self.n_ctx = n_ctx
        self.batch_size = batch_size
        self.seed = seed
        self.stride = corpus.document_length or n_ctx
        self.aligned = corpus.document_length is not None
        self.n_windows = corpus.n_train_windows(n_ctx)
        self._epoch = -1
        self._order = np.empty(0, dtype=np.int64)
        self._shift = 0
        self._window = np.arange(n_ctx + 1, dtype=np.int64)

    def _epoch_order(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch])
        self._order = rng.permutation(self.n_windows)
        # A random shift per epoch shows the model different window boundaries each pass.
        spare = len(self.data) - ((self.n_windows - 1) * self.stride + self.n_ctx + 1)
        self._shift = 0 if self.aligned else int(rng.integers(0, min(spare, self.stride) + 1))
        self._epoch = epoch

    def batch(self, step: int) -> np.ndarray:
        """Windows [batch_size, n_ctx + 1] (int64) used at optimizer step `step`."""
        first = step * self.batch_size
        rows = []
        index = first
        while index < first + self.batch_size:
            epoch, position = divmod(index, self.n_windows)
            if epoch != self._epoch:
                self._epoch_order(epoch)
            take = min(first + self.batch_size - index, self.n_windows - position)
            rows.append(self._order[position : position + take] * self.stride + self._shift)
            index += take
        starts = np.concatenate(rows) if len(rows) > 1 else rows[0]
        return np.asarray(self.data[starts[:, None] + self._window], dtype=np.int64)


class MixedSampler:
    """Batches that mix a small repeated subset into fresh text (the memorization check's design).

    Each batch's first `repeated` windows come from the first `subset_tokens` tokens of the train
    stream, visited pass after pass; the other windows from the stream after them, so the model
    sees the subset many times among text it sees at most once. Deterministic per step, like
    `BatchSampler`.
    """

    def __init__(self, corpus: Corpus, n_ctx: int, batch_size: int, seed: int,
                 subset_tokens: int, repeated: int) -> None:
        subset = dataclasses.replace(corpus, train=corpus.train[:subset_tokens], max_epochs=None)
        rest = dataclasses.replace(corpus, train=corpus.train[subset_tokens:])
        self.repeated = BatchSampler(subset, n_ctx, repeated, seed)
        self.fresh = BatchSampler(rest, n_ctx, batch_size - repeated, seed)
        self.subset_windows = subset.n_train_windows(n_ctx)

    def batch(self, step: int) -> np.ndarray:
        return np.concatenate([self.repeated.batch(step), self.fresh.batch(step)])

    def passes(self, steps: int) -> float:
        """Passes over the subset after `steps` optimizer steps."""
        return steps * self.repeated.batch_size / self.subset_windows


def cache_dir() -> Path:
    """Where prepared corpora are cached: $SCALINGLAB_CACHE or ~/.cache/scalinglab."""
    root = os.environ.get("SCALINGLAB_CACHE") or Path.home() / ".cache" / "scalinglab"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def fingerprint_of(payload: Any) -> str:
    """A short stable hash of a JSON-able description of a corpus."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_ids(tokens: np.ndarray, vocab_size: int, source: str) -> None:
    """Raise if any token id is outside [0, vocab_size)."""
    if len(tokens) == 0:
        return
    top = int(tokens.max())
    if top >= vocab_size:
        where = int(np.argmax(tokens >= vocab_size))
        raise ScalinglabError(
            f"{source}: token id {int(tokens[where])} at position {where} is out of range for "
            f"vocab size {vocab_size} (the largest id in the file is {top}; --vocab-size must "
            f"be at least {top + 1})"
        )
