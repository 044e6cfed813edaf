"""The experiments by name, and running one end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalinglabError
from scalinglab.files import make_folder, write_text
from scalinglab.jsonable import to_jsonable
from scalinglab.reproductions import (
    architecture,
    basins,
    context,
    critical_batch,
    memorization,
    modalities,
    overfitting,
)
from scalinglab.reproductions.base import Experiment, Finding, write_page
from scalinglab.reproductions.summary import write_summary

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    context.EXPERIMENT, architecture.EXPERIMENT, basins.EXPERIMENT, critical_batch.EXPERIMENT,
    overfitting.EXPERIMENT, memorization.EXPERIMENT, modalities.EXPERIMENT)}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ScalinglabError(f"unknown experiment {name!r}; choose one of "
                              f"{', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def experiment_designs(name: str, scale: float = 1.0, seed: int = 0) -> list[Any]:
    """The parsed sweep designs of experiment `name` at `scale`."""
    from scalinglab.sweep.design import parse_design

    if not scale > 0:
        raise ScalinglabError(f"--scale must be positive, got {scale}")
    experiment = get_experiment(name)
    return [parse_design(d, source=f"experiment {name}")
            for d in experiment.designs(scale, seed)]


def run_experiment(name: str, out_dir: str | Path, scale: float = 1.0, seed: int = 0,
                   workers: int | None = None, n_resamples: int = 200,
                   display_factory: Callable[[str], Any] | None = None,
                   on_note: Callable[[str], None] | None = None) -> Finding:
    """Run experiment `name`'s sweeps into `out_dir/scalinglab.db`, analyse them, and write
    `out_dir/NAME.json` and `out_dir/NAME.html`."""
    from scalinglab.analyses.sources import load_sweeps
    from scalinglab.sweep.driver import run_designs

    experiment = get_experiment(name)
    designs = experiment_designs(name, scale, seed)
    out = make_folder(out_dir)
    store = out / "scalinglab.db"
    run_designs(designs, store, workers, display_factory, on_note)
    tables = load_sweeps(store, [d.name for d in designs])
    finding = experiment.analyze(tables, n_resamples, seed)
    finding.numbers.update({"scale": scale, "seed": seed})
    write_text(out / f"{name}.json", json.dumps(to_jsonable(finding.to_dict()), indent=2))
    write_page(finding, experiment, out / f"{name}.html", tables.source)
    write_summary(out, {e.name: (e.title, e.source) for e in EXPERIMENTS.values()})
    return finding
