"""Generic logs: CSV or JSON Lines, one file per run or a `run` column, `--map` renames.

Each row (a CSV line, a JSON object per line) is one logging step: a step column (`step`,
`_step`, `Step`, `global_step`, `iter`, `iteration`), metric columns, and optionally `run`,
`family` and settings such as `n_params`, `params` or `tokens_per_step` (a column whose value
is the same in every row of a run is read as a setting). A `tokens` column gives the tokens at
each row directly. An empty cell or a JSON null is "not logged at this step"; a value that is
not a number is reported (file, line and value) only if that column is used.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalinglabError
from scalinglab.importers.common import (
    ImportOptions,
    RunLog,
    check_paths,
    find_files,
    suggestion,
    to_step,
    unique_names,
)

STEP_NAMES = ("step", "_step", "Step", "global_step", "iter", "iteration", "trainer/global_step")
RUN_COLUMN, FAMILY_COLUMN = "run", "family"


class Rows:
    """A file's rows as written (strings from CSV, JSON values from JSONL), with line numbers."""

    def __init__(self, path: Path, columns: list[str], rows: list[dict[str, Any]],
                 lines: list[int]) -> None:
        self.path, self.columns, self.rows, self.lines = path, columns, rows, lines

    def renamed(self, column_map: Mapping[str, str]) -> Rows:
        """The rows with `--map` renames applied (each source column must be in the file)."""
        if not column_map:
            return self
        for name, target in column_map.items():
            if name not in self.columns:
                raise ScalinglabError(f"{self.path}: --map names column {name!r}, which is not "
                                      "in the file" + suggestion(name, self.columns))
            if target in self.columns and target not in column_map:
                raise ScalinglabError(f"{self.path}: --map '{name}={target}' would make a second "
                                      f"{target!r} column")
        columns = [column_map.get(c, c) for c in self.columns]
        rows = [{column_map.get(k, k): v for k, v in row.items()} for row in self.rows]
        return Rows(self.path, columns, rows, self.lines)


def find_units(paths: Sequence[Path], suffix: str) -> list[tuple[Path, str]]:
    check_paths(paths)
    files = find_files(paths, lambda p: p.suffix.lower() == suffix, f"*{suffix} files")
    return list(zip(files, unique_names(files), strict=True))


def read_csv(unit: tuple[Path, str], options: ImportOptions) -> list[RunLog]:
    path, name = unit
    return logs_from_rows(csv_rows(path).renamed(options.column_map), name)


def read_jsonl(unit: tuple[Path, str], options: ImportOptions) -> list[RunLog]:
    path, name = unit
    return logs_from_rows(jsonl_rows(path).renamed(options.column_map), name)


def csv_rows(path: Path) -> Rows:
    """A CSV file's rows as strings, each with its line number (the header is line 1)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ScalinglabError(f"{path}: the file is empty")
            header = [h.strip() for h in header]
            _check_header(path, header)
            rows, lines = [], []
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(header):
                    raise ScalinglabError(f"{path}:{reader.line_num}: {len(cells)} cells, the "
                                          f"header has {len(header)}")
                rows.append(dict(zip(header, cells, strict=False)))
                lines.append(reader.line_num)
    except OSError as error:
        raise ScalinglabError(f"{path}: cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise ScalinglabError(f"{path}: cannot be read as CSV ({error})") from None
    if not rows:
        raise ScalinglabError(f"{path}: the file has a header and no rows")
    return Rows(path, header, rows, lines)


def jsonl_rows(path: Path) -> Rows:
    """A JSON Lines file's objects, each with its line number."""
    rows, lines, columns = [], [], {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScalinglabError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ScalinglabError(f"{path}: not UTF-8 text ({error.reason})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ScalinglabError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ScalinglabError(f"{path}:{number}: expected a JSON object, got "
                                  f"{type(row).__name__}")
        rows.append(row)
        lines.append(number)
        columns.update(dict.fromkeys(row))
    if not rows:
        raise ScalinglabError(f"{path}: the file has no JSON lines")
    return Rows(path, list(columns), rows, lines)


def logs_from_rows(rows: Rows, default_name: str) -> list[RunLog]:
    """One `RunLog` per run of `rows` (by the `run` column, else the whole file)."""
    step_column = next((c for c in STEP_NAMES if c in rows.columns), None)
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows.rows):
        run = row.get(RUN_COLUMN) if RUN_COLUMN in rows.columns else default_name
        if run is None or str(run).strip() == "":
            raise ScalinglabError(f"{rows.path}:{rows.lines[i]}: the run column is empty")
        groups.setdefault(str(run).strip(), []).append(i)
    skip = {step_column, RUN_COLUMN, FAMILY_COLUMN}
    logs = []
    for run, indices in groups.items():
        log = RunLog(name=run, path=str(rows.path), info_origin=str(rows.path),
                     steps_known=step_column is not None)
        for i in indices:
            row, line = rows.rows[i], rows.lines[i]
            step = _step(rows, row, step_column, line)
            for column, raw in row.items():
                if column not in skip and not isinstance(raw, dict | list):
                    log.curve(column).add_raw(step, raw, f"{rows.path}:{line}")
        log.info = _constant_columns(rows, indices, skip)
        family = [rows.rows[i].get(FAMILY_COLUMN) for i in indices]
        if FAMILY_COLUMN in rows.columns and family[0] not in (None, ""):
            log.family = str(family[0])
        logs.append(log)
    return logs


def _step(rows: Rows, row: dict[str, Any], step_column: str | None, line: int) -> float:
    if step_column is None:
        return float(line)
    return to_step(row.get(step_column), f"{rows.path}:{line}", step_column)


def _constant_columns(rows: Rows, indices: list[int], skip: set[str | None]) -> dict[str, Any]:
    """Columns with one value in every row of the run where they are given: its settings."""
    info: dict[str, Any] = {}
    for column in rows.columns:
        if column in skip:
            continue
        values = {str(rows.rows[i].get(column)) for i in indices
                  if rows.rows[i].get(column) not in (None, "")}
        if len(values) == 1:
            info[column] = values.pop()
    return info


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise ScalinglabError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)
