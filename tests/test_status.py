"""`scalinglab status` is safe at any time: a live sweep, a killed driver, odd names, NULLs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.sweep import store as s
from tiny_sweeps import TINY

runner = CliRunner()


def _planned(i: int, name: str | None = None) -> s.PlannedRun:
    return s.PlannedRun(hash=f"h{i}", name=name or f"run{i}",
                        config={"family": "transformer", "params": 1e4}, planned_flops=1e9)


def _record(i: int) -> s.RunRecord:
    table = pd.DataFrame({"run": f"run{i}", "family": "transformer", "params": 2e4,
                          "params_nonembedding": 1e4, "tokens": [1e3, 2e3],
                          "flops": [6e7, 1.2e8], "loss": [3.0, 2.9], "final": [False, True]})
    return s.RunRecord(status="done", measurements=table, params=2e4, params_nonembedding=1e4,
                       flops_per_token=6e4, tokens_per_second=1e5, seconds=1.0, host="here")


def _status(*args: str) -> str:
    result = runner.invoke(app, ["status", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_status_survives_missing_hosts_empty_sweeps_and_markup_names(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with s.Store(db) as store:
        # One run with a host and others without: pandas reads the missing hosts as NaN.
        store.register_sweep("a", "grid", {}, [_planned(0), _planned(1, "[bold red]BOLD"),
                                               _planned(2, "[/]")])
        store.record_result("h0", _record(0))
        store.mark_running("h1")
        store.register_sweep("empty", "grid", {}, [])
    shown = _status("--store", str(db), "--sweep", "a")
    assert "[bold red]BOLD" in shown and "[/]" in shown and "running" in shown
    assert "empty" in _status("--store", str(db))
    rows = json.loads(_status("--store", str(db), "--sweep", "a", "--json"))["rows"]
    assert [r["host"] for r in rows] == ["here", None, None]


def test_status_after_a_killed_driver_says_it_is_gone(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    with s.Store(db) as store:
        store.register_sweep("a", "grid", {}, [_planned(0), _planned(1)])
        store.acquire_lease("a")
        store.mark_running("h0")
        store.db.execute("UPDATE lease SET pid = ?", (int(dead),))
    shown = _status("--store", str(db), "--sweep", "a")
    assert "gone" in shown and "running" in shown


@pytest.mark.slow
def test_status_polled_during_a_sweep_and_after_kill_9_never_fails(tmp_path: Path) -> None:
    design = tmp_path / "tiny.toml"
    design.write_text(TINY)
    db = tmp_path / "live.db"
    driver = subprocess.Popen(
        [sys.executable, "-c", "from scalinglab.cli import main; main()", "sweep", "run",
         str(design), "--store", str(db), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until a run is training
            shown = runner.invoke(app, ["status", "--store", str(db), "--sweep", "tiny"])
            if shown.exit_code == 0 and "running" in shown.stdout:
                break
            assert shown.exit_code in (0, 2) and "Traceback" not in shown.output
            time.sleep(0.05)
        for poll in range(50):
            for args in (["--sweep", "tiny"], [], ["--sweep", "tiny", "--json"]):
                _status("--store", str(db), *args)
            if poll == 25:
                driver.send_signal(signal.SIGKILL)
                driver.wait()
            time.sleep(0.05)
    finally:
        if driver.poll() is None:
            driver.send_signal(signal.SIGKILL)
            driver.wait()
    _status("--store", str(db), "--sweep", "tiny")
