"""A user's text, from one file or a folder of files: raw bytes, or a byte-level BPE.

Bytes (vocab 256) need no training; `vocab_size` > 256 trains a byte-level BPE on the training
split with the `tokenizers` library, and the run saves it next to its results
(`tokenizer.json`). Tokenised streams are cached under `cache_dir()` by content hash, so the
runs of a sweep tokenise once.

Split: a folder of at least `MIN_FILES_FOR_FILE_SPLIT` files is split by file (a file is held
out when a hash of its path falls in the lowest 5%), as with stdlib; otherwise the last 5% of
the concatenated text is held out.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from scalinglab.data.base import Corpus, cache_dir, fingerprint_of
from scalinglab.errors import ScalinglabError

VAL_FRACTION = 0.05
MIN_FILES_FOR_FILE_SPLIT = 20
MAX_UNDECODABLE_FRACTION = 0.01


def text_files(path: Path) -> list[Path]:
    """The file itself, or every non-hidden file under a folder in sorted order."""
    if not path.exists():
        raise ScalinglabError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise ScalinglabError(f"{path}: the folder has no files")
    return files


def read_text_bytes(path: Path) -> list[tuple[str, bytes]]:
    """(relative name, bytes) of each file; raises on an empty corpus or binary files."""
    files = text_files(path)
    parts = []
    for file in files:
        data = file.read_bytes()
        name = file.name if path.is_file() else file.relative_to(path).as_posix()
        if b"\0" in data:
            raise ScalinglabError(
                f"{file}: looks like a binary file (contains NUL bytes), not text"
            )
        undecodable = data.decode("utf-8", errors="replace").count("\ufffd")
        if data and undecodable > MAX_UNDECODABLE_FRACTION * len(data):
            raise ScalinglabError(
                f"{file}: looks like a binary file ({undecodable} of {len(data)} bytes are not "
                "valid UTF-8), not text"
            )
        parts.append((name, data))
    if sum(len(d) for _, d in parts) == 0:
        raise ScalinglabError(f"{path}: is empty (no text to train on)")
    return parts


def split_parts(parts: list[tuple[str, bytes]]) -> tuple[list[bytes], list[bytes]]:
    """Train and validation texts (see module doc)."""
    if len(parts) >= MIN_FILES_FOR_FILE_SPLIT:
        held = [_hash_percent(name) < VAL_FRACTION * 100 for name, _ in parts]
        if any(held) and not all(held):
            train = [d for (_, d), h in zip(parts, held, strict=True) if not h]
            val = [d for (_, d), h in zip(parts, held, strict=True) if h]
            return train, val
    data = b"".join(d for _, d in parts)
    cut = len(data) - max(1, int(len(data) * VAL_FRACTION))
    return [data[:cut]], [data[cut:]]


def _hash_percent(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") % 100


def load_text(path: Path, vocab_size: int | None = None) -> Corpus:
    """Bytes of `path` (vocab 256), or BPE tokens if `vocab_size` > 256."""
    if vocab_size is not None and vocab_size < 256:
        raise ScalinglabError(
            f"--vocab-size {vocab_size} is below 256; text is read as bytes (256) or a byte-level "
            "BPE with a larger vocabulary"
        )
    parts = read_text_bytes(path)
    content = hashlib.sha256()
    for name, data in parts:
        content.update(name.encode() + b"\0" + data)
    bpe = vocab_size is not None and vocab_size > 256
    fingerprint = fingerprint_of(
        {"text": content.hexdigest(), "files": len(parts), "vocab_size": vocab_size or 256}
    )
    train_texts, val_texts = split_parts(parts)
    info = {"path": str(path), "files": len(parts), "bytes": sum(len(d) for _, d in parts)}
    if not bpe:
        train = np.frombuffer(b"".join(train_texts), dtype=np.uint8)
        val = np.frombuffer(b"".join(val_texts), dtype=np.uint8)
        return Corpus("text", train, val, 256, f"text-{fingerprint}", info=info)

    folder = cache_dir() / f"text-{fingerprint}"
    if not (folder / "meta.json").exists():
        _build_bpe_cache(train_texts, val_texts, vocab_size, folder)  # type: ignore[arg-type]
    meta = json.loads((folder / "meta.json").read_text())
    dtype = np.dtype(meta["dtype"])
    train = np.fromfile(folder / "train.bin", dtype=dtype)
    val = np.fromfile(folder / "val.bin", dtype=dtype)
    return Corpus(
        "text",
        train,
        val,
        int(meta["vocab_size"]),
        f"text-{fingerprint}",
        tokenizer_json=(folder / "tokenizer.json").read_text(),
        info=info | {"tokenizer": "byte-level BPE"},
    )


def _build_bpe_cache(
    train_texts: list[bytes], val_texts: list[bytes], vocab_size: int, folder: Path
) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    train_strings = [_lines(t) for t in train_texts]
    tokenizer.train_from_iterator((s for chunk in train_strings for s in chunk), trainer=trainer)
    actual_vocab = tokenizer.get_vocab_size()
    dtype = np.uint16 if actual_vocab <= 2**16 else np.uint32

    def encode(texts: list[bytes]) -> np.ndarray:
        chunks = [s for t in texts for s in _lines(t)]
        encoded = tokenizer.encode_batch(chunks)
        return np.concatenate(
            [np.asarray(e.ids, dtype=dtype) for e in encoded] or [np.zeros(0, dtype)]
        )

    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    encode(train_texts).tofile(tmp / "train.bin")
    encode(val_texts).tofile(tmp / "val.bin")
    tokenizer.save(str(tmp / "tokenizer.json"))
    meta = {"vocab_size": actual_vocab, "dtype": np.dtype(dtype).name}
    (tmp / "meta.json").write_text(json.dumps(meta))
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.bin", "val.bin", "tokenizer.json", "meta.json"):
        os.replace(tmp / name, folder / name)
    tmp.rmdir()


def _lines(data: bytes, chunk_bytes: int = 1 << 16) -> list[str]:
    """Text cut into pieces of about `chunk_bytes` at line ends, for batched BPE."""
    text = data.decode("utf-8", errors="replace")
    pieces, start = [], 0
    while start < len(text):
        end = text.find("\n", start + chunk_bytes)
        end = len(text) if end < 0 else end + 1
        pieces.append(text[start:end])
        start = end
    return pieces
