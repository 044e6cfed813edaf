"""User corpora: text files and folders (bytes or BPE) and pre-tokenised .bin files."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.data import get_corpus
from scalinglab.errors import ScalinglabError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))


def _write_text(path, n_lines=400):
    words = ["alpha", "beta", "gamma", "delta", "scaling", "law", "token", "loss"]
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(words, size=8)) for _ in range(n_lines)]
    path.write_text("\n".join(lines) + "\n")


def test_text_file_as_bytes(tmp_path):
    path = tmp_path / "book.txt"
    _write_text(path)
    corpus = get_corpus("text", path)
    assert corpus.vocab_size == 256
    assert bytes(corpus.train[:5]) == path.read_bytes()[:5]
    assert len(corpus.train) + len(corpus.val) == path.stat().st_size


def test_text_folder_with_bpe(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        _write_text(folder / f"part{i}.txt", n_lines=200)
    corpus = get_corpus("text", folder, vocab_size=300)
    assert 256 < corpus.vocab_size <= 300
    assert corpus.tokenizer_json is not None and "BPE" in corpus.tokenizer_json
    assert corpus.train.max() < corpus.vocab_size
    assert len(corpus.train) < 3 * 200 * 40  # fewer tokens than bytes
    again = get_corpus("text", folder, vocab_size=300)  # from the cache
    np.testing.assert_array_equal(again.train, corpus.train)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"\x00\x01\x02" * 100, "binary"), (bytes(range(128, 256)) * 10, "binary")],
)
def test_text_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ScalinglabError, match=message):
        get_corpus("text", path)


def test_text_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(ScalinglabError, match="no such file"):
        get_corpus("text", tmp_path / "nope.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScalinglabError, match="no files"):
        get_corpus("text", tmp_path / "empty")


def test_tokens_bin_file_and_folder(tmp_path):
    ids = (np.arange(10_000) % 500).astype(np.uint16)
    ids.tofile(tmp_path / "all.bin")
    corpus = get_corpus("tokens", tmp_path / "all.bin", vocab_size=500)
    assert len(corpus.train) + len(corpus.val) == 10_000
    assert isinstance(corpus.train, np.memmap)
    folder = tmp_path / "split"
    folder.mkdir()
    ids[:9000].tofile(folder / "train.bin")
    ids[9000:].tofile(folder / "val.bin")
    corpus = get_corpus("tokens", folder, vocab_size=500)
    assert (len(corpus.train), len(corpus.val)) == (9000, 1000)
    big = (np.arange(1000) * 100).astype(np.uint32)
    big.tofile(tmp_path / "big.bin")
    assert get_corpus("tokens", tmp_path / "big.bin", vocab_size=100_000).train.dtype == np.uint32


def test_tokens_bad_inputs(tmp_path):
    ids = np.array([1, 2, 3, 700], dtype=np.uint16)
    ids.tofile(tmp_path / "ids.bin")
    with pytest.raises(ScalinglabError, match="token id 700 at position 3 is out of range"):
        get_corpus("tokens", tmp_path / "ids.bin", vocab_size=500)
    with pytest.raises(ScalinglabError, match="needs --vocab-size"):
        get_corpus("tokens", tmp_path / "ids.bin")
    (tmp_path / "odd.bin").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ScalinglabError, match="not a whole number"):
        get_corpus("tokens", tmp_path / "odd.bin", vocab_size=500)
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(ScalinglabError, match="is empty"):
        get_corpus("tokens", tmp_path / "empty.bin", vocab_size=500)
    with pytest.raises(ScalinglabError, match="no such file"):
        get_corpus("tokens", tmp_path / "missing.bin", vocab_size=500)
