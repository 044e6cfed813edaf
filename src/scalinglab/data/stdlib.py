"""The default corpus: this Python's standard-library `.py` sources, as bytes.

About 30 MB on Python 3.11, no download. Files are read in sorted order of their relative path
(site-packages and dist-packages excluded) and split into train and validation by file: a file is
held out when a hash of its path falls in the lowest 2%. The stdlib differs between Python
versions, so every run records the fingerprint (Python version, file list, sizes, content hash).

Reading 1800 files takes a second or two, so the prepared streams are cached under
`cache_dir()`, keyed by a cheap fingerprint of the file list and sizes; later runs memory-map the
cache, which also lets parallel sweep workers share one copy in the page cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

from scalinglab.data.base import Corpus, cache_dir, fingerprint_of

EXCLUDED_DIRS = {"site-packages", "dist-packages", "__pycache__"}
VAL_PERCENT = 2


def stdlib_files(root: Path | None = None) -> list[Path]:
    """The stdlib's `.py` files, sorted by path relative to the stdlib directory."""
    root = Path(sysconfig.get_paths()["stdlib"]) if root is None else root
    files = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in EXCLUDED_DIRS)
        files.extend(Path(directory) / n for n in names if n.endswith(".py"))
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def is_validation_file(relative_path: str) -> bool:
    """Deterministic file-level split: about VAL_PERCENT% of files are held out."""
    digest = hashlib.sha256(relative_path.encode()).digest()
    return int.from_bytes(digest[:4], "little") % 100 < VAL_PERCENT


# Listing and sizing ~2000 files takes ~50 ms; planning a sweep asks for the corpus thousands
# of times in a few seconds, while the stdlib does not change. Reuse a listing this long.
LISTING_SECONDS = 30.0
_listing: dict[str, tuple[float, list[Path], str]] = {}


def _stdlib_listing(root: Path) -> tuple[list[Path], str]:
    """The stdlib's files and the cache key of their names and sizes (reused briefly)."""
    cached = _listing.get(str(root))
    if cached is not None and time.monotonic() - cached[0] < LISTING_SECONDS:
        return cached[1], cached[2]
    files = stdlib_files(root)
    listing = [(f.relative_to(root).as_posix(), f.stat().st_size) for f in files]
    key = fingerprint_of({"python": sys.version, "files": listing})
    _listing[str(root)] = (time.monotonic(), files, key)
    return files, key


def load_stdlib() -> Corpus:
    """The stdlib corpus (vocab 256 bytes), built once and then memory-mapped from the cache."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files, key = _stdlib_listing(root)
    folder = cache_dir() / f"stdlib-{key}"
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        _build_cache(root, files, folder)
    meta = json.loads(meta_path.read_text())
    train = np.memmap(folder / "train.bin", dtype=np.uint8, mode="r")
    val = np.memmap(folder / "val.bin", dtype=np.uint8, mode="r")
    return Corpus(
        name="stdlib",
        train=train,
        val=val,
        vocab_size=256,
        fingerprint=meta["fingerprint"],
        info={"python": meta["python"], "files": meta["files"], "bytes": meta["bytes"]},
    )


def _build_cache(root: Path, files: list[Path], folder: Path) -> None:
    train_parts, val_parts = [], []
    content_hash = hashlib.sha256()
    for path in files:
        relative = path.relative_to(root).as_posix()
        data = path.read_bytes()
        content_hash.update(relative.encode() + b"\0" + data)
        (val_parts if is_validation_file(relative) else train_parts).append(data)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "train.bin").write_bytes(b"".join(train_parts))
    (tmp / "val.bin").write_bytes(b"".join(val_parts))
    fingerprint = (
        f"py{sys.version_info.major}.{sys.version_info.minor}-{len(files)}files-"
        + (content_hash.hexdigest()[:16])
    )
    meta = {
        "fingerprint": fingerprint,
        "python": sys.version.split()[0],
        "files": len(files),
        "bytes": sum(len(p) for p in train_parts) + sum(len(p) for p in val_parts),
    }
    (tmp / "meta.json").write_text(json.dumps(meta))
    # Move the finished files in place; meta.json last, as it marks the cache complete.
    for name in ("train.bin", "val.bin", "meta.json"):
        os.replace(tmp / name, folder / name)
    tmp.rmdir()
