"""Generated addition problems such as `3817+2205=6022\\n`, with exact-match accuracy.

Operands have between `min_digits` and `max_digits` digits (drawn uniformly, then the number
uniformly among numbers of that length). Training and validation problems are disjoint: a
problem (a, b) is held out when a hash of the pair falls in the lowest 1/16, so accuracy
measures generalisation, not memorisation (for 1-digit operands a few of the 100 problems).

Besides loss, a run reports exact-match accuracy: the share of validation problems whose whole
answer (digits and the newline) the model gets right by greedy decoding. With the true prefix
given, greedy decoding reproduces the answer exactly when every answer token is the argmax of
its prediction, so one teacher-forced forward pass measures it.
"""

from __future__ import annotations

import numpy as np

from scalinglab.data.base import Corpus, fingerprint_of
from scalinglab.errors import ScalinglabError

VOCAB = "0123456789+=\n"
EQUALS = VOCAB.index("=")
NEWLINE = VOCAB.index("\n")
DEFAULT_TOKENS = 2**20
VAL_TOKENS = 2**17
MAX_DIGITS = 18
_TABLE = bytes.maketrans(VOCAB.encode(), bytes(range(len(VOCAB))))


def is_validation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Deterministic split of problem space: about 1/16 of (a, b) pairs are held out."""
    x = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ b.astype(np.uint64)
    x = (x ^ (x >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
    return (x >> np.uint64(59)) % np.uint64(16) == 0


def _operands(rng: np.random.Generator, n: int, min_digits: int, max_digits: int) -> np.ndarray:
    digits = rng.integers(min_digits, max_digits + 1, size=n)
    low = np.where(digits == 1, 0, 10 ** (digits - 1))
    high = 10**digits
    return low + (rng.random(n) * (high - low)).astype(np.int64)


def problems_text(
    seed: int, n_tokens: int, min_digits: int, max_digits: int, held_out: bool
) -> np.ndarray:
    """At least `n_tokens` token ids of problems from the train (or held-out) side."""
    rng = np.random.default_rng([seed, min_digits, max_digits, int(held_out)])
    average = 2 * (min_digits + max_digits) / 2 + (max_digits + 1) + 3
    pieces, total, misses = [], 0, 0
    while total < n_tokens:
        n = max(1024, int((n_tokens - total) / average * 1.1))
        a = _operands(rng, n, min_digits, max_digits)
        b = _operands(rng, n, min_digits, max_digits)
        keep = is_validation(a, b) == held_out
        if not keep.any():
            misses += 1
            if misses > 10:
                side = "held-out" if held_out else "training"
                raise ScalinglabError(
                    f"arithmetic {min_digits}..{max_digits} digits: no {side} problems"
                )
            continue
        text = "".join(f"{x}+{y}={x + y}\n" for x, y in zip(a[keep], b[keep], strict=True))
        ids = np.frombuffer(text.encode().translate(_TABLE), dtype=np.uint8)
        pieces.append(ids)
        total += len(ids)
    return np.concatenate(pieces)


def load_arithmetic(
    min_digits: int = 1, max_digits: int = 4, min_tokens: int = DEFAULT_TOKENS, seed: int = 0
) -> Corpus:
    """Addition problems (vocab 13: digits, '+', '=', newline)."""
    if not 1 <= min_digits <= max_digits <= MAX_DIGITS:
        raise ScalinglabError(
            f"arithmetic digits must satisfy 1 <= min_digits <= max_digits <= {MAX_DIGITS}, "
            f"got {min_digits}..{max_digits}"
        )
    train = problems_text(seed, max(min_tokens, DEFAULT_TOKENS), min_digits, max_digits, False)
    val = problems_text(seed, VAL_TOKENS, min_digits, max_digits, True)
    return Corpus(
        "arithmetic",
        train,
        val,
        len(VOCAB),
        "arithmetic-" + fingerprint_of({"digits": [min_digits, max_digits], "seed": seed}),
        accuracy=exact_match,
        info={"min_digits": min_digits, "max_digits": max_digits},
    )


def exact_match(windows: np.ndarray, predictions: np.ndarray) -> tuple[int, int]:
    """(correct, total) over the problems wholly inside the windows.

    `windows` [n, n_ctx + 1] are token ids, `predictions` [n, n_ctx] the argmax next token at
    each input position. A problem counts when its preceding newline is inside the window (so
    the model saw all of it); it is correct when every token after its '=' is predicted.
    """
    correct = total = 0
    for window, predicted in zip(windows, predictions, strict=True):
        newlines = np.flatnonzero(window == NEWLINE)
        for begin, end in zip(newlines[:-1], newlines[1:], strict=True):
            equals = begin + 1 + np.flatnonzero(window[begin + 1 : end] == EQUALS)
            if len(equals) != 1:
                continue
            answer = np.arange(equals[0] + 1, end + 1)  # positions of answer tokens in window
            total += 1
            correct += bool(np.all(predicted[answer - 1] == window[answer]))
    return correct, total
