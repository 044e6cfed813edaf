"""A synthetic order-k Markov source whose entropy rate is known exactly.

Next-token probabilities given the previous `order` tokens are drawn once from a symmetric
Dirichlet(`concentration`) per context (seeded). The chain over contexts is irreducible and
aperiodic (every probability is positive), so it has one stationary distribution pi, found by
power iteration, and the entropy rate is exactly

    H = sum_s pi(s) * sum_v -P(v | s) ln P(v | s)   (nats per token).

A perfect model reaches H per token once it has `order` tokens of context, so a fitted
irreducible loss E can be checked against the truth (slightly above H, because the first
`order` positions of each window lack context: `analyses.markov_entropy` gives that floor).

The validation split is one stationary chain (`sample_chain`), so every validation window,
wherever `Corpus.val_windows` cuts it and whatever `n_ctx`, is a stretch of a single chain and
the floor holds exactly for the positions scored. (It used to be 1024 chains of 128 tokens laid
end to end; windows of 128 + 1 tokens then ended on the first token of the next chain, which no
context predicts, and an oracle scored 2.1214 nats against the floor of 2.1085.) The train split
is many chains run side by side (`sample`), which is fast; a training window that crosses from
one chain into the next (n_ctx / 1024 of them at the default size: one target in 1024 has the
wrong context) adds a little noise to training, never to what is measured. Both splits are
stationary from their first token.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from scalinglab.data.base import Corpus, fingerprint_of
from scalinglab.errors import ScalinglabError

DEFAULT_TOKENS = 2**20
VAL_TOKENS = 2**17
MAX_STATES = 2**20
CHAINS = 1024


def transition_matrix(vocab_size: int, order: int, concentration: float, seed: int) -> np.ndarray:
    """P[s, v]: probability of token v after context s (contexts indexed base vocab_size)."""
    rng = np.random.default_rng([seed, vocab_size, order])
    return rng.dirichlet(np.full(vocab_size, concentration), size=vocab_size**order)


def stationary(P: np.ndarray, tol: float = 1e-14, max_iter: int = 100_000) -> np.ndarray:
    """Stationary distribution of the chain over contexts (power iteration)."""
    n_states, vocab_size = P.shape
    successor = (np.arange(n_states)[:, None] * vocab_size + np.arange(vocab_size)) % n_states
    pi = np.full(n_states, 1.0 / n_states)
    for _ in range(max_iter):
        new = np.bincount(successor.ravel(), weights=(pi[:, None] * P).ravel(), minlength=n_states)
        if np.abs(new - pi).sum() < tol:
            return new
        pi = new
    return pi


def entropy_rate(P: np.ndarray, pi: np.ndarray) -> float:
    """H = sum_s pi(s) H(P(. | s)) in nats per token."""
    return float(-(pi[:, None] * P * np.log(P)).sum())


def sample(P: np.ndarray, pi: np.ndarray, n_tokens: int, rng: np.random.Generator) -> np.ndarray:
    """`n_tokens` tokens from CHAINS stationary chains, concatenated."""
    n_states, vocab_size = P.shape
    cdf = np.cumsum(P, axis=1)
    length = -(-n_tokens // CHAINS)
    state = rng.choice(n_states, size=CHAINS, p=pi)
    out = np.empty((CHAINS, length), dtype=np.uint8 if vocab_size <= 256 else np.uint16)
    for t in range(length):
        u = rng.random(CHAINS)
        token = np.minimum((u[:, None] > cdf[state]).sum(axis=1), vocab_size - 1)
        out[:, t] = token
        state = (state * vocab_size + token) % n_states
    return out.ravel()[:n_tokens]


def sample_chain(P: np.ndarray, pi: np.ndarray, n_tokens: int,
                 rng: np.random.Generator) -> np.ndarray:
    """`n_tokens` tokens of one chain started from pi (a plain loop: ~0.1 s per 2**17 tokens)."""
    n_states, vocab_size = P.shape
    cdf = np.cumsum(P, axis=1).tolist()
    uniforms = rng.random(n_tokens).tolist()
    state = int(rng.choice(n_states, p=pi))
    tokens = [0] * n_tokens
    top = vocab_size - 1
    for t, u in enumerate(uniforms):
        token = min(bisect_right(cdf[state], u), top)
        tokens[t] = token
        state = (state * vocab_size + token) % n_states
    return np.array(tokens, dtype=np.uint8 if vocab_size <= 256 else np.uint16)


def oracle_losses(P: np.ndarray, pi: np.ndarray, order: int, windows: np.ndarray) -> np.ndarray:
    """Per-token log loss (nats) of the source itself on `windows` [n, n_ctx + 1]: [n, n_ctx].

    Target t (1-based) is predicted from the t tokens before it in its window, as a model sees
    them: with t >= order by P(x_t | last `order` tokens); with fewer by the stationary
    conditional P(x_t | x_0..x_{t-1}). Its mean is the best loss any model can score there.
    """
    n_states, vocab_size = P.shape
    x = np.asarray(windows, dtype=np.int64)
    # Stationary probability of k consecutive tokens: the last k tokens of a state under pi.
    joint = {k: np.bincount(np.arange(n_states) % vocab_size**k, weights=pi,
                            minlength=vocab_size**k) for k in range(1, order + 1)}
    losses = np.empty((x.shape[0], x.shape[1] - 1))
    for t in range(1, x.shape[1]):
        seen = x[:, max(0, t - order) : t + 1]  # the context the oracle uses, then the target
        index = np.zeros(len(x), dtype=np.int64)
        for column in seen.T:
            index = index * vocab_size + column
        if t >= order:
            p = P[index // vocab_size, x[:, t]]
        else:
            p = joint[t + 1][index] / joint[t][index // vocab_size]
        losses[:, t - 1] = -np.log(p)
    return losses


def load_markov(
    vocab_size: int = 16,
    order: int = 2,
    min_tokens: int = DEFAULT_TOKENS,
    seed: int = 0,
    concentration: float = 0.5,
) -> Corpus:
    """The Markov corpus, with `entropy_rate` set to its exact value."""
    if vocab_size < 2 or vocab_size > 2**16:
        raise ScalinglabError(f"markov --vocab-size must be in [2, 65536], got {vocab_size}")
    if order < 1 or vocab_size**order > MAX_STATES:
        raise ScalinglabError(
            f"markov order {order} with vocab {vocab_size} gives {vocab_size**order:,} contexts; "
            f"keep vocab_size**order <= {MAX_STATES:,}"
        )
    P = transition_matrix(vocab_size, order, concentration, seed)
    pi = stationary(P)
    rng = np.random.default_rng([seed, vocab_size, order, 1])
    train = sample(P, pi, max(min_tokens, DEFAULT_TOKENS), rng)
    val = sample_chain(P, pi, VAL_TOKENS, np.random.default_rng([seed, vocab_size, order, 2]))
    H = entropy_rate(P, pi)
    description = {"vocab": vocab_size, "order": order, "alpha": concentration, "seed": seed,
                   "val": "one chain"}
    return Corpus(
        "markov",
        train,
        val,
        vocab_size,
        "markov-" + fingerprint_of(description),
        entropy_rate=H,
        info={"order": order, "entropy_rate": H},
    )
