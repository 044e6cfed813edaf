"""Weights & Biases exports: chart CSVs, the runs table, and one run's history.

Which kind a file is, is read from its header:

- a chart export (a panel's "Export CSV"): `Step`, then per run `RUN - METRIC`,
  `RUN - METRIC__MIN`, `RUN - METRIC__MAX` (the last two are the panel's min/max band when
  points are bucketed, and are ignored). One run per `RUN - METRIC` column.
- the runs table (the project's table, "Export as CSV"): `Name`, `State`, ..., then config and
  summary columns, one row per run. Beside chart exports or histories it gives each run its
  settings (`n_params`, `tokens_per_step`, ...); alone, each row is one evaluation of its run
  (the summary loss at its `_step` or `tokens`). Its runs with no curve are left out.
- one run's history (`run.history()` saved as CSV, or JSON Lines): `_step` and metric columns,
  read as a generic log (`generic`), the run named after the file.

W&B's `_step` counts `wandb.log` calls unless the script passed `step=`; give
`--tokens-column` where a token count was logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scalinglab.errors import ScalinglabError
from scalinglab.importers.common import ImportOptions, RunLog, check_paths, find_files, to_step
from scalinglab.importers.generic import Rows, csv_rows, jsonl_rows, logs_from_rows

NAME = "wandb-csv"
SUFFIXES = (".csv", ".jsonl")
STEP = "Step"
RUN_NAME = "Name"
BAND = ("__MIN", "__MAX")
SEPARATOR = " - "


def find_units(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    check_paths(paths)
    files = find_files(paths, lambda p: p.suffix.lower() in SUFFIXES,
                       "W&B exports (*.csv, *.jsonl)")
    return [(f, f.stem) for f in files]


def read(unit: tuple[Path, str], options: ImportOptions) -> list[RunLog]:
    path, name = unit
    if path.suffix.lower() == ".jsonl":
        return logs_from_rows(jsonl_rows(path), name)
    rows = csv_rows(path)
    if STEP in rows.columns and any(SEPARATOR in c for c in rows.columns):
        return _chart(rows)
    if RUN_NAME in rows.columns:
        return _runs_table(rows)
    return logs_from_rows(rows, name)


def combine(logs: list[RunLog]) -> tuple[list[RunLog], list[str]]:
    """Merge each run's curves from several chart exports, then give them the runs table's
    settings (module doc)."""
    curves: dict[str, RunLog] = {}
    for log in (lg for lg in logs if not lg.summary_only):
        if log.name not in curves:
            curves[log.name] = log
            continue
        kept = curves[log.name]
        for metric, curve in log.curves.items():
            if metric in kept.curves:
                raise ScalinglabError(f"run {log.name}: metric {metric!r} is in both "
                                      f"{kept.path} and {log.path}")
            kept.curves[metric] = curve
        kept.path = f"{kept.path}, {log.path}"
    table = {lg.name: lg for lg in logs if lg.summary_only}
    if not curves:
        return list(table.values()), []
    for name, log in curves.items():
        if name in table:
            log.info = {**table[name].info, **log.info}
            log.info_origin = table[name].info_origin
    unused = sorted(set(table) - set(curves))
    notes = [f"{len(unused)} run(s) of the runs table have no curve in the exports and are "
             f"left out: {', '.join(unused[:5])}{', ...' if len(unused) > 5 else ''}"
             ] if unused else []
    return list(curves.values()), notes


def _chart(rows: Rows) -> list[RunLog]:
    """A chart export: one run per `RUN - METRIC` column, `__MIN`/`__MAX` ignored."""
    logs: dict[str, RunLog] = {}
    for column in rows.columns:
        if SEPARATOR not in column or column.endswith(BAND):
            continue
        run, _, metric = column.rpartition(SEPARATOR)
        log = logs.setdefault(run, RunLog(name=run, path=str(rows.path)))
        curve = log.curve(metric)
        for row, line in zip(rows.rows, rows.lines, strict=True):
            curve.add_raw(to_step(row.get(STEP), f"{rows.path}:{line}", STEP), row.get(column),
                          f"{rows.path}:{line}:{column}")
    return list(logs.values())




def _runs_table(rows: Rows) -> list[RunLog]:
    """The runs table: each row a run's settings and summary (one evaluation)."""
    logs = []
    has_step = "_step" in rows.columns
    for row, line in zip(rows.rows, rows.lines, strict=True):
        name = str(row.get(RUN_NAME, "")).strip()
        if not name:
            raise ScalinglabError(f"{rows.path}:{line}: the Name column is empty")
        where = f"{rows.path}:{line}"
        log = RunLog(name=name, path=where, info_origin=where, steps_known=has_step,
                     summary_only=True)
        log.info = {k: v for k, v in row.items() if k != RUN_NAME and v not in (None, "")}
        step = to_step(row.get("_step"), where, "_step") if has_step else float(line)
        for column, raw in row.items():
            if column not in (RUN_NAME, "_step"):
                log.curve(column).add_raw(step, raw, f"{where}:{column}")
        logs.append(log)
    return logs


