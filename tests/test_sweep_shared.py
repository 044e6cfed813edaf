"""The driver says clearly when a cluster's nodes cannot see the checkpoint folder."""

from __future__ import annotations

from pathlib import Path

from scalinglab.sweep.driver import _check_shared


class _Cluster:
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing

    def unshared(self, runs_dir: Path) -> list[str]:
        return self.missing


def test_a_runs_dir_some_nodes_cannot_see_is_named(tmp_path: Path) -> None:
    notes: list[str] = []
    _check_shared(_Cluster(["node-b", "node-a", "node-b"]), tmp_path, notes.append)
    assert len(notes) == 1
    assert f"--runs-dir {tmp_path} is not shared: node(s) node-a, node-b cannot see it" in notes[0]
    _check_shared(_Cluster([]), tmp_path, notes.append)
    _check_shared(object(), tmp_path, notes.append)  # a local executor: nothing to check
    assert len(notes) == 1
