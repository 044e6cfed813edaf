"""A pre-tokenised corpus: token ids in a raw binary file, read by memory map.

nanoGPT's layout: a flat array of uint16 ids (uint32 when the vocabulary exceeds 65,536), no
header. PATH is either one `.bin` file (the last 1% is held out for validation) or a folder
holding `train.bin` and `val.bin`. `vocab_size` is required; every id is checked against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scalinglab.data.base import Corpus, check_ids, fingerprint_of
from scalinglab.errors import ScalinglabError

VAL_FRACTION = 0.01


def load_tokens(path: Path, vocab_size: int | None, dtype: str | None = None) -> Corpus:
    """Memory-map `path` (see module doc)."""
    if vocab_size is None:
        raise ScalinglabError(f"{path}: a tokens corpus needs --vocab-size")
    if vocab_size < 2:
        raise ScalinglabError(f"--vocab-size must be at least 2, got {vocab_size}")
    item = np.dtype(dtype) if dtype else np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)
    if not path.exists():
        raise ScalinglabError(f"{path}: no such file or folder")
    if path.is_dir():
        files = [path / "train.bin", path / "val.bin"]
        for file in files:
            if not file.exists():
                raise ScalinglabError(
                    f"{path}: the folder has no {file.name} (expected train.bin and val.bin)"
                )
        train, val = (_map(f, item, vocab_size) for f in files)
    else:
        data = _map(path, item, vocab_size)
        cut = len(data) - max(1, int(len(data) * VAL_FRACTION))
        train, val = data[:cut], data[cut:]
        files = [path]
    stats = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files]
    return Corpus(
        "tokens",
        train,
        val,
        vocab_size,
        f"tokens-{fingerprint_of({'files': stats, 'dtype': item.name, 'vocab': vocab_size})}",
        info={"path": str(path), "dtype": item.name},
    )


def _map(file: Path, item: np.dtype, vocab_size: int) -> np.ndarray:
    size = file.stat().st_size
    if size == 0:
        raise ScalinglabError(f"{file}: is empty")
    if size % item.itemsize:
        raise ScalinglabError(
            f"{file}: {size} bytes is not a whole number of {item.name} token ids "
            f"({item.itemsize} bytes each)"
        )
    data = np.memmap(file, dtype=item, mode="r")
    check_ids(data, vocab_size, str(file))
    return data
