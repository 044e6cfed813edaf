"""TensorBoard event files (`events.out.tfevents.*`), read by TensorBoard's own reader.

One run per folder holding event files, named by its path below the folder given (or its own
name). The folder is read as TensorBoard reads a run: every event file in it, in order, through
`EventAccumulator` with no sampling (`size_guidance` 0), restarts' orphaned steps purged.
Scalars written as `simple_value` (PyTorch's `SummaryWriter`) and as tensors (TF2's
`tf.summary.scalar`) are both read.

TensorBoard's loader stops quietly at a truncated or corrupt record (it expects files still
being written), so every file is first read record by record with TensorBoard's CRC-checking
record reader: a truncated or corrupt file is refused by name.

Settings: hparams (the plugin's session start info) are the run's settings. PyTorch's
`add_hparams` writes them into a subfolder of the run (named by a timestamp); such a folder,
directly inside a run folder, is merged into that run rather than read as a run.
A scalar named like `n_params` logged once also gives the count (as float32: exact below
2^24, else rounded to 7 digits; prefer `--params-from-name` or hparams).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalinglabError
from scalinglab.importers.common import ImportOptions, RunLog, check_paths, walk

NAME = "tensorboard"
EVENTS = "events.out.tfevents."  # the writers' names; TensorBoard reads any "*tfevents*"
TFEVENTS = "tfevents"
MISSING = "tensorboard is not installed: pip install 'scalinglab[import]'"


def is_event_file(path: Path) -> bool:
    """TensorBoard's own test (`io_wrapper.IsSummaryEventsFile`): what its loader reads."""
    return TFEVENTS in path.name and path.is_file()


def find_units(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """(run folder or event file, run name) per run (module doc)."""
    check_paths(paths)
    units: list[tuple[Path, str]] = []
    files_by_folder: dict[Path, list[Path]] = {}
    for path in paths:
        if path.is_file():
            if TFEVENTS not in path.name:
                raise ScalinglabError(f"{path}: not a TensorBoard event file "
                                      f"({EVENTS}*)")
            files_by_folder.setdefault(path.parent, []).append(path)
            continue
        folders = sorted({p.parent for p in walk(path) if is_event_file(p)})
        if not folders:
            raise ScalinglabError(f"{path}: the folder has no TensorBoard event files "
                                  f"({EVENTS}*)")
        units.extend((f, path.name if f == path else f.relative_to(path).as_posix())
                     for f in folders)
    for folder, files in files_by_folder.items():
        every = sorted(p for p in folder.iterdir() if is_event_file(p))
        if len(files) == 1:
            units.append((files[0], folder.name))
        elif sorted(files) == every:
            units.append((folder, folder.name))
        else:
            raise ScalinglabError(f"{files[0]} and {files[1]} are event files of one run "
                                  f"folder; give the folder {folder} instead")
    return units


def read(unit: tuple[Path, str], options: ImportOptions) -> list[RunLog]:
    path, name = unit
    event_accumulator = _tensorboard()
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if is_event_file(p))
    for file in files:
        check_records(file)
    sizes = {event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}
    accumulator = event_accumulator.EventAccumulator(str(path), size_guidance=sizes)
    try:
        accumulator.Reload()
    except Exception as error:  # the protobuf parser raises its own kinds
        raise ScalinglabError(f"{path}: cannot be read as TensorBoard events "
                              f"({type(error).__name__}: {error})") from None
    where = str(files[0]) if len(files) == 1 else str(path)
    log = RunLog(name=name, path=str(path))
    tags = accumulator.Tags()
    for tag in tags.get("scalars", []):
        curve = log.curve(tag)
        for event in accumulator.Scalars(tag):
            curve.add(event.step, event.value, f"{where}:{tag}")
    for tag in tags.get("tensors", []):
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            _tensor_scalars(log, accumulator, tag, where)
    hparams = _hparams(accumulator)
    if hparams:
        log.info, log.info_origin = hparams, f"{where} (hparams)"
    return [log]


def combine(logs: list[RunLog]) -> tuple[list[RunLog], list[str]]:
    """Fold each hparams subfolder (PyTorch's `add_hparams`: hparams and one value per metric)
    into the run folder above it."""
    by_path = {Path(log.path): log for log in logs}
    kept, merged = [], 0
    for log in logs:
        parent = by_path.get(Path(log.path).parent)
        summary = all(len(curve.values) <= 1 for curve in log.curves.values())
        if log.info and summary and parent is not None:
            parent.info = {**log.info, **parent.info}
            parent.info_origin = parent.info_origin or log.info_origin
            merged += 1
        else:
            kept.append(log)
    notes = [f"read {merged} hparams subfolder(s) (add_hparams) as their run's settings"
             ] if merged else []
    return kept, notes


def check_records(path: Path) -> int:
    """The number of records in an event file, read with CRC checks; one line naming the file
    if a record is truncated or corrupt (TensorBoard's loader would stop there silently)."""
    _tensorboard()
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

    reader = pywrap_tensorflow.PyRecordReader_New(str(path))
    records = 0
    try:
        while True:
            reader.GetNext()
            records += 1
    except errors.OutOfRangeError:
        return records
    except errors.DataLossError as error:
        reason = str(error.message).replace(str(path), "").strip()
        raise ScalinglabError(f"{path}: truncated or corrupt event file (record "
                              f"{records + 1}: {reason})") from None
    except OSError as error:
        raise ScalinglabError(f"{path}: cannot be read ({error.strerror})") from None
    finally:
        reader.file_handle.close()


def _tensorboard() -> Any:
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        raise ScalinglabError(MISSING) from None
    return event_accumulator


def _tensor_scalars(log: RunLog, accumulator: Any, tag: str, where: str) -> None:
    from tensorboard.util import tensor_util

    curve = log.curve(tag)
    for event in accumulator.Tensors(tag):
        value = tensor_util.make_ndarray(event.tensor_proto)
        if value.size == 1:
            curve.add(event.step, float(value.reshape(())), f"{where}:{tag}")


def _hparams(accumulator: Any) -> dict[str, Any]:
    """The hparams plugin's session start info, {name: number or text}; {} if none."""
    try:
        content = accumulator.PluginTagToContent("hparams")
    except KeyError:
        return {}
    from tensorboard.plugins.hparams import plugin_data_pb2

    info: dict[str, Any] = {}
    for data in content.values():
        parsed = plugin_data_pb2.HParamsPluginData.FromString(data)
        if parsed.HasField("session_start_info"):
            for key, value in parsed.session_start_info.hparams.items():
                kind = value.WhichOneof("kind")
                info[key] = getattr(value, kind) if kind else None
    return info
