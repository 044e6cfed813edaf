"""The results store: idempotence, one transaction per result, leases, versions, corruption."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

from scalinglab.errors import ScalinglabError
from scalinglab.measurements import read_measurements
from scalinglab.sweep import store as s


def planned(i: int) -> s.PlannedRun:
    return s.PlannedRun(hash=f"h{i}", name=f"run{i}",
                        config={"family": "transformer", "params": 1e4 * (i + 1)},
                        planned_flops=1e9 * (i + 1))


def record(i: int, rows: int = 3, status: str = "done") -> s.RunRecord:
    table = pd.DataFrame({
        "run": f"run{i}", "family": "transformer", "params": 2e4, "params_nonembedding": 1e4,
        "tokens": [1e3 * 2**k for k in range(rows)], "flops": [6e7 * 2**k for k in range(rows)],
        "loss": [3.0 - 0.1 * k for k in range(rows)], "seed": 0, "lr": 1e-3,
        "final": [k == rows - 1 for k in range(rows)], "split": "val",
        "flops_kaplan": [6e7 * 2**k for k in range(rows)]})
    return s.RunRecord(status=status, measurements=table,
                       position_losses=pd.DataFrame({"position": [0, 1], "loss": [4.0, 3.0]}),
                       accuracy={"exact_match": 0.5}, params=2e4, params_nonembedding=1e4,
                       flops_per_token=6e4, tokens_per_second=1e5, seconds=1.0,
                       corpus_fingerprint="abc", host="here")


def test_registering_again_is_idempotent_and_keeps_finished_runs(tmp_path) -> None:
    with s.Store(tmp_path / "x.db") as store:
        assert store.register_sweep("a", "grid", {}, [planned(0), planned(1)]) == 2
        store.record_result("h0", record(0))
        assert store.register_sweep("a", "grid", {}, [planned(0), planned(1), planned(2)]) == 1
        runs = store.runs("a")
        assert list(runs["status"]) == ["done", "pending", "pending"]
        # Another sweep reusing a config reuses the finished run.
        assert store.register_sweep("b", "grid", {}, [planned(0)]) == 0
        assert list(store.runs("b")["status"]) == ["done"]


def test_a_result_is_written_whole_and_rewriting_it_never_duplicates_rows(tmp_path) -> None:
    with s.Store(tmp_path / "x.db") as store:
        store.register_sweep("a", "grid", {}, [planned(0)])
        store.record_result("h0", record(0))
        store.record_result("h0", record(0))
        table = store.measurements("a")
        assert len(table) == 3 and table["flops_kaplan"].notna().all()
        assert len(store.position_losses("a")) == 2
        assert store.accuracies("a")["value"].tolist() == [0.5]


def test_a_failing_write_leaves_the_run_unfinished_and_rowless(tmp_path) -> None:
    with s.Store(tmp_path / "x.db") as store:
        store.register_sweep("a", "grid", {}, [planned(0)])
        bad = record(0)
        bad.position_losses = pd.DataFrame({"position": [0, 0], "loss": [1.0, 2.0]})  # dup key
        with pytest.raises(sqlite3.IntegrityError):
            store.record_result("h0", bad)
        assert store.runs("a")["status"].tolist() == ["pending"]
        assert store.db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 0


def test_statuses_move_through_running_interrupted_and_failed(tmp_path) -> None:
    with s.Store(tmp_path / "x.db") as store:
        store.register_sweep("a", "grid", {}, [planned(0), planned(1), planned(2)])
        for h in ("h0", "h1", "h2"):
            store.mark_running(h, host="here")
        store.record_progress("h0", tokens=500.0, loss=3.2, tokens_per_second=1e4,
                              flops_per_token=6e4)
        store.record_result("h1", record(1, status="interrupted"))
        store.mark_failed("h2", "Traceback ... boom")
        runs = store.runs("a").set_index("hash")
        assert runs.loc["h0", "status"] == "running" and runs.loc["h0", "tokens_done"] == 500
        assert runs.loc["h1", "status"] == "pending"
        assert runs.loc["h2", "status"] == "failed" and "boom" in runs.loc["h2", "error"]
        assert store.reset_interrupted() == 1
        summary = store.sweeps().set_index("sweep").loc["a"]
        assert summary["pending"] == 2 and summary["failed"] == 1
        assert summary["flops_done"] == pytest.approx(500 * 6e4)


def test_export_is_a_measurements_table_the_fitting_commands_read(tmp_path) -> None:
    with s.Store(tmp_path / "x.db") as store:
        store.register_sweep("a", "grid", {}, [planned(0), planned(1), planned(2)])
        store.record_result("h0", record(0))
        store.record_result("h1", record(1))
        store.record_result("h2", record(2, status="diverged"))
        table = store.measurements("a")
    assert set(table["run"]) == {"run0", "run1"}  # diverged runs are left out
    path = tmp_path / "m.csv"
    table.to_csv(path, index=False)
    read, notes = read_measurements(path)
    assert len(read) == 6 and not notes and read["final"].sum() == 2


def test_unknown_sweep_is_named_with_the_known_ones(tmp_path) -> None:
    with s.Store(tmp_path / "x.db") as store:
        store.register_sweep("a", "grid", {}, [planned(0)])
        with pytest.raises(ScalinglabError, match="no sweep named 'b'; known: a"):
            store.measurements("b")


def test_a_second_driver_is_refused_while_the_first_lives(tmp_path) -> None:
    path = tmp_path / "x.db"
    with s.Store(path) as first, s.Store(path) as second:
        first.acquire_lease("a")
        with pytest.raises(ScalinglabError, match=r"in use by sweep 'a' \(pid \d+ on .*heartbeat"):
            second.acquire_lease("b")
        first.heartbeat()
        first.release_lease()
        second.acquire_lease("b")
        with pytest.raises(ScalinglabError, match="took over"):
            first.heartbeat()


def test_a_dead_drivers_lease_is_taken_over(tmp_path) -> None:
    path = tmp_path / "x.db"
    child = subprocess.run(
        [sys.executable, "-c", "from scalinglab.sweep.store import Store; "
         f"Store({str(path)!r}).acquire_lease('dead')"], check=True)
    assert child.returncode == 0
    with s.Store(path) as store:
        assert store.lease()["alive"] is False
        store.acquire_lease("alive")
        assert store.lease()["sweep"] == "alive"


def test_older_and_newer_stores_get_a_clear_message(tmp_path) -> None:
    path = tmp_path / "x.db"
    s.Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    db.commit()
    with pytest.raises(ScalinglabError, match="schema version 0 was written by an older"):
        s.Store(path)
    db.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(ScalinglabError, match="newer scalinglab"):
        s.Store(path)


def test_corrupted_or_foreign_files_get_a_clear_message(tmp_path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(ScalinglabError, match="not a readable scalinglab store"):
        s.Store(garbage)

    damaged = tmp_path / "damaged.db"
    with s.Store(damaged) as store:
        store.register_sweep("a", "grid", {}, [planned(i) for i in range(200)])
        for i in range(200):
            store.record_result(f"h{i}", record(i, rows=20))
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(damaged.read_bytes())
    page = 4096
    data[3 * page: 6 * page] = b"\xde\xad\xbe\xef" * (3 * page // 4)
    damaged.write_bytes(bytes(data))
    with pytest.raises(ScalinglabError, match="corrupted"):
        s.Store(damaged)

    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ScalinglabError, match="not a scalinglab store"):
        s.Store(foreign)
    with pytest.raises(ScalinglabError, match="no such store"):
        s.Store(tmp_path / "none.db", create=False)
