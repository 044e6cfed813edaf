"""One training run, done right, as a plain function that returns measurements.

    cfg = RunConfig(corpus="stdlib", family="transformer", params=1e5, tokens=2e6)
    result = train_run(cfg, out_dir=Path("runs/a"))
    result.measurements   # one row per evaluation, in the measurements-table layout

What a run does, and where each number comes from:
- Shape: `models.ladder` turns the target non-embedding N into (n_layer, d_model, n_head); the
  exact count of that shape (`accounting`) is what the run records.
- Batch size, learning rate, warmup and the schedules: the documented rules in `schedules`.
- Optimizer: AdamW (beta2 0.95, weight decay 0.1 on matrices only), gradient clipping at 1.0.
- Evaluations: at `eval_count` geometrically spaced token counts (from 1% of the budget to the
  end), on a fixed validation set (`eval_tokens` tokens spread evenly over the validation split,
  the same for every run on the corpus). Loss is in nats per token. `flops` = the run's training
  FLOPs per token (6N + attention + output layer) times tokens; `flops_kaplan` = 6 N D.
- At the end: loss by context position (`position_losses`) and, on `arithmetic`, the exact-match
  accuracy of greedy answers.
- With `noise_scale_batches` k > 0, every evaluation of the main run also estimates the
  gradient noise scale (McCandlish et al. 2018, App. A.1) from the raw gradients of k fresh
  batches at the current weights: columns `grad_sq` (|G|^2), `grad_trace` (tr(Sigma), per token)
  and `noise_scale` (B_simple = tr(Sigma) / |G|^2, in tokens). Training itself is unchanged.
- Checkpoints (model, optimizer, step, RNG, measurements so far) in `out_dir`, written when
  `should_stop()` says so and at intervals set by the run's cost (`CheckpointPolicy`: about 2%
  of the run's expected time, never costing more than 2% of training time); a later call with
  the same config resumes.
  A NaN/inf loss stops the run with status "diverged".
- Reproducibility: the run records the torch thread count it used and its device (`threads`,
  `device`, in result.json and on every measurements row); the same seed, threads, torch and
  machine give the same loss to 1e-4 (docs/reproducibility.md).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from scalinglab import schedules
from scalinglab.accounting import kaplan_flops
from scalinglab.data import CORPORA, BatchSampler, Corpus, MixedSampler, get_corpus
from scalinglab.errors import ScalinglabError
from scalinglab.files import check_output_folder, write_error, write_table, write_text, write_with
from scalinglab.measurements import finished_rows
from scalinglab.models.ladder import Shape, lstm_shape, transformer_shape
from scalinglab.models.lstm import LSTMConfig, LSTMLanguageModel
from scalinglab.models.transformer import Transformer, TransformerConfig

FAMILIES = ("transformer", "lstm")
SCHEDULES = ("cosine", "wsd")
DEVICES = ("auto", "cpu", "cuda")
# Fields that do not change a run's numbers (up to floating-point reassociation) stay out of
# the config hash, so the same run on more threads or another device resumes the same checkpoint.
NOT_HASHED = ("threads", "device", "compile")
PROGRESS_SECONDS = 0.5
LOSS_CHECK_STEPS = 8
EVAL_LOGIT_FLOATS = 2**24
# Fields added after runs were stored: left out of the hash when off, so those runs keep theirs.
ADDED_LATER = ("unique_tokens", "sequence_losses", "noise_scale_batches", "repeated_tokens",
               "repeated_fraction")
# The noise-scale batches come from their own stream of the training data (seed offset beyond
# any run seed), so measuring them leaves the training batches as they were.
NOISE_SEED_OFFSET = 2**32
NOISE_COLUMNS = ("grad_sq", "grad_trace", "noise_scale")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything that defines one training run. Only `params` and `tokens` are required.

    `params` is the target non-embedding parameter count (the ladder picks the shape; the exact
    count is recorded), `tokens` the training budget. None means "use the documented rule"
    (see `schedules` and `models.ladder`). `cooldown_tokens` lists token counts where a WSD run
    branches off a cooldown to measure a final loss at that D. `threads=0` uses all cores.
    """

    params: float
    tokens: float
    corpus: str = "stdlib"
    corpus_path: str | None = None
    vocab_size: int | None = None
    family: str = "transformer"
    n_layer: int | None = None
    d_model: int | None = None
    n_head: int | None = None
    n_ctx: int | None = None
    positions: str = "learned"
    tied_embeddings: bool = False
    batch_tokens: int | None = None
    lr: float | None = None
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    schedule: str = "cosine"
    warmup_tokens: float | None = None
    cooldown_tokens: tuple[float, ...] = ()
    eval_count: int = 8
    eval_tokens: int = 16384
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    compile: bool = False
    min_digits: int = 1
    max_digits: int = 4
    markov_order: int = 2
    # Train on only the first `unique_tokens` tokens of the corpus's train split, repeated for
    # as many epochs as the budget needs (data-limited runs: overfitting, memorization).
    unique_tokens: int | None = None
    # A repeated subset mixed into fresh text (memorization): `repeated_fraction` of each batch's
    # windows come from the first `repeated_tokens` tokens of the train split, the rest from
    # the train split after them.
    repeated_tokens: int | None = None
    repeated_fraction: float = 0.0
    # At the end, the mean loss of each of this many training windows (seen: repeated with
    # unique_tokens, or the repeated subset) and as many validation windows (fresh): for the
    # memorization check.
    sequence_losses: int = 0
    # At every evaluation, the gradient noise scale from this many fresh batches (0: off).
    noise_scale_batches: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "cooldown_tokens", tuple(float(t) for t in self.cooldown_tokens))
        if self.corpus_path is not None:
            object.__setattr__(self, "corpus_path", str(self.corpus_path))
        _require(
            self.params > 0 and math.isfinite(self.params),
            f"--params must be positive, got {self.params}",
        )
        _require(
            self.tokens >= 1 and math.isfinite(self.tokens),
            f"--tokens must be at least 1, got {self.tokens}",
        )
        _require(
            self.corpus in CORPORA,
            f"unknown corpus {self.corpus!r}; choose one of {', '.join(CORPORA)}",
        )
        _require(
            self.family in FAMILIES,
            f"unknown family {self.family!r}; choose one of {', '.join(FAMILIES)}",
        )
        _require(
            self.schedule in SCHEDULES,
            f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}",
        )
        _require(
            self.device in DEVICES,
            f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}",
        )
        _require(
            self.positions in ("learned", "rotary"),
            f"positions must be 'learned' or 'rotary', got {self.positions!r}",
        )
        _require(
            self.lr is None or (self.lr > 0 and math.isfinite(self.lr)),
            f"--lr must be positive and finite, got {self.lr}",
        )
        _require(self.n_ctx is None or self.n_ctx >= 1, f"--n-ctx must be >= 1, got {self.n_ctx}")
        for name in ("n_layer", "d_model", "n_head"):
            value = getattr(self, name)
            _require(
                value is None or value >= 1,
                f"--{name.replace('_', '-')} must be at least 1, got {value}",
            )
        _require(0 <= self.seed < 2**32, f"--seed must be in [0, 2^32), got {self.seed}")
        _require(
            self.warmup_tokens is None
            or (self.warmup_tokens >= 0 and math.isfinite(self.warmup_tokens)),
            f"--warmup-tokens must be 0 or more (finite), got {self.warmup_tokens}",
        )
        _require(
            self.weight_decay >= 0 and math.isfinite(self.weight_decay),
            f"weight_decay must be 0 or more, got {self.weight_decay}",
        )
        _require(
            self.grad_clip > 0 and math.isfinite(self.grad_clip),
            f"grad_clip must be positive, got {self.grad_clip}",
        )
        _require(self.eval_count >= 1, f"eval_count must be >= 1, got {self.eval_count}")
        _require(self.unique_tokens is None or self.unique_tokens >= 1,
                 f"--unique-tokens must be at least 1, got {self.unique_tokens}")
        _require((self.repeated_tokens is None) == (self.repeated_fraction == 0.0),
                 "repeated_tokens and repeated_fraction go together (a subset and its share of "
                 f"each batch), got {self.repeated_tokens} and {self.repeated_fraction}")
        _require(0.0 <= self.repeated_fraction < 1.0,
                 f"repeated_fraction must be in [0, 1), got {self.repeated_fraction}")
        _require(self.repeated_tokens is None or self.unique_tokens is None,
                 "--unique-tokens and repeated_tokens cannot be combined (one repeats the whole "
                 "training set, the other a subset of it)")
        _require(self.sequence_losses >= 0,
                 f"sequence_losses must be 0 or more, got {self.sequence_losses}")
        _require(self.noise_scale_batches == 0 or self.noise_scale_batches >= 2,
                 "noise_scale_batches must be 0 (off) or at least 2 (the estimate compares one "
                 f"batch's gradient with their mean), got {self.noise_scale_batches}")
        _require(self.eval_tokens >= 1, f"eval_tokens must be >= 1, got {self.eval_tokens}")
        _require(self.threads >= 0, f"--threads must be 0 (all cores) or more, got {self.threads}")
        for name in ("min_digits", "max_digits", "markov_order"):
            _require(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        _require(
            self.min_digits <= self.max_digits,
            f"min_digits={self.min_digits} exceeds max_digits={self.max_digits}",
        )
        _require(
            self.batch_tokens is None or self.batch_tokens >= 1,
            f"--batch-tokens must be positive, got {self.batch_tokens}",
        )
        _require(
            not self.cooldown_tokens or self.schedule == "wsd",
            "--cooldown-tokens needs --schedule wsd",
        )
        _require(
            all(0 < t <= self.tokens for t in self.cooldown_tokens),
            f"--cooldown-tokens must lie in (0, tokens={self.tokens:g}]",
        )

    def config_hash(self) -> str:
        """sha256 of the fields that change results (not threads/device/compile)."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in NOT_HASHED}
        for added in ADDED_LATER:  # added later: runs without them
            if not fields[added]:  # keep their hashes
                del fields[added]
        if self.family == "lstm" and self.lr is None:
            # The LSTM rate rule changed (schedules.LSTM_LR): a store's runs under the old rule
            # must not be taken for runs under this one.
            fields["lr_rule"] = f"lstm-{schedules.LSTM_LR:g}"
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (the config is frozen)."""
        return dataclasses.replace(self, **changes)


@dataclass
class RunResult:
    """What a run measured. `status` is "done", "diverged" or "interrupted"."""

    config: RunConfig
    run: str
    status: str
    measurements: pd.DataFrame
    position_losses: pd.DataFrame | None
    accuracy: float | None
    params: int
    params_nonembedding: int
    flops_per_token: float
    tokens: int
    final_loss: float | None
    tokens_per_second: float
    seconds: float
    corpus_fingerprint: str
    config_hash: str
    threads: int | None = None  # torch's intra-op thread count during the run
    device: str | None = None  # "cpu", "cuda:0", ...
    shape: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    sequence_losses: pd.DataFrame | None = None  # split ("train"/"val"), window, loss

    def summary(self) -> dict[str, Any]:
        """The scalar fields as a JSON-able dict (what `scalinglab train --json` prints)."""
        return {
            "run": self.run,
            "status": self.status,
            "params": self.params,
            "params_nonembedding": self.params_nonembedding,
            "flops_per_token": self.flops_per_token,
            "tokens": self.tokens,
            "final_loss": self.final_loss,
            "accuracy": self.accuracy,
            "tokens_per_second": self.tokens_per_second,
            "seconds": self.seconds,
            "corpus_fingerprint": self.corpus_fingerprint,
            "config_hash": self.config_hash,
            "threads": self.threads,
            "device": self.device,
            **self.shape,
            **self.info,
        }


@dataclass
class CheckpointPolicy:
    """When a run saves a checkpoint: often enough that a kill -9 loses little of a tiny or a
    long run, rarely enough that saving costs at most `max_overhead` of the training time.

    The interval in seconds is max(cost / max_overhead, min(run_fraction x the run's expected
    seconds, max_seconds)), and never shorter than `min_steps` steps. `cost` is the measured
    time of the last save (model, optimizer, measurements, fsync), the expected seconds come
    from the measured time per step. `fixed_seconds` restores a plain clock (e.g. the former
    300 s, for benchmarks). The policy also counts saves and their seconds for the run's info.
    """

    max_overhead: float = 0.02
    run_fraction: float = 0.02
    max_seconds: float = 120.0
    min_steps: int = 10
    fixed_seconds: float | None = None
    cost: float = 0.0
    saves: int = 0
    seconds_saving: float = 0.0

    def interval(self, seconds_per_step: float, steps_total: int) -> float:
        """Seconds between checkpoints for a run at this speed and length."""
        if self.fixed_seconds is not None:
            return self.fixed_seconds
        by_run = min(self.run_fraction * seconds_per_step * steps_total, self.max_seconds)
        return max(self.cost / self.max_overhead, by_run)

    def due(self, steps_since: int, seconds_since: float, seconds_per_step: float,
            steps_total: int) -> bool:
        if self.fixed_seconds is None and steps_since < self.min_steps:
            return False
        return seconds_since >= self.interval(seconds_per_step, steps_total)

    def record(self, seconds: float) -> None:
        self.cost = seconds
        self.saves += 1
        self.seconds_saving += seconds


@dataclass
class Plan:
    """The resolved numbers of a run: shape, batch, steps, learning rate, evaluation points."""

    corpus: Corpus
    model_config: TransformerConfig | LSTMConfig
    shape: Shape
    n_ctx: int
    batch_tokens: int
    batch_size: int
    steps: int
    warmup_steps: int
    lr: float
    eval_steps: list[int]
    branches: list[tuple[int, int]]  # (start_step, end_step) of WSD cooldown branches
    decay_start: int  # WSD: where the main run's own cooldown starts
    repeated_windows: int = 0  # windows of each batch from the repeated subset (memorization)

    @property
    def tokens(self) -> int:
        return self.steps * self.batch_tokens


def limited(corpus: Corpus, unique_tokens: int, n_ctx: int) -> Corpus:
    """The corpus with its train split cut to its first `unique_tokens` tokens (at least one
    window), to be repeated without an epoch limit; validation is unchanged (fresh text)."""
    if unique_tokens > len(corpus.train):
        raise ScalinglabError(f"--unique-tokens {unique_tokens} exceeds the {corpus.name} "
                              f"corpus's {len(corpus.train)} training tokens")
    keep = max(unique_tokens, n_ctx + 1)
    return dataclasses.replace(corpus, train=corpus.train[:keep], max_epochs=None,
                               fingerprint=f"{corpus.fingerprint}-first{keep}",
                               info={**corpus.info, "unique_tokens": keep})


def plan_run(cfg: RunConfig) -> Plan:
    """Resolve a config into concrete numbers (raises ScalinglabError on impossible requests)."""
    corpus = get_corpus(
        cfg.corpus,
        path=cfg.corpus_path,
        vocab_size=cfg.vocab_size,
        min_digits=cfg.min_digits,
        max_digits=cfg.max_digits,
        order=cfg.markov_order,
        min_tokens=int(cfg.tokens) + schedules.MAX_BATCH_TOKENS,
    )
    n_ctx = cfg.n_ctx or corpus.n_ctx_default
    if cfg.unique_tokens is not None:
        corpus = limited(corpus, cfg.unique_tokens, n_ctx)
    if cfg.family == "transformer":
        shape = transformer_shape(
            cfg.params, n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head
        )
        model_config: TransformerConfig | LSTMConfig = TransformerConfig(
            vocab_size=corpus.vocab_size,
            n_ctx=n_ctx,
            n_layer=shape.n_layer,
            d_model=shape.d_model,
            n_head=shape.n_head,
            positions=cfg.positions,
            tied_embeddings=cfg.tied_embeddings,
        )
    else:
        if cfg.n_head is not None:
            raise ScalinglabError("--n-head does not apply to the lstm family")
        shape = lstm_shape(cfg.params, n_layer=cfg.n_layer, d_model=cfg.d_model)
        model_config = LSTMConfig(
            vocab_size=corpus.vocab_size, n_layer=shape.n_layer, d_model=shape.d_model
        )

    _check_memory(cfg, model_config)
    batch_tokens = cfg.batch_tokens or schedules.default_batch_tokens(cfg.tokens, n_ctx)
    batch_size = max(1, round(batch_tokens / n_ctx))
    batch_tokens = batch_size * n_ctx
    steps = max(1, round(cfg.tokens / batch_tokens))
    corpus.check_budget(steps * batch_tokens, n_ctx)
    repeated_windows = _repeated_windows(cfg, corpus, n_ctx, batch_size)
    warmup_tokens = (
        cfg.warmup_tokens
        if cfg.warmup_tokens is not None
        else schedules.WARMUP_FRACTION * cfg.tokens
    )
    warmup_steps = max(1, min(steps, round(warmup_tokens / batch_tokens)))
    lr = cfg.lr if cfg.lr is not None else schedules.default_lr(shape.d_model, cfg.family)

    first = max(1.0, steps / 100)
    eval_steps = sorted(
        {int(round(s)) for s in np.geomspace(first, steps, cfg.eval_count)} | {steps}
    )
    decay_start = steps - max(1, round(schedules.COOLDOWN_FRACTION * steps))
    branches = []
    for tokens_b in sorted(set(cfg.cooldown_tokens)):
        end = max(1, round(tokens_b / batch_tokens))
        if end >= steps:
            continue  # the main run's own cooldown measures this D
        start = end - max(1, round(schedules.COOLDOWN_FRACTION * end))
        if start < warmup_steps:
            raise ScalinglabError(
                f"cooldown at {tokens_b:g} tokens would start at step {start}, inside the warmup "
                f"({warmup_steps} steps of {batch_tokens} tokens); choose a later point"
            )
        branches.append((start, end))
    return Plan(
        corpus=corpus,
        model_config=model_config,
        shape=shape,
        n_ctx=n_ctx,
        batch_tokens=batch_tokens,
        batch_size=batch_size,
        steps=steps,
        warmup_steps=warmup_steps,
        lr=lr,
        eval_steps=eval_steps,
        branches=branches,
        decay_start=decay_start,
        repeated_windows=repeated_windows,
    )


def _repeated_windows(cfg: RunConfig, corpus: Corpus, n_ctx: int, batch_size: int) -> int:
    """Windows of each batch drawn from the repeated subset (0 without one), checked to fit."""
    if cfg.repeated_tokens is None:
        return 0
    window = n_ctx + 1
    if not window <= cfg.repeated_tokens <= len(corpus.train) - window:
        raise ScalinglabError(
            f"repeated_tokens {cfg.repeated_tokens} must hold at least one window ({window} "
            f"tokens) and leave one of the {corpus.name} corpus's {len(corpus.train)} training "
            "tokens for fresh text")
    repeated = max(1, round(cfg.repeated_fraction * batch_size))
    if repeated >= batch_size:
        raise ScalinglabError(
            f"a batch of {batch_size} windows has no room for fresh text beside {repeated} "
            "repeated ones; use a bigger batch or a smaller repeated_fraction")
    return repeated


# fp32 weights, gradients and AdamW's two moments: 16 bytes per parameter before activations.
TRAINING_BYTES_PER_PARAM = 16


def _check_memory(cfg: RunConfig, model_config: TransformerConfig | LSTMConfig) -> None:
    """Refuse a model whose weights and optimizer state alone exceed the device's memory
    (a planned CUDA run on a machine without one is left to the machine that runs it)."""
    total = model_config.param_count().total
    need = TRAINING_BYTES_PER_PARAM * total
    cuda = torch.cuda.is_available()
    if cfg.device == "cuda" and not cuda:
        return
    if cfg.device != "cpu" and cuda:
        have = torch.cuda.get_device_properties(0).total_memory
        where = "the GPU has"
    else:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        where = "this machine has"
    if need > have:
        raise ScalinglabError(
            f"--params {cfg.params:g}: a model of {total:,} parameters needs about "
            f"{need / 1e9:,.3g} GB for weights, gradients and AdamW state; {where} "
            f"{have / 1e9:,.3g} GB"
        )


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ScalinglabError(message)


def run_name(cfg: RunConfig, shape: Shape) -> str:
    """A readable run id: family, corpus, N, D, seed and the config-hash prefix."""
    return (
        f"{cfg.family}-{cfg.corpus}-N{_short(shape.params_nonembedding)}-D{_short(cfg.tokens)}"
        f"-{cfg.schedule}-s{cfg.seed}-{cfg.config_hash()[:8]}"
    )


def _short(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def build_model(plan: Plan) -> nn.Module:
    """A freshly initialised model of the plan's shape (seed the RNG first)."""
    if isinstance(plan.model_config, TransformerConfig):
        return Transformer(plan.model_config)
    return LSTMLanguageModel(plan.model_config)


def make_optimizer(
    model: nn.Module, lr: float, weight_decay: float, fused: bool
) -> torch.optim.AdamW:
    """AdamW; weight decay on every matrix (embeddings included, as nanoGPT), not on gains."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=fused or None)


class _Trainer:
    """The state and the steps of one run; `train_run` drives it."""

    def __init__(self, cfg: RunConfig, plan: Plan, device: torch.device) -> None:
        self.cfg = cfg
        self.plan = plan
        self.device = device
        self.cuda = device.type == "cuda"
        torch.manual_seed(cfg.seed)
        self.model = build_model(plan).to(device)
        self.forward = torch.compile(self.model) if cfg.compile else self.model
        self.optimizer = make_optimizer(self.model, plan.lr, cfg.weight_decay, fused=self.cuda)
        self.params = [p for p in self.model.parameters()]
        self.sampler: BatchSampler | MixedSampler = BatchSampler(
            plan.corpus, plan.n_ctx, plan.batch_size, cfg.seed)
        if plan.repeated_windows:
            self.sampler = MixedSampler(plan.corpus, plan.n_ctx, plan.batch_size, cfg.seed,
                                        int(cfg.repeated_tokens or 0), plan.repeated_windows)
        self.noise_sampler = BatchSampler(plan.corpus, plan.n_ctx, plan.batch_size,
                                          cfg.seed + NOISE_SEED_OFFSET)
        val = plan.corpus.val_windows(plan.n_ctx, cfg.eval_tokens)
        self.val = torch.from_numpy(val).to(device)
        self.vocab_size = plan.corpus.vocab_size
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else nullcontext()

    def lr_at(self, step: int) -> float:
        p = self.plan
        if self.cfg.schedule == "cosine":
            return schedules.cosine_lr(step, p.lr, p.warmup_steps, p.steps)
        return schedules.wsd_lr(step, p.lr, p.warmup_steps, p.decay_start, p.steps)

    def step(self, step: int, lr: float) -> torch.Tensor:
        """One optimizer step on the batch of `step`; returns the (detached) training loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = torch.from_numpy(self.sampler.batch(step))
        if self.cuda:
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        with self.autocast:
            logits = self.forward(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip, foreach=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    @torch.inference_mode()
    def evaluate(self, final: bool = False) -> tuple[float, np.ndarray | None, float | None]:
        """Validation loss (nats/token); at the end also loss by position and accuracy."""
        self.model.eval()
        n_windows, n_ctx = self.val.shape[0], self.val.shape[1] - 1
        chunk = max(1, EVAL_LOGIT_FLOATS // (n_ctx * self.vocab_size))
        position_sum = torch.zeros(n_ctx, device=self.device)
        predictions = []
        for start in range(0, n_windows, chunk):
            windows = self.val[start : start + chunk]
            with self.autocast:
                logits = self.forward(windows[:, :-1])
            losses = F.cross_entropy(
                logits.float().reshape(-1, self.vocab_size),
                windows[:, 1:].reshape(-1),
                reduction="none",
            )
            position_sum += losses.view(-1, n_ctx).sum(0)
            if final and self.plan.corpus.accuracy is not None:
                predictions.append(logits.argmax(-1).cpu())
        self.model.train()
        by_position = (position_sum / n_windows).cpu().numpy()
        loss = float(by_position.mean())
        accuracy = None
        if predictions:
            correct, total = self.plan.corpus.accuracy(
                self.val.cpu().numpy(), torch.cat(predictions).numpy()
            )
            accuracy = correct / total if total else None
        return loss, (by_position if final else None), accuracy

    def gradient_noise(self, step: int, batches: int) -> dict[str, float]:
        """|G|^2, tr(Sigma) and B_simple from `batches` fresh batches' raw gradients.

        With b = the batch in tokens and B = batches * b, the mean squared norm of one batch's
        gradient has expectation |G|^2 + tr(Sigma)/b and the squared norm of their mean
        |G|^2 + tr(Sigma)/B; solving the two gives unbiased estimates of both (McCandlish et al.
        2018, App. A.1). Their ratio B_simple = tr(Sigma)/|G|^2 is noisy per evaluation: pool the
        two parts over evaluations before dividing (`analyses.noise_scale`).
        """
        total: torch.Tensor | None = None
        small = 0.0
        for index in range(batches):
            batch = torch.from_numpy(self.noise_sampler.batch(step * batches + index))
            batch = batch.to(self.device)
            with self.autocast:
                logits = self.forward(batch[:, :-1])
                loss = F.cross_entropy(logits.reshape(-1, self.vocab_size),
                                       batch[:, 1:].reshape(-1))
            loss.backward()
            grad = torch.cat([p.grad.reshape(-1) for p in self.params
                              if p.grad is not None]).double()
            self.optimizer.zero_grad(set_to_none=True)
            small += float(grad.square().sum()) / batches
            total = grad if total is None else total + grad
        assert total is not None
        big = float((total / batches).square().sum())
        return noise_estimates(small, big, self.plan.batch_tokens, batches)

    @torch.inference_mode()
    def sequence_losses(self, count: int) -> pd.DataFrame:
        """Mean loss of each of the first `count` training windows (text the model has seen)
        and `count` validation windows (fresh text)."""
        self.model.eval()
        n_ctx = self.plan.n_ctx
        train = self.plan.corpus.train
        if self.cfg.repeated_tokens is not None:  # the seen windows: the repeated subset's
            train = train[: self.cfg.repeated_tokens]
        n_train = min(count, (len(train) - 1) // n_ctx)
        seen = np.stack([np.asarray(train[i * n_ctx: i * n_ctx + n_ctx + 1], dtype=np.int64)
                         for i in range(n_train)])
        frames = []
        for split, windows in (("train", torch.from_numpy(seen).to(self.device)),
                               ("val", self.val[:count])):
            with self.autocast:
                logits = self.forward(windows[:, :-1])
            losses = F.cross_entropy(logits.float().reshape(-1, self.vocab_size),
                                     windows[:, 1:].reshape(-1), reduction="none")
            frames.append(pd.DataFrame({"split": split, "window": np.arange(len(windows)),
                                        "loss": losses.view(len(windows), -1).mean(1).cpu()}))
        self.model.train()
        return pd.concat(frames, ignore_index=True)

    def snapshot(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        model_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return model_state, copy.deepcopy(self.optimizer.state_dict())

    def restore(self, snapshot: tuple[dict[str, torch.Tensor], dict[str, Any]]) -> None:
        self.model.load_state_dict(snapshot[0])
        self.optimizer.load_state_dict(snapshot[1])


def noise_estimates(small: float, big: float, batch_tokens: float,
                    batches: int) -> dict[str, float]:
    """|G|^2, tr(Sigma) and B_simple from the mean squared norm of `batches` gradients of
    `batch_tokens` tokens each (`small`) and the squared norm of their mean (`big`)."""
    b, big_b = float(batch_tokens), float(batch_tokens) * batches
    trace = (small - big) / (1.0 / b - 1.0 / big_b)
    grad_sq = (big_b * big - b * small) / (big_b - b)
    return {"grad_sq": grad_sq, "grad_trace": trace,
            "noise_scale": trace / grad_sq if grad_sq > 0 else float("nan")}


def resolve_device(device: str) -> torch.device:
    """ "auto" picks CUDA when present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ScalinglabError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    """The device as recorded with a run: "cpu", or "cuda:<index>" with the index resolved."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index}"
    return str(device)


def train_run(
    cfg: RunConfig,
    out_dir: Path | str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    overwrite: bool = False,
    checkpoints: CheckpointPolicy | None = None,
) -> RunResult:
    """Train one run and return its measurements (see the module doc for what it does).

    `out_dir` gets `measurements.csv`, `position_losses.csv`, `result.json`, the tokenizer (BPE
    text corpora) and, while unfinished, `checkpoint-<hash>.pt`; a finished run there with the
    same config hash is returned as is, an unfinished one resumes. `progress(dict)` is called
    about twice a second; `should_stop()` is checked every step and, when true, the run is
    checkpointed and returned with status "interrupted". A folder holding a run of another
    configuration (finished, or a checkpoint) is refused unless `overwrite`, which first removes
    that run's files. Every file is written whole or not at all (`scalinglab.files`).
    `checkpoints` says when to save (default: `CheckpointPolicy()`).
    """
    # A copy: the policy counts this run's saves, and the caller's policy stays as given.
    checkpoints = dataclasses.replace(checkpoints or CheckpointPolicy(), cost=0.0, saves=0,
                                      seconds_saving=0.0)
    started = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    threads = torch.get_num_threads()
    device = resolve_device(cfg.device)
    device_label = device_name(device)
    config_hash = cfg.config_hash()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_output_folder(out, "--out")
        if out.is_dir():
            _claim_folder(out, config_hash, overwrite)
            finished = _load_finished(cfg, out, config_hash)
            if finished is not None:
                return finished

    plan = plan_run(cfg)
    if out is not None:  # created only once the run is known to be possible
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_error(error, out) from None
    run = run_name(cfg, plan.shape)
    trainer = _Trainer(cfg, plan, device)
    counts = plan.model_config.param_count()
    flops_per_token = plan.model_config.flops_per_token()
    if out is not None and plan.corpus.tokenizer_json is not None:
        write_text(out / "tokenizer.json", plan.corpus.tokenizer_json)

    rows: list[dict[str, Any]] = []
    done_branches: set[int] = set()
    first_step, seconds_before = 0, 0.0
    checkpoint_path = out / f"checkpoint-{config_hash[:16]}.pt" if out is not None else None
    if checkpoint_path is not None and checkpoint_path.exists():
        first_step, seconds_before, rows, done_branches = _resume(checkpoint_path, trainer,
                                                                  device)

    def row(step: int, loss: float, final: bool, phase: str,
            noise: dict[str, float] | None = None) -> dict[str, Any]:
        tokens = step * plan.batch_tokens
        return {
            "run": run,
            "family": cfg.family,
            "params": counts.total,
            "params_nonembedding": counts.nonembedding,
            "tokens": tokens,
            "flops": flops_per_token * tokens,
            "loss": loss,
            "seed": cfg.seed,
            "lr": plan.lr,
            "final": final,
            "split": "val",
            "flops_kaplan": kaplan_flops(counts.nonembedding, tokens),
            "phase": phase,
            "step": step,
            "warmup_tokens": plan.warmup_steps * plan.batch_tokens,
            "corpus": cfg.corpus,
            "schedule": cfg.schedule,
            "n_layer": plan.shape.n_layer,
            "d_model": plan.shape.d_model,
            "n_head": plan.shape.n_head,
            "n_ctx": plan.n_ctx,
            "batch_tokens": plan.batch_tokens,
            "config_hash": config_hash,
            "threads": threads,
            "device": device_label,
            **({"unique_tokens": len(plan.corpus.train)} if cfg.unique_tokens else {}),
            **({"repeated_tokens": cfg.repeated_tokens,
                "repeated_passes": trainer.sampler.passes(step)}  # type: ignore[union-attr]
               if plan.repeated_windows else {}),
            **({k: (noise or {}).get(k, float("nan")) for k in NOISE_COLUMNS}
               if cfg.noise_scale_batches else {}),
        }

    def measure_noise(step: int) -> dict[str, float] | None:
        if not cfg.noise_scale_batches:
            return None
        return trainer.gradient_noise(step, cfg.noise_scale_batches)

    def save_checkpoint(step: int) -> None:
        if checkpoint_path is None:
            return
        saving = time.perf_counter()
        state = {
            "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "seconds": seconds_before + time.perf_counter() - started,
            "rows": rows,
            "done_branches": sorted(done_branches),
            "config_hash": config_hash,
        }
        write_with(checkpoint_path, lambda handle: torch.save(state, handle))
        _write_measurements(out, rows)  # type: ignore[arg-type]
        checkpoints.record(time.perf_counter() - saving)

    status = "done"
    pending: list[torch.Tensor] = []
    last_loss = float("nan")
    last_val = rows[-1]["loss"] if rows else None
    last_report = last_checkpoint = time.perf_counter()
    tokens_this_session = 0
    eval_steps = set(plan.eval_steps)
    branch_at = {start: end for start, end in plan.branches}

    def report(step: int, phase: str) -> None:
        nonlocal last_report
        last_report = time.perf_counter()
        if progress is None:
            return
        elapsed = last_report - started
        progress(
            {
                "step": step,
                "steps": plan.steps,
                "tokens": step * plan.batch_tokens,
                "tokens_total": plan.tokens,
                "loss": last_loss,
                "val_loss": last_val,
                "lr": trainer.lr_at(min(step, plan.steps - 1)),
                "tokens_per_second": tokens_this_session / elapsed if elapsed > 0 else 0.0,
                "flops": flops_per_token * step * plan.batch_tokens,
                "phase": phase,
            }
        )

    def check(losses: list[torch.Tensor]) -> bool:
        """Mean of pending losses into last_loss; False if any was NaN/inf."""
        nonlocal last_loss
        if not losses:
            return True
        values = torch.stack(losses).float()
        losses.clear()
        last_loss = float(values.mean())
        return bool(torch.isfinite(values).all())

    step = first_step
    loop_started, last_checkpoint_step = time.perf_counter(), first_step
    while step < plan.steps:
        if step in branch_at and step not in done_branches:
            end = branch_at[step]
            snapshot = trainer.snapshot()
            branch_losses = []
            for s in range(step, end):
                lr = schedules.wsd_lr(s, plan.lr, plan.warmup_steps, step, end)
                branch_losses.append(trainer.step(s, lr))
            loss, _, _ = trainer.evaluate()
            trainer.restore(snapshot)
            tokens_this_session += (end - step) * plan.batch_tokens
            if not check(branch_losses) or not math.isfinite(loss):
                status = "diverged"
                break
            rows.append(row(end, loss, final=True, phase="cooldown"))
            done_branches.add(step)
            report(step, "cooldown")
        if should_stop is not None and should_stop():
            status = "interrupted"
            break
        pending.append(trainer.step(step, trainer.lr_at(step)))
        step += 1
        tokens_this_session += plan.batch_tokens
        if len(pending) >= LOSS_CHECK_STEPS or step in eval_steps:
            if not check(pending):
                status = "diverged"
                break
        if step in eval_steps:
            final = step == plan.steps
            if not final:
                last_val, _, _ = trainer.evaluate()
                if not math.isfinite(last_val):
                    status = "diverged"
                    break
                rows.append(row(step, last_val, final=False, phase="train",
                                noise=measure_noise(step)))
            report(step, "eval")
        now = time.perf_counter()
        if now - last_report > PROGRESS_SECONDS:
            report(step, "train")
        if checkpoint_path is not None and checkpoints.due(
            step - last_checkpoint_step, now - last_checkpoint,
            (now - loop_started) / max(1, step - first_step), plan.steps,
        ):
            save_checkpoint(step)
            last_checkpoint, last_checkpoint_step = time.perf_counter(), step

    position_losses = None
    accuracy = None
    sequence_losses = None
    if status == "done":
        final_loss, by_position, accuracy = trainer.evaluate(final=True)
        if cfg.sequence_losses:
            sequence_losses = trainer.sequence_losses(cfg.sequence_losses)
        if not math.isfinite(final_loss):
            status = "diverged"
        else:
            last_val = final_loss
            rows.append(row(plan.steps, final_loss, final=True, phase="train",
                            noise=measure_noise(plan.steps)))
            position_losses = pd.DataFrame(
                {"position": np.arange(1, plan.n_ctx + 1), "loss": by_position}
            )
    if status == "interrupted":
        save_checkpoint(step)
    report(step, status)

    seconds = seconds_before + time.perf_counter() - started
    measurements = pd.DataFrame(rows, columns=list(row(0, 0.0, False, "").keys()))
    # Cooldown branches are measured when they start; order rows by tokens for readers.
    measurements = measurements.sort_values("tokens", kind="stable").reset_index(drop=True)
    # The run's own end, not a cooldown branch (those are finished models too, at smaller D).
    run_end = finished_rows(measurements)
    run_end = run_end[run_end["phase"] == "train"]
    info: dict[str, Any] = {"corpus": cfg.corpus, **plan.corpus.info}
    if plan.corpus.entropy_rate is not None:
        info["entropy_rate"] = plan.corpus.entropy_rate
    result = RunResult(
        config=cfg,
        run=run,
        status=status,
        measurements=measurements,
        position_losses=position_losses,
        accuracy=accuracy,
        sequence_losses=sequence_losses,
        params=counts.total,
        params_nonembedding=counts.nonembedding,
        flops_per_token=flops_per_token,
        tokens=plan.tokens,
        final_loss=float(run_end["loss"].iloc[-1]) if len(run_end) else None,
        tokens_per_second=tokens_this_session / max(time.perf_counter() - started, 1e-9),
        seconds=seconds,
        corpus_fingerprint=plan.corpus.fingerprint,
        config_hash=config_hash,
        threads=threads,
        device=device_label,
        shape={
            "n_layer": plan.shape.n_layer,
            "d_model": plan.shape.d_model,
            "n_head": plan.shape.n_head,
            "n_ctx": plan.n_ctx,
            "batch_tokens": plan.batch_tokens,
            "steps": plan.steps,
        },
        info=info | {"lr": plan.lr, "checkpoints": checkpoints.saves,
                     "checkpoint_seconds": checkpoints.seconds_saving},
    )
    if out is not None and status != "interrupted":
        _write_result(out, result)
        if checkpoint_path is not None and checkpoint_path.exists():
            checkpoint_path.unlink()
    return result


def _resume(
    path: Path, trainer: _Trainer, device: torch.device
) -> tuple[int, float, list[dict[str, Any]], set[int]]:
    """Load a checkpoint into the trainer; a damaged one is one line naming the file."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        return (int(state["step"]), float(state["seconds"]), list(state["rows"]),
                set(state["done_branches"]))
    except Exception as error:  # truncated, corrupt, foreign or of another shape
        reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        raise ScalinglabError(
            f"{path}: checkpoint is damaged or not this run's ({type(error).__name__}"
            f"{': ' + reason if reason else ''}); delete it to restart the run from step 0"
        ) from None


def _write_measurements(out: Path, rows: list[dict[str, Any]]) -> None:
    if rows:
        write_table(pd.DataFrame(rows), out / "measurements.csv")


def _write_result(out: Path, result: RunResult) -> None:
    """measurements.csv, position_losses.csv, then result.json (which marks the run finished)."""
    write_table(result.measurements, out / "measurements.csv")
    if result.position_losses is not None:
        write_table(result.position_losses, out / "position_losses.csv")
    if result.sequence_losses is not None:
        write_table(result.sequence_losses, out / "sequence_losses.csv")
    payload = {"summary": result.summary(), "config": dataclasses.asdict(result.config)}
    write_text(out / "result.json", json.dumps(payload, indent=2, default=_json_default))


RUN_FILES = ("result.json", "measurements.csv", "position_losses.csv", "sequence_losses.csv",
             "tokenizer.json")


def _claim_folder(out: Path, config_hash: str, overwrite: bool) -> None:
    """Refuse a folder holding another configuration's run, unless `overwrite` (then clear it)."""
    other = _other_run(out, config_hash)
    if other is None:
        return
    if not overwrite:
        raise ScalinglabError(
            f"--out {out}: holds {other}; choose another folder or pass --overwrite to replace it"
        )
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for checkpoint in out.glob("checkpoint-*.pt"):
        if not checkpoint.name.startswith(f"checkpoint-{config_hash[:16]}"):
            checkpoint.unlink()


def _other_run(out: Path, config_hash: str) -> str | None:
    """What in `out` belongs to another configuration (a description), or None."""
    path = out / "result.json"
    if path.exists():
        summary = _read_summary(path)
        if summary.get("config_hash") != config_hash:
            run = summary.get("run", "?")
            return f"a {summary.get('status', 'finished')} run of another configuration ({run})"
    for checkpoint in out.glob("checkpoint-*.pt"):
        if not checkpoint.name.startswith(f"checkpoint-{config_hash[:16]}"):
            return f"an unfinished run of another configuration ({checkpoint.name})"
    return None


def _read_summary(path: Path) -> dict[str, Any]:
    """The `summary` of a result.json, checked to be the shape `train_run` writes."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ScalinglabError(f"{path}: not a readable result.json ({error})") from None
    summary = payload.get("summary") if isinstance(payload, dict) else None
    if not isinstance(summary, dict) or not isinstance(summary.get("config_hash"), str):
        raise ScalinglabError(
            f"{path}: not a result.json written by scalinglab (no summary with a config_hash); "
            "move it aside or pass --overwrite"
        )
    return summary


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serialisable: {value!r}")


def _load_finished(cfg: RunConfig, out: Path, config_hash: str) -> RunResult | None:
    """A finished run with the same config hash in `out`, or None."""
    path = out / "result.json"
    if not path.exists():
        return None
    summary = _read_summary(path)
    if summary.get("config_hash") != config_hash or summary.get("status") != "done":
        return None
    try:
        measurements = pd.read_csv(out / "measurements.csv")
    except (OSError, ValueError) as error:
        raise ScalinglabError(
            f"{out / 'measurements.csv'}: the finished run's measurements cannot be read "
            f"({type(error).__name__}); pass --overwrite to train it again") from None
    positions_path = out / "position_losses.csv"
    shape_keys = ("n_layer", "d_model", "n_head", "n_ctx", "batch_tokens", "steps")
    scalar_keys = {
        "run",
        "status",
        "params",
        "params_nonembedding",
        "flops_per_token",
        "tokens",
        "final_loss",
        "accuracy",
        "tokens_per_second",
        "seconds",
        "corpus_fingerprint",
        "config_hash",
    }
    missing = [k for k in scalar_keys if k not in summary]
    if missing:
        raise ScalinglabError(
            f"{path}: result.json lacks {', '.join(sorted(missing))}; pass --overwrite to train "
            "the run again")
    return RunResult(
        config=cfg,
        threads=summary.get("threads"),
        device=summary.get("device"),
        measurements=measurements,
        position_losses=pd.read_csv(positions_path) if positions_path.exists() else None,
        sequence_losses=(pd.read_csv(out / "sequence_losses.csv")
                         if (out / "sequence_losses.csv").exists() else None),
        shape={k: summary[k] for k in shape_keys if k in summary},
        info={k: v for k, v in summary.items()
              if k not in scalar_keys and k not in shape_keys and k not in ("threads", "device")},
        **{k: summary[k] for k in scalar_keys},
    )
