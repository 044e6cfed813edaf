"""The cluster path under faults: a worker node of a Ray cluster dies in the middle of a sweep.

A cluster started inside the test (`ray.cluster_utils.Cluster`: a head with no CPUs, so every
run trains on a worker node, and two worker nodes) runs a sweep; once a run is training, one
worker node is killed. The sweep must finish with every run done exactly once and the same
rows and losses as an uninterrupted sweep (here the local executor's, which trains the same
configs). All nodes share this machine's filesystem, so the runs folder is shared.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from scalinglab.sweep.design import parse_design
from scalinglab.sweep.driver import run_sweep
from scalinglab.sweep.store import Store

ray = pytest.importorskip("ray")
# One xdist worker runs every Ray test: two local Ray clusters at once compete for ports.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

DESIGN = {
    "name": "node-loss", "kind": "grid", "params": [3e3, 1.2e4], "tokens": [4e4, 8e4],
    "overrides": {"n_ctx": 32, "eval_tokens": 2048, "batch_tokens": 256},
}


def _rows(store_path: Path) -> pd.DataFrame:
    with Store(store_path) as store:
        runs = store.runs("node-loss")
        rows = store.measurements("node-loss")
    assert (runs["status"] == "done").all(), runs[["name", "status", "error"]]
    return rows.sort_values(["run", "tokens", "final"]).reset_index(drop=True)


def test_a_sweep_survives_losing_a_worker_node(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    from scalinglab.sweep.executors import RayExecutor

    design = parse_design(dict(DESIGN))
    reference = _rows_of_local_sweep(design, tmp_path / "reference.db")

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False})
    doomed = cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    store_path = tmp_path / "ray.db"
    killed = threading.Event()

    def kill_a_node_once_a_run_trains() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if not store_path.exists():
                continue
            try:
                with Store(store_path, create=False) as store:
                    runs = store.runs("node-loss")
            except Exception:  # noqa: BLE001 - not registered yet
                continue
            if (runs["tokens_done"].fillna(0) > 0).any():
                cluster.remove_node(doomed, allow_graceful=False)
                killed.set()
                return

    notes: list[str] = []
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        killer = threading.Thread(target=kill_a_node_once_a_run_trains, daemon=True)
        killer.start()
        outcome = run_sweep(design, store_path, executor=RayExecutor(), on_note=notes.append)
        killer.join(timeout=1)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert killed.is_set(), "the sweep ended before a node could be killed"
    assert not any("not shared" in n for n in notes), notes
    assert outcome.counts == {"done": 4} and not outcome.failures
    rows = _rows(store_path)
    assert not rows.duplicated(["run", "tokens", "final"]).any()
    pd.testing.assert_frame_equal(rows[["run", "tokens", "final"]],
                                  reference[["run", "tokens", "final"]])
    assert (rows["loss"] - reference["loss"]).abs().max() < 1e-4


def _rows_of_local_sweep(design, store_path: Path) -> pd.DataFrame:
    outcome = run_sweep(design, store_path, workers=2)
    assert outcome.counts == {"done": 4}
    return _rows(store_path)


def test_nodes_that_cannot_see_a_path_are_named(tmp_path: Path) -> None:
    import socket

    from scalinglab.sweep.executors import RayExecutor

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayExecutor()
        assert executor.unshared(tmp_path / "runs") == []
        assert executor._tasks.nodes_missing(str(tmp_path / "nowhere")) == [socket.gethostname()]
    finally:
        ray.shutdown()
