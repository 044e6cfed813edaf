"""The markov loss floor is what the source itself scores on the windows the lab validates on.

The oracle predicts every target with the source's true probabilities (given the context a
model sees in its window), on exactly `Corpus.val_windows(n_ctx, eval_tokens)`. It must reach
`analyses.markov_entropy`'s floor within 2 standard errors (of the mean over windows) and
within 0.3%. Before the validation split became one chain, it scored 2.1214 against 2.1085
on the default windows: every window's last target opened a new chain.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.analyses import markov_entropy
from scalinglab.data import get_corpus
from scalinglab.data.markov import (
    VAL_TOKENS,
    oracle_losses,
    sample,
    sample_chain,
    stationary,
    transition_matrix,
)
from scalinglab.train import RunConfig

RELATIVE_TOLERANCE = 0.003
EVAL_TOKENS = RunConfig(params=1, tokens=1).eval_tokens  # what a default run scores


def oracle_against_floor(windows: np.ndarray, vocab_size: int = 16, order: int = 2
                         ) -> tuple[float, float, float]:
    """(oracle mean loss, its standard error over windows, the exact floor)."""
    P = transition_matrix(vocab_size, order, 0.5, 0)
    losses = oracle_losses(P, stationary(P), order, windows).mean(axis=1)
    _, floor = markov_entropy(vocab_size, order, n_ctx=windows.shape[1] - 1)
    return float(losses.mean()), float(losses.std(ddof=1) / np.sqrt(len(losses))), floor


@pytest.mark.parametrize("n_ctx, eval_tokens", [(128, EVAL_TOKENS), (128, VAL_TOKENS),
                                                (32, VAL_TOKENS)])
def test_the_oracle_reaches_the_floor_on_the_scored_windows(n_ctx, eval_tokens) -> None:
    windows = get_corpus("markov").val_windows(n_ctx, eval_tokens)
    loss, se, floor = oracle_against_floor(windows)
    assert abs(loss - floor) <= 2 * se, (loss, floor, se)
    assert abs(loss / floor - 1) <= RELATIVE_TOLERANCE, (loss, floor)


def test_the_oracle_reaches_the_floor_for_a_higher_order() -> None:
    # Order 3: the first two positions of each window lack context; the floor counts them.
    windows = get_corpus("markov", vocab_size=4, order=3).val_windows(16, VAL_TOKENS)
    loss, se, floor = oracle_against_floor(windows, vocab_size=4, order=3)
    assert abs(loss - floor) <= 2 * se and abs(loss / floor - 1) <= RELATIVE_TOLERANCE


def test_the_oracle_is_exact_position_by_position() -> None:
    # Mean oracle loss at target t is H(X_t | X_0..X_{t-1}): H2 - H1, H3 - H2, then H.
    vocab_size, order = 4, 3
    P = transition_matrix(vocab_size, order, 0.5, 0)
    pi = stationary(P)
    x = sample_chain(P, pi, 17 * 2**14, np.random.default_rng(5)).reshape(-1, 17)
    by_position = oracle_losses(P, pi, order, x).mean(axis=0)

    def block_entropy(k: int) -> float:
        p = np.bincount(np.arange(len(pi)) % vocab_size**k, weights=pi)
        return float(-(p * np.log(p)).sum())

    H, _ = markov_entropy(vocab_size, order)
    expected = [block_entropy(2) - block_entropy(1), block_entropy(3) - block_entropy(2), H]
    np.testing.assert_allclose(by_position[:3], expected, rtol=0.01)
    np.testing.assert_allclose(by_position[3:].mean(), H, rtol=0.003)


def test_chains_laid_end_to_end_miss_the_floor() -> None:
    # The old validation split: 1024 chains of 128 tokens. A window of 128 + 1 tokens ends on
    # the next chain's first token, which no context predicts; the check above catches it.
    P = transition_matrix(16, 2, 0.5, 0)
    val = sample(P, stationary(P), VAL_TOKENS, np.random.default_rng([0, 16, 2, 2]))
    starts = np.arange(0, len(val) - 128, 128)
    loss, se, floor = oracle_against_floor(val[starts[:, None] + np.arange(129)].astype(np.int64))
    assert loss / floor - 1 > RELATIVE_TOLERANCE and loss - floor > 2 * se
