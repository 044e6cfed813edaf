"""Other people's training logs into the measurements table (`scalinglab import`).

One module per format reads files into `RunLog`s; `common.build_table` turns them into the
table the same way for every format (which metric, tokens, params, `final` on each run's last
evaluation, where every number came from). Formats: tensorboard, wandb-csv, mlflow,
hf-trainer-state, nanogpt-log, jsonl and csv (docs/your-runs.md, "Importing training logs").

    from scalinglab.importers import ImportOptions, import_runs

    result = import_runs("tensorboard", ["runs/"], ImportOptions(
        tokens_per_step=524288, params_from_name=r"N([0-9.e+]+)"))
    result.table      # the measurements table; result.notes, result.runs (provenance)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scalinglab.errors import ScalinglabError
from scalinglab.importers import (
    generic,
    hf_trainer_state,
    mlflow_files,
    nanogpt_log,
    tensorboard_events,
    wandb_csv,
)
from scalinglab.importers.common import (
    PREFERRED_METRICS,
    ImportOptions,
    ImportResult,
    RunLog,
    RunProvenance,
    build_table,
)
from scalinglab.importers.hf_trainer_state import params_from_hf_config
from scalinglab.progress import report

__all__ = ["FORMATS", "ImportOptions", "ImportResult", "RunProvenance",
           "import_runs", "params_from_hf_config"]

Unit = tuple[Path, str]  # a file or folder to read, and the run name it gets


def _as_is(logs: list[RunLog]) -> tuple[list[RunLog], list[str]]:
    return logs, []


@dataclass(frozen=True)
class Reader:
    """A format: how to find what to read, how to read one unit, how to merge the logs."""

    name: str
    find: Callable[[Sequence[Path]], list[Unit]]
    read: Callable[[Unit, ImportOptions], list[RunLog]]
    combine: Callable[[list[RunLog]], tuple[list[RunLog], list[str]]] = _as_is
    preferred_metrics: tuple[str, ...] = PREFERRED_METRICS
    takes_map: bool = False


READERS = {reader.name: reader for reader in (
    Reader(tensorboard_events.NAME, tensorboard_events.find_units, tensorboard_events.read,
           tensorboard_events.combine),
    Reader(wandb_csv.NAME, wandb_csv.find_units, wandb_csv.read, wandb_csv.combine),
    Reader(mlflow_files.NAME, mlflow_files.find_units, mlflow_files.read, mlflow_files.combine),
    Reader(hf_trainer_state.NAME, hf_trainer_state.find_units, hf_trainer_state.read,
           preferred_metrics=hf_trainer_state.PREFERRED_METRICS),
    Reader(nanogpt_log.NAME, nanogpt_log.find_units, nanogpt_log.read,
           preferred_metrics=nanogpt_log.PREFERRED_METRICS),
    Reader("jsonl", lambda paths: generic.find_units(paths, ".jsonl"), generic.read_jsonl,
           takes_map=True),
    Reader("csv", lambda paths: generic.find_units(paths, ".csv"), generic.read_csv,
           takes_map=True),
)}
FORMATS = tuple(READERS)


def import_runs(fmt: str, paths: Sequence[str | Path], options: ImportOptions | None = None,
                output: str | Path | None = None) -> ImportResult:
    """Read `paths` (files, one per run, or folders) of format `fmt` into the measurements table.

    `output`, where the table will be written, is refused if it is one of the inputs. Raises
    `ScalinglabError` (one line) for bad input; nothing is written here.
    """
    if fmt not in READERS:
        raise ScalinglabError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    reader = READERS[fmt]
    options = options or ImportOptions()
    options.check()
    if options.column_map and not reader.takes_map:
        raise ScalinglabError(f"--map applies to the csv and jsonl formats, not {fmt}")
    paths = [Path(p) for p in paths]
    units = reader.find(paths)
    if output is not None:
        _check_not_input(Path(output), paths + [path for path, _ in units])
    logs: list[RunLog] = []
    for done, unit in enumerate(units, start=1):
        logs.extend(reader.read(unit, options))
        report(f"import {fmt}", done, len(units), unit[0].name)  # `scalinglab.progress`
    logs, notes = reader.combine(logs)
    default_family = paths[0].name if len(paths) == 1 and paths[0].is_dir() else fmt
    result = build_table(logs, options, reader.preferred_metrics, default_family)
    return ImportResult(result.table, tuple(notes) + result.notes, result.runs)


def _check_not_input(output: Path, inputs: Sequence[Path]) -> None:
    target = output.resolve()
    for path in inputs:
        if path.resolve() == target:
            raise ScalinglabError(f"-o {output}: is one of the input files; choose another name")
