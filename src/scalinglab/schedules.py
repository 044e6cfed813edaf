"""Learning-rate schedules and the rules that pick a run's learning rate and batch size.

Both rules exist so that hyperparameters do not bias a scaling exponent: a run that gets too few
optimizer steps, or a learning rate tuned for another width, lands above the law and tilts it.

- Batch: about `TARGET_STEPS` optimizer steps per run. batch_tokens = n_ctx * 2^round(log2(
  tokens / (TARGET_STEPS * n_ctx))), at least one window and at most `MAX_BATCH_TOKENS` (2^19
  tokens, the order of Kaplan et al.'s critical batch size at the losses these models reach,
  Fig. 10). Batch size thus grows with the token budget, as the critical batch grows with
  training progress. Measured on stdlib: a fixed 4096-token batch left 34k-130k-param runs
  with 120-550 steps; ~1000 steps lowered their final loss by 7-10% at the same tokens.
  Measured against the critical batch on stdlib (`scalinglab reproduce critical-batch`,
  docs/reproductions.md): at 5.6e4 parameters B_crit(L) is 2.2e3 tokens at L = 2.15 rising
  to 7.9e3 at 1.75 (alpha_B = 0.16 [0.08, 0.47]), the gradient noise scale 2.5e3 to 4e3; the
  1,024-token batch the demo's runs use lies below B_crit at every loss they reach, so they
  spend tokens efficiently (more steps, not more tokens, is what a smaller batch costs).
- Learning rate: peak lr = LR_REFERENCE * (D_REFERENCE / d_model), capped at LR_MAX. Adam's
  per-weight update size makes the stable rate of hidden matrices fall as 1/width (the muP
  rule for Adam, Yang et al. 2022); 3e-3 at width 128 matches nanoGPT-class small models.
  A scan on stdlib (1.5e6 tokens, batch 1024, cosine, lr 1e-3 to 2.2e-1; docs/demo.md)
  confirmed it for transformers (best 1e-2 at width 32, 4.6e-3 at width 64; the rule gives
  1e-2 and 6e-3) and refuted it for LSTMs, whose best rate was 4.6e-2 at width 36 and 1e-1 at
  width 64 (loss 1.73 and 1.58, against 2.09 and 1.90 at the transformer rule's rate), with a
  broad basin from 4.6e-2 to 1e-1: LSTMs get `LSTM_LR` (6.8e-2, the basin's centre) at every
  width. The same transformer-vs-LSTM comparison with the transformer rule for both would have
  handicapped the LSTM by 10% in loss.
- Warmup: linear over `warmup_tokens` (default 5% of the budget, at least one step).
- cosine: from the peak down to 10% of it exactly at the run's own budget (Chinchilla's
  correction of Kaplan, whose cosine ended past the budget).
- wsd: warmup, then constant, then a cooldown over the last `COOLDOWN_FRACTION` (20%) of the
  tokens with the 1-sqrt shape (Hägele et al. 2024). A cooldown can branch off the constant phase
  at several token counts, each giving a final loss at its own D from one run.
"""

from __future__ import annotations

import math

TARGET_STEPS = 1000
MAX_BATCH_TOKENS = 2**19
LR_REFERENCE = 3e-3
D_REFERENCE = 128
LR_MAX = 1e-2
LSTM_LR = 6.8e-2  # the centre of the stdlib scan's basin (4.6e-2 to 1e-1), see module doc
WARMUP_FRACTION = 0.05
COOLDOWN_FRACTION = 0.2
COSINE_FINAL_FRACTION = 0.1


def default_batch_tokens(tokens: float, n_ctx: int) -> int:
    """Tokens per optimizer step for a run of `tokens` (see module doc)."""
    windows = tokens / (TARGET_STEPS * n_ctx)
    windows = 2 ** round(math.log2(windows)) if windows >= 1 else 1
    return int(n_ctx * max(1, min(windows, MAX_BATCH_TOKENS // n_ctx)))


def default_lr(d_model: int, family: str = "transformer") -> float:
    """Peak learning rate for a model of width `d_model` of `family` (see module doc)."""
    if family == "lstm":
        return LSTM_LR
    return min(LR_MAX, LR_REFERENCE * D_REFERENCE / d_model)


def cosine_lr(step: int, peak: float, warmup_steps: int, total_steps: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak at `total_steps`."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    floor = COSINE_FINAL_FRACTION * peak
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


def wsd_lr(step: int, peak: float, warmup_steps: int, decay_start: int, end_step: int) -> float:
    """Warmup, constant at the peak, then 1-sqrt decay to zero over [decay_start, end_step)."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if step < decay_start:
        return peak
    progress = (step - decay_start) / max(1, end_step - decay_start)
    return peak * (1.0 - math.sqrt(min(1.0, progress)))
