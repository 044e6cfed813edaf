"""`scalinglab export`: --json, the format from the file name, and never onto the store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.sweep.store import PlannedRun, RunRecord, Store

runner = CliRunner()


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    """A store with one sweep of two finished runs (three evaluations each)."""
    path = tmp_path / "lab.db"
    with Store(path) as db:
        db.register_sweep("s", "grid", {}, [PlannedRun(h, h, {"family": "transformer"}, 1e12)
                                            for h in ("a", "b")])
        for run in ("a", "b"):
            rows = pd.DataFrame({"run": run, "family": "transformer", "params": 1e4,
                                 "params_nonembedding": 1e4, "tokens": [1e5, 2e5, 4e5],
                                 "flops": [6e9, 1.2e10, 2.4e10], "loss": [3.0, 2.5, 2.2],
                                 "final": [False, False, True]})
            db.record_result(run, RunRecord(status="done", measurements=rows))
    return path


def test_export_json_and_the_format_from_the_name(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.parquet"
    result = runner.invoke(app, ["export", "--sweep", "s", "--store", str(store), "-o", str(out),
                                 "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == {"sweep": "s", "output": str(out), "format": "parquet", "rows": 6,
                       "runs": 2, "runs_left_out": 0}
    assert len(pd.read_parquet(out)) == 6  # really Parquet, not CSV under a .parquet name


@pytest.mark.parametrize(("args", "fragment"), [
    (["-o", "{tmp}/runs.parquet", "--format", "csv"], "the name says parquet but --format"),
    (["-o", "{store}"], "is the store being exported"),
])
def test_export_refuses_a_conflict_or_the_store(store: Path, tmp_path: Path, args: list[str],
                                                fragment: str) -> None:
    before = store.read_bytes()
    argv = [a.format(tmp=tmp_path, store=store) for a in args]
    result = runner.invoke(app, ["export", "--sweep", "s", "--store", str(store), *argv])
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert store.read_bytes() == before and not (tmp_path / "runs.parquet").exists()
