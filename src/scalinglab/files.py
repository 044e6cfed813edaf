"""Files the lab writes: checked before any work starts, then written whole or not at all.

Two promises, kept here for every command:

- `check_output_file` / `check_output_folder` run before a fit, a bootstrap or a training run
  starts, so a bad `--out` (a folder where a file is wanted, a file where a folder is wanted, a
  missing parent folder, a place the user cannot write) is one line at once, not a traceback
  after the work.
- `atomic_output` writes to a temporary name beside the target and renames it over the target
  only when the write finished (`os.replace` is atomic on POSIX): a kill, a full disk or an
  error leaves the old file or no file, never a half-written one. A full disk is reported as
  "disk full at PATH".
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalinglabError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Temporary files are created private (0600); the finished file gets the usual mode.
FILE_MODE = 0o666 & ~_umask()


def write_error(error: OSError, path: str | Path) -> ScalinglabError:
    """The one-line message for a failed write: disk full, permission, read-only, other."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ScalinglabError(f"disk full at {path}; free some space and rerun (nothing was "
                               "half-written)")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ScalinglabError(f"{path}: cannot write there ({error.strerror})")
    return ScalinglabError(f"{path}: cannot write ({error.strerror or error})")


def check_output_file(path: str | Path, option: str, suffixes: tuple[str, ...] = ()) -> Path:
    """`path` can be written as a file: not a folder, its folder exists and is writable."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ScalinglabError(
            f"{option} {path}: expected a file name ending in {' or '.join(suffixes)}")
    if path.is_dir():
        raise ScalinglabError(f"{option} {path}: is a folder; give a file name")
    parent = path.parent
    if not parent.exists():
        raise ScalinglabError(f"{option} {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise ScalinglabError(f"{option} {path}: {parent} is not a folder")
    _probe(parent, path)
    return path


def check_output_folder(path: str | Path, option: str) -> Path:
    """`path` can be (or become) a folder the lab writes into: not a file, writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ScalinglabError(f"{option} {path}: is a file; give a folder")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ScalinglabError(f"{option} {path}: {existing} is a file, not a folder")
    _probe(existing, path)
    return path


def make_folder(path: str | Path, what: str = "folder") -> Path:
    """Create `path` (and its parents) if needed; one clear error if it cannot be."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ScalinglabError(f"{path}: cannot create the {what} ({error.strerror})") from None
    return path


def _probe(folder: Path, target: Path) -> None:
    """Create and remove a file in `folder`: the only reliable test of writability."""
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".scalinglab-probe-")
    except OSError as error:
        raise write_error(error, target) from None
    os.close(handle)
    os.unlink(name)


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` when the block succeeds."""
    path = Path(path)
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                        suffix=".tmp")
        os.close(handle)
        os.chmod(name, FILE_MODE)
    except OSError as error:
        raise write_error(error, path) from None
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise write_error(error, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    """Flush a finished file to the disk before it replaces the old one."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write a binary file atomically."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def write_with(path: str | Path, write: Any, mode: str = "wb") -> None:
    """Atomically write what `write(file_object)` writes (e.g. `torch.save`, `savefig`)."""
    with atomic_output(path) as tmp, open(tmp, mode) as handle:
        write(handle)


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """A measurements table as CSV, or Parquet for a `.parquet`/`.pq` name, atomically."""
    path = Path(path)
    with atomic_output(path) as tmp:
        if path.suffix.lower() in (".parquet", ".pq"):
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON file holding one object (a FIT.json, an ACCURACY.json), or one line saying why
    not; `what` names the kind of file in that line."""
    import json

    path = Path(path)
    if not path.is_file():
        raise ScalinglabError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ScalinglabError(f"{path}: not a JSON {what} ({error})") from None
    if not isinstance(data, dict):
        raise ScalinglabError(f"{path}: not a {what} (a JSON {type(data).__name__}, not an "
                              "object)")
    return data
