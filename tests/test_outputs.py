"""Nothing recorded is lost: output paths checked first, files written whole, runs not replaced."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from scalinglab import files
from scalinglab.cli import app
from scalinglab.errors import ScalinglabError
from scalinglab.sweep import store as s
from scalinglab.train import RunConfig, train_run

runner = CliRunner()
TINY = ["--params", "2e4", "--tokens", "2e4", "--n-ctx", "32", "--eval-tokens", "2048",
        "--threads", "1"]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _error(args: list[str], fragment: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("note:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    return lines[0]


def _table(path: Path) -> Path:
    n, d = np.meshgrid(np.geomspace(1e7, 1e10, 4), np.geomspace(1e8, 1e12, 4), indexing="ij")
    n, d = n.ravel(), d.ravel()
    loss = 1.8 + 480.0 / n**0.35 + 2100.0 / d**0.37
    pd.DataFrame({"params": n, "tokens": d, "flops": 6 * n * d, "loss": loss}).to_csv(
        path, index=False)
    return path


def test_train_refuses_a_folder_holding_another_configuration(tmp_path: Path) -> None:
    out = tmp_path / "a"
    first = runner.invoke(app, ["train", *TINY, "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    before = _digest(out)
    _error(["train", *TINY, "--seed", "1", "--out", str(out)],
           "holds a done run of another configuration")
    assert _digest(out) == before
    again = runner.invoke(app, ["train", *TINY, "--out", str(out), "--json"])  # same: reused
    assert again.exit_code == 0 and _digest(out) == before
    replaced = runner.invoke(app, ["train", *TINY, "--seed", "1", "--out", str(out), "--json",
                                   "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((out / "result.json").read_text())["config"]["seed"] == 1


def test_train_refuses_bad_out_folders_before_training(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("keep")
    _error(["train", *TINY, "--out", str(a_file)], "is a file; give a folder")
    _error(["train", *TINY, "--out", str(a_file / "sub")], "is a file, not a folder")
    assert a_file.read_text() == "keep"


def test_damaged_run_folders_are_one_line(tmp_path: Path) -> None:
    cfg = RunConfig(params=2e4, tokens=2e4, n_ctx=32, eval_tokens=2048, threads=1)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "result.json").write_text("[1, 2, 3]")
    with pytest.raises(ScalinglabError, match="not a result.json written by scalinglab"):
        train_run(cfg, out_dir=wrong)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    checkpoint = truncated / f"checkpoint-{cfg.config_hash()[:16]}.pt"
    torch.save({"model": {}, "step": 3}, checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:40])
    with pytest.raises(ScalinglabError, match="checkpoint is damaged"):
        train_run(cfg, out_dir=truncated)


def test_output_files_are_checked_before_any_work(tmp_path: Path) -> None:
    data = str(_table(tmp_path / "runs.csv"))
    _error(["fit", data, "--out", str(tmp_path)], "is a folder; give a file name")
    _error(["fit", data, "--out", str(tmp_path / "no" / "FIT.json")], "does not exist")
    _error(["report", "--data", data, "-o", str(tmp_path / "no" / "r.html")], "does not exist")
    _error(["report", "--data", data, "-o", str(tmp_path / "r.txt")], "name it *.html")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused_first(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        data = str(_table(tmp_path / "runs.csv"))
        _error(["fit", data, "--out", str(locked / "FIT.json")], "cannot write there")
        _error(["train", *TINY, "--out", str(locked / "run")], "cannot write there")
    finally:
        locked.chmod(0o755)


def test_an_unwritable_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)
    data = str(_table(tmp_path / "runs.csv"))
    _error(["fit", data, "--out", str(tmp_path / "FIT.json")], "cannot write there")
    _error(["train", *TINY, "--out", str(tmp_path / "run")], "cannot write there")
    _error(["export", "--sweep", "a", "-o", str(tmp_path / "a.csv")], "cannot write there")


def test_a_repeated_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("run,family,params,loss,flops,loss\na,t,1e6,3.0,1e15,2e9\n")
    _error(["fit", str(path)], "column 'loss' appears twice in the header")


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic write fails as on a full filesystem (when it flushes to the disk)."""
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", no_space)


def test_a_full_disk_leaves_old_files_whole_and_says_so(tmp_path: Path, full_disk) -> None:
    target = tmp_path / "FIT.json"
    target.write_text('{"old": true}')
    data = str(_table(tmp_path / "runs.csv"))
    _error(["fit", data, "--law", "chinchilla", "--out", str(target)], f"disk full at {target}")
    assert target.read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FIT.json", "runs.csv"]


def test_train_on_a_full_disk_leaves_no_empty_measurements(tmp_path: Path, full_disk) -> None:
    out = tmp_path / "run"
    cfg = RunConfig(params=2e4, tokens=2e4, n_ctx=32, eval_tokens=2048, threads=1)
    with pytest.raises(ScalinglabError, match="disk full at"):
        train_run(cfg, out_dir=out)
    assert not (out / "measurements.csv").exists() and not (out / "result.json").exists()
    assert not list(out.glob(".*.tmp"))


def test_a_full_store_is_one_line_and_keeps_its_last_commit(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with s.Store(path) as store:
        store.register_sweep("a", "grid", {}, [
            s.PlannedRun(hash="h0", name="run0", config={"family": "t"}, planned_flops=1.0)])
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        many = [s.PlannedRun(hash=f"x{i}", name="r" * 500, config={"family": "t" * 500},
                             planned_flops=1.0) for i in range(200)]
        with pytest.raises(ScalinglabError, match=f"disk full at {path}"):
            store.register_sweep("b", "grid", {}, many)
    with s.Store(path) as store:
        assert list(store.sweeps()["sweep"]) == ["a"]
