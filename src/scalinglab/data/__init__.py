"""Corpora for training runs, all available without a download, behind one registry.

get_corpus("stdlib")                         # Python stdlib sources, bytes (the default)
get_corpus("text", path, vocab_size=4096)    # a file or folder; bytes, or BPE if vocab_size
get_corpus("tokens", "train.bin", vocab_size=50257)  # nanoGPT-style uint16/uint32 ids
get_corpus("digits")                         # sklearn 8x8 digits, 17 grey levels
get_corpus("arithmetic", min_digits=1, max_digits=4)  # "3817+2205=6022\\n", exact match
get_corpus("markov", order=2, vocab_size=16)  # synthetic source with exact entropy rate
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalinglab.data.base import BatchSampler, Corpus, MixedSampler
from scalinglab.errors import ScalinglabError

CORPORA = ("stdlib", "text", "tokens", "digits", "arithmetic", "markov")
NEEDS_PATH = ("text", "tokens")

__all__ = ["CORPORA", "BatchSampler", "Corpus", "MixedSampler", "get_corpus"]


def get_corpus(
    name: str,
    path: str | Path | None = None,
    vocab_size: int | None = None,
    **options: Any,
) -> Corpus:
    """Load corpus `name`; `path` for `text`/`tokens`, `options` for the generated ones.

    Options: `min_tokens` (generated corpora grow to at least this many training tokens),
    `min_digits`/`max_digits` (arithmetic), `order` (markov), `seed` (generated corpora).
    """
    if name not in CORPORA:
        raise ScalinglabError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    if name in NEEDS_PATH and path is None:
        raise ScalinglabError(f"corpus {name!r} needs a path (--corpus-path)")
    if name not in NEEDS_PATH and path is not None:
        raise ScalinglabError(f"corpus {name!r} takes no path, got {str(path)!r}")
    if name == "stdlib":
        _no_vocab(name, vocab_size, 256)
        from scalinglab.data.stdlib import load_stdlib

        return load_stdlib()
    if name == "text":
        from scalinglab.data.text import load_text

        return load_text(Path(path), vocab_size=vocab_size)  # type: ignore[arg-type]
    if name == "tokens":
        from scalinglab.data.tokens import load_tokens

        return load_tokens(Path(path), vocab_size=vocab_size)  # type: ignore[arg-type]
    if name == "digits":
        from scalinglab.data.digits import VOCAB_SIZE, load_digits

        _no_vocab(name, vocab_size, VOCAB_SIZE)
        return load_digits()
    if name == "arithmetic":
        from scalinglab.data.arithmetic import VOCAB, load_arithmetic

        _no_vocab(name, vocab_size, len(VOCAB))
        return load_arithmetic(**_pick(options, "min_digits", "max_digits", "min_tokens", "seed"))
    from scalinglab.data.markov import load_markov

    return load_markov(vocab_size=vocab_size or 16, **_pick(options, "order", "min_tokens", "seed"))


def _no_vocab(name: str, vocab_size: int | None, fixed: int) -> None:
    if vocab_size is not None and vocab_size != fixed:
        raise ScalinglabError(
            f"corpus {name!r} has a fixed vocabulary of {fixed}, got {vocab_size}"
        )


def _pick(options: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in names and v is not None}
