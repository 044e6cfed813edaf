"""Digits, arithmetic and the Markov source: shapes, splits, accuracy and the entropy rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalinglab.data import get_corpus
from scalinglab.data.arithmetic import VOCAB, exact_match, is_validation
from scalinglab.data.markov import entropy_rate, stationary, transition_matrix
from scalinglab.errors import ScalinglabError


def test_digits_are_images_of_17_grey_levels():
    corpus = get_corpus("digits")
    assert corpus.vocab_size == 18 and corpus.n_ctx_default == 64
    images = np.asarray(corpus.train).reshape(-1, 65)
    assert (images[:, 0] == 17).all() and images[:, 1:].max() == 16
    assert len(images) + len(np.asarray(corpus.val)) // 65 == 1797
    windows = corpus.val_windows(64, 10**6)
    assert (windows[:, 0] == 17).all()  # windows are aligned to images


def _decode(ids) -> str:
    return "".join(VOCAB[i] for i in ids)


def test_arithmetic_problems_are_correct_and_split():
    corpus = get_corpus("arithmetic", min_digits=2, max_digits=3)
    text = _decode(corpus.train[:2000])
    for line in text.split("\n")[1:-1]:
        left, answer = line.split("=")
        a, b = left.split("+")
        assert 10 <= int(a) <= 999 and int(a) + int(b) == int(answer)
    val_lines = _decode(corpus.val).split("\n")[:-1]
    pairs = np.array([[int(x) for x in line.split("=")[0].split("+")] for line in val_lines])
    assert is_validation(pairs[:, 0], pairs[:, 1]).all()


def test_exact_match_counts_whole_answers():
    ids = [VOCAB.index(c) for c in "9\n12+30=42\n5+5=10\n7+"]
    window = np.array([ids])
    perfect = window[:, 1:]
    assert exact_match(window, perfect) == (2, 2)
    wrong = perfect.copy()
    wrong[0, 14] = VOCAB.index("0")  # the prediction of the '1' of "10" (window position 15)
    assert exact_match(window, wrong) == (1, 2)


def test_markov_entropy_rate_is_exact():
    # Order 1 over two symbols: H = sum_s pi_s h(p_s), checked by hand.
    P = np.array([[0.9, 0.1], [0.4, 0.6]])
    pi = stationary(P)
    np.testing.assert_allclose(pi, [0.8, 0.2])
    h = [-(p * math.log(p) + (1 - p) * math.log(1 - p)) for p in (0.9, 0.4)]
    assert entropy_rate(P, pi) == pytest.approx(0.8 * h[0] + 0.2 * h[1], rel=1e-12)


def test_markov_sample_has_the_computed_entropy_rate():
    corpus = get_corpus("markov", vocab_size=4, order=2)
    x = np.asarray(corpus.train, dtype=np.int64)
    # Empirical conditional entropy of the next token given the previous two.
    context = x[:-2] * 4 + x[1:-1]
    counts = np.zeros((16, 4))
    np.add.at(counts, (context, x[2:]), 1)
    probs = counts / counts.sum(1, keepdims=True)
    weights = counts.sum(1) / counts.sum()
    empirical = -(weights[:, None] * probs * np.log(np.where(probs > 0, probs, 1))).sum()
    assert empirical == pytest.approx(corpus.entropy_rate, rel=0.01)
    P = transition_matrix(4, 2, 0.5, 0)
    assert corpus.entropy_rate == pytest.approx(entropy_rate(P, stationary(P)))


def test_generated_corpora_grow_to_the_budget_and_reject_bad_options():
    corpus = get_corpus("markov", min_tokens=3_000_000)
    assert len(corpus.train) >= 3_000_000
    with pytest.raises(ScalinglabError, match="contexts"):
        get_corpus("markov", vocab_size=256, order=4)
    with pytest.raises(ScalinglabError, match="min_digits"):
        get_corpus("arithmetic", min_digits=5, max_digits=2)
