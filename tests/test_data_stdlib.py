"""The default corpus and the batch sampler every corpus shares."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.data import BatchSampler, Corpus, get_corpus
from scalinglab.data.stdlib import is_validation_file, stdlib_files
from scalinglab.errors import ScalinglabError


def test_stdlib_is_bytes_split_by_file_with_fingerprint():
    corpus = get_corpus("stdlib")
    assert corpus.vocab_size == 256
    assert len(corpus.train) > 10_000_000  # about 30 MB on CPython 3.11
    assert 0.005 < len(corpus.val) / (len(corpus.train) + len(corpus.val)) < 0.05
    assert corpus.fingerprint.startswith("py3.")
    assert get_corpus("stdlib").fingerprint == corpus.fingerprint  # cached, same
    files = stdlib_files()
    assert not any("site-packages" in f.parts for f in files)
    held = [f for f in files if is_validation_file(f.name)]
    assert 0 < len(held) < len(files)


def _toy_corpus(n: int = 1000) -> Corpus:
    data = np.arange(n, dtype=np.int64)  # token value = its offset, to check positions
    return Corpus("toy", data, data[:200], n, "toy")


def test_sampler_is_deterministic_and_covers_an_epoch():
    corpus = _toy_corpus()
    sampler = BatchSampler(corpus, n_ctx=9, batch_size=4, seed=3)
    again = BatchSampler(corpus, n_ctx=9, batch_size=4, seed=3)
    np.testing.assert_array_equal(sampler.batch(5), again.batch(5))
    assert sampler.batch(0).shape == (4, 10)
    # One epoch visits every window once: the first tokens of windows are distinct offsets.
    n_windows = corpus.n_train_windows(9)
    steps = n_windows // 4
    starts = np.concatenate([sampler.batch(s)[:, 0] for s in range(steps)])
    assert len(set(starts.tolist())) == len(starts)
    other = BatchSampler(corpus, n_ctx=9, batch_size=4, seed=4)
    assert not np.array_equal(sampler.batch(0), other.batch(0))


def test_validation_windows_are_fixed_and_spread():
    corpus = _toy_corpus()
    a = corpus.val_windows(9, 45)
    np.testing.assert_array_equal(a, corpus.val_windows(9, 45))
    assert a.shape == (5, 10)
    assert a[0, 0] == 0 and a[-1, 0] > 150


def test_too_small_corpus_says_how_many_tokens():
    corpus = _toy_corpus()
    with pytest.raises(ScalinglabError, match=r"has 99\d training tokens.*1,000,000 requested"):
        corpus.check_budget(1_000_000, 8)


def test_unknown_corpus_and_missing_path():
    with pytest.raises(ScalinglabError, match="unknown corpus"):
        get_corpus("wikipedia")
    with pytest.raises(ScalinglabError, match="needs a path"):
        get_corpus("text")
    with pytest.raises(ScalinglabError, match="fixed vocabulary"):
        get_corpus("stdlib", vocab_size=1000)
