"""The tables an analysis reads, from a measurements file or from sweeps in a results store.

The store gives every table the training engine's run id (the `run` column of measurements),
so a run's positions and accuracy find its family and size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalinglabError


@dataclass
class Tables:
    """A measurements table and, when known, loss by position and accuracies (by run)."""

    measurements: pd.DataFrame
    positions: pd.DataFrame | None = None  # run, position, loss
    accuracies: pd.DataFrame | None = None  # run, name, value
    source: str = ""
    markov_source: dict[str, Any] | None = None  # vocab_size and order of markov runs
    notes: list[str] = field(default_factory=list)  # what reading derived, for people


def load_data(path: Path, positions: Path | None = None, accuracies: Path | None = None,
              column_map: dict[str, str] | None = None, final: str = "last") -> Tables:
    """A measurements CSV/Parquet file (columns renamed by `column_map`, finished rows marked
    by the `final` rule, `measurements.apply_final_rule`), with optional position and
    accuracy CSVs."""
    from scalinglab.measurements import read_measurements

    table, notes = read_measurements(path, column_map, final=final)
    extra = {}
    for key, file in (("positions", positions), ("accuracies", accuracies)):
        if file is not None:
            if not file.is_file():
                raise ScalinglabError(f"{file}: no such file")
            extra[key] = pd.read_csv(file)
    return Tables(table, source=path.name, notes=notes, **extra)


def load_sweeps(store_path: Path, sweeps: list[str]) -> Tables:
    """The measurements, positions and accuracies of finished runs of `sweeps`, with a
    `sweep` column (one table for all; a run in two sweeps appears under each)."""
    from scalinglab.measurements import validate
    from scalinglab.sweep.store import Store

    if not store_path.is_file():
        raise ScalinglabError(f"{store_path}: no such results store")
    measurements, positions, accuracies, markov = [], [], [], {}
    with Store(store_path, create=False) as store:
        for sweep in sweeps:
            table = store.measurements(sweep)
            if table.empty:
                raise ScalinglabError(f"{store_path}: sweep {sweep!r} has no finished runs yet")
            measurements.append(table.assign(sweep=sweep))
            positions.append(store.position_losses(sweep))
            accuracies.append(store.accuracies(sweep))
            markov.update(_markov_source(store.runs(sweep)))
    table = validate(pd.concat(measurements, ignore_index=True),
                     source=f"{store_path}:{','.join(sweeps)}")
    return Tables(table, pd.concat(positions, ignore_index=True),
                  pd.concat(accuracies, ignore_index=True),
                  source=f"{store_path} sweep {', '.join(sweeps)}", markov_source=markov or None)


def _markov_source(runs: pd.DataFrame) -> dict[str, Any]:
    """vocab_size and order of the markov runs (from their configs), if any."""
    if "config_json" not in runs.columns:
        return {}
    for text in runs["config_json"]:
        config = json.loads(text) if text else {}
        if config.get("corpus") == "markov":
            return {"vocab_size": int(config.get("vocab_size") or 16),
                    "order": int(config.get("markov_order") or 2)}
    return {}
