"""A real sweep driver, stopped with Ctrl-C and killed with SIGKILL at random moments, resumed.

The store after kills + resume must equal the store of an uninterrupted sweep: the same runs
done, the same measurement rows (none duplicated, none missing), the same losses, and at every
moment nothing half-written counted as done.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scalinglab.measurements import read_measurements
from scalinglab.sweep.store import Store, pid_alive
from tiny_sweeps import TINY

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from scalinglab.cli import main; main()"]


def scalinglab(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def run_to_end(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def design(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("design") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def reference(design: Path, tmp_path_factory) -> Path:
    """The store of one uninterrupted sweep."""
    store = tmp_path_factory.mktemp("reference") / "ref.db"
    done = run_to_end("sweep", "run", str(design), "--store", str(store), "--workers", "2")
    assert done.returncode == 0, done.stderr
    return store


def store_runs(store: Path) -> pd.DataFrame:
    """The sweep's runs as the driver has written them so far (empty before it registers)."""
    if not store.exists():
        return pd.DataFrame(columns=["status", "tokens_done"])
    with Store(store) as db:
        if "tiny" not in set(db.sweeps()["sweep"]):
            return pd.DataFrame(columns=["status", "tokens_done"])
        return db.runs("tiny")


def snapshot(store: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with Store(store) as db:
        runs = db.runs("tiny").set_index("hash").sort_index()
        rows = pd.read_sql_query(
            "SELECT run_hash, row, tokens, loss, final FROM measurements ORDER BY run_hash, row",
            db.db)
    return runs, rows


def assert_consistent(store: Path) -> None:
    """Done runs have all their rows; other runs have none; the file passes integrity_check."""
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = dict(db.execute(
        "SELECT r.status || ':' || (COUNT(m.row) > 0), COUNT(DISTINCT r.hash) FROM runs r "
        "LEFT JOIN measurements m ON m.run_hash = r.hash GROUP BY r.hash").fetchall())
    half_written = [k for k in counts if k.startswith("done:0") or
                    (not k.startswith("done") and k.endswith(":1"))]
    assert not half_written, counts
    db.close()


def _children(pid: int) -> list[tuple[int, bytes]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def workers_of(driver: int) -> list[int]:
    """The driver's worker processes (children of its fork server, or spawned children)."""
    workers = []
    for pid, cmdline in _children(driver):
        if b"forkserver" in cmdline:
            workers.extend(child for child, _ in _children(pid))
        elif b"spawn_main" in cmdline:
            workers.append(pid)
    return workers


def assert_gone(pids: list[int]) -> None:
    """The dead driver's workers follow it within seconds (no orphan keeps training)."""
    deadline = time.monotonic() + 5
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if pid_alive(pid)], "workers outlived their driver"


def test_stopped_and_killed_at_random_moments_then_resumed_matches_an_uninterrupted_sweep(
    design: Path, reference: Path, tmp_path: Path
) -> None:
    store = tmp_path / "killed.db"
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    args = ("sweep", "run", str(design), "--store", str(store), "--workers", "2")

    driver = scalinglab(*args)  # Ctrl-C once runs train: they checkpoint and go back to pending
    deadline = time.monotonic() + 60
    while not (store_runs(store)["tokens_done"] > 0).any() and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130, stderr
    assert "run the same command to resume" in stderr
    assert_consistent(store)
    assert not store_runs(store)["status"].eq("running").any()
    assert any((tmp_path / "killed-runs").glob("*/checkpoint-*.pt"))

    for _ in range(3):  # kill -9 the driver; its workers die with it
        driver = scalinglab(*args)
        time.sleep(rng.uniform(0.5, 6.0))
        workers = workers_of(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert_gone(workers)
        assert_consistent(store)

    driver = scalinglab(*args)  # kill -9 a worker mid-run: the driver reruns that run
    deadline = time.monotonic() + 60
    while driver.poll() is None and time.monotonic() < deadline:
        workers = workers_of(driver.pid)
        if len(workers) >= 2 and store_runs(store)["status"].eq("running").any():
            time.sleep(rng.uniform(0.0, 0.5))
            os.kill(rng.choice(workers), signal.SIGKILL)
            break
        time.sleep(0.05)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 0, f"seed {seed}: {stderr}"
    assert_consistent(store)

    runs, rows = snapshot(store)
    ref_runs, ref_rows = snapshot(reference)
    assert list(runs.index) == list(ref_runs.index), f"seed {seed}"
    assert (runs["status"] == "done").all() and (ref_runs["status"] == "done").all()
    assert not rows.duplicated(["run_hash", "row"]).any()
    pd.testing.assert_frame_equal(rows[["run_hash", "row", "tokens", "final"]],
                                  ref_rows[["run_hash", "row", "tokens", "final"]])
    assert (rows["loss"] - ref_rows["loss"]).abs().max() < 1e-4, f"seed {seed}"


def test_a_finished_sweep_relaunched_trains_nothing_and_exports_a_fittable_table(
    design: Path, reference: Path, tmp_path: Path
) -> None:
    before = snapshot(reference)[1]
    again = run_to_end("sweep", "run", str(design), "--store", str(reference), "--json")
    assert again.returncode == 0 and '"done": 4' in again.stdout
    pd.testing.assert_frame_equal(snapshot(reference)[1], before)

    for fmt in ("csv", "parquet"):
        out = tmp_path / f"tiny.{fmt}"
        exported = run_to_end("export", "--sweep", "tiny", "--format", fmt, "-o", str(out),
                              "--store", str(reference))
        assert exported.returncode == 0, exported.stderr
        table, notes = read_measurements(out)
        assert len(table) == len(before) and table["run"].nunique() == 4 and not notes
        assert table["final"].astype(bool).sum() == 4

    status = run_to_end("status", "--sweep", "tiny", "--store", str(reference))
    assert status.returncode == 0 and status.stdout.count("done") == 4
    missing = run_to_end("export", "--sweep", "nope", "--store", str(reference))
    assert missing.returncode == 2 and "no sweep named 'nope'; known: tiny" in missing.stderr


def test_a_second_driver_on_the_same_store_gets_a_clear_message(
    design: Path, tmp_path: Path
) -> None:
    store = tmp_path / "busy.db"
    args = ("sweep", "run", str(design), "--store", str(store), "--workers", "1")
    first = scalinglab(*args)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (store.exists() and Store(store).lease()):
            time.sleep(0.1)
        second = run_to_end(*args)
        assert second.returncode == 2
        assert f"{store}: in use by sweep 'tiny' (pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


def test_a_stop_ends_a_command_of_several_sweeps_and_skips_its_analysis(tmp_path, monkeypatch):
    """Ctrl-C during the sweeps of `reproduce` must not analyse half the runs: exit 130 with
    one line saying how to resume."""
    from typer.testing import CliRunner

    from scalinglab.cli import app
    from scalinglab.sweep import driver

    started = []

    def stopped_sweeps(designs, store_path, **kwargs):
        started.append([d.name for d in designs])
        return [driver.SweepOutcome(d.name, Path(store_path), {"pending": 1}, interrupted=True)
                for d in designs]

    monkeypatch.setattr(driver, "run_sweeps", stopped_sweeps)
    result = CliRunner().invoke(app, ["reproduce", "critical-batch", "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 130, result.output
    assert len(started) == 1 and len(started[0]) == 2  # both sizes in one pool, stopped once
    assert "run the same command again to resume" in result.stderr
    assert not (tmp_path / "out" / "critical-batch.json").exists()
