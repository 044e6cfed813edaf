"""MLflow's file store (`mlruns/`), read directly: no MLflow needed.

The layout MLflow's `FileStore` writes:

    mlruns/EXPERIMENT_ID/meta.yaml              experiment: name, experiment_id, ...
    mlruns/EXPERIMENT_ID/RUN_ID/meta.yaml       run: run_id, run_name, lifecycle_stage, ...
    mlruns/EXPERIMENT_ID/RUN_ID/metrics/NAME    lines "TIMESTAMP VALUE STEP" (ms, float, int)
    mlruns/EXPERIMENT_ID/RUN_ID/params/NAME     the value as text
    mlruns/EXPERIMENT_ID/RUN_ID/tags/NAME       the value as text (mlflow.runName, ...)

A metric or param name with `/` is a nested folder (`metrics/val/loss`). Deleted experiments
sit in `mlruns/.trash` (skipped); a deleted run keeps its folder with `lifecycle_stage:
deleted` (skipped, with a note). The run's name is `run_name` in meta.yaml, else the tag
`mlflow.runName`, else its id; its family is its experiment's name. Params (`n_params`,
`tokens_per_step`, `batch_size`, ...) are the run's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalinglabError
from scalinglab.importers.common import ImportOptions, RunLog, check_paths

NAME = "mlflow"
META = "meta.yaml"


def find_units(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Run folders under each path given (the mlruns root, an experiment, or a run)."""
    check_paths(paths)
    runs: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise ScalinglabError(f"{path}: expected an mlruns folder, an experiment folder or a "
                                  "run folder")
        found = _runs_under(path)
        if not found:
            raise ScalinglabError(f"{path}: no MLflow runs (folders with {META} and metrics/)")
        runs.extend(found)
    return [(run, run.name) for run in runs]


def read(unit: tuple[Path, str], options: ImportOptions) -> list[RunLog]:
    folder, run_id = unit
    meta = _yaml(folder / META)
    tags = _texts(folder / "tags")
    name = meta.get("run_name") or tags.get("mlflow.runName") or run_id
    log = RunLog(name=str(name), path=str(folder), info=dict(_texts(folder / "params")),
                 info_origin=f"{folder / 'params'}")
    if str(meta.get("lifecycle_stage", "active")) == "deleted":
        log.skipped = "deleted in MLflow"
        return [log]
    experiment = folder.parent / META
    if experiment.is_file():
        log.family = str(_yaml(experiment).get("name") or "") or None
    metrics = folder / "metrics"
    for file in sorted(p for p in metrics.rglob("*") if p.is_file()) if metrics.is_dir() else []:
        curve = log.curve(file.relative_to(metrics).as_posix())
        for number, line in enumerate(_lines(file), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) not in (2, 3):
                raise ScalinglabError(f"{file}:{number}: expected 'TIMESTAMP VALUE STEP', got "
                                      f"{line.strip()!r}")
            step = parts[2] if len(parts) == 3 else "0"
            try:
                curve.add(float(int(step)), float(parts[1]), f"{file}:{number}")
            except ValueError:
                raise ScalinglabError(f"{file}:{number}: value {parts[1]!r} or step {step!r} is "
                                      "not a number") from None
    return [log]


def combine(logs: list[RunLog]) -> tuple[list[RunLog], list[str]]:
    """Runs that share a name (a rerun under the same name) get their id after it."""
    counts: dict[str, int] = {}
    for log in logs:
        counts[log.name] = counts.get(log.name, 0) + 1
    renamed = [log for log in logs if counts[log.name] > 1]
    for log in renamed:
        log.name = f"{log.name} ({Path(log.path).name[:8]})"
    notes = [f"{len(renamed)} runs share a name with another: each is named with the start of "
             "its run id"] if renamed else []
    return logs, notes


def _runs_under(path: Path) -> list[Path]:
    if _is_run(path):
        return [path]
    found: list[Path] = []
    for child in _dirs(path):
        if _is_run(child):
            found.append(child)
        else:  # an experiment (or something else: models/, tags/)
            found.extend(c for c in _dirs(child) if _is_run(c))
    return found


def _dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _is_run(path: Path) -> bool:
    if not (path / META).is_file():
        return False
    meta = _yaml(path / META)
    return "run_id" in meta or "run_uuid" in meta


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ScalinglabError(f"{path}: cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ScalinglabError(f"{path}: not YAML ({reason})") from None
    return loaded if isinstance(loaded, dict) else {}


def _texts(folder: Path) -> dict[str, str]:
    """{name: text} of the files under `folder` (params or tags), nested names joined by /."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): "".join(_lines(p)).strip()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ScalinglabError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ScalinglabError(f"{path}: not UTF-8 text ({error.reason})") from None
