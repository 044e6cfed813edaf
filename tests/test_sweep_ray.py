"""The Ray executor on a local Ray instance: each run a Ray task, results back to the driver."""

from __future__ import annotations

import pytest

from scalinglab.sweep.design import parse_design
from scalinglab.sweep.driver import run_sweep
from scalinglab.sweep.store import Store

ray = pytest.importorskip("ray")
# One xdist worker runs every Ray test: two local Ray clusters at once compete for ports.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def test_a_sweep_runs_as_ray_tasks_into_the_store_and_resumes_idempotently(tmp_path) -> None:
    from scalinglab.sweep.executors import RayExecutor

    design = parse_design({
        "name": "ray-tiny", "kind": "curves", "families": ["transformer", "lstm"],
        "params": [3e3], "tokens": 4e4, "cooldowns": [0.5],
        "overrides": {"n_ctx": 32, "eval_tokens": 2048, "batch_tokens": 512}})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayExecutor()
        assert executor.capacity == 2
        outcome = run_sweep(design, tmp_path / "ray.db", executor=executor)
        again = run_sweep(design, tmp_path / "ray.db", executor=RayExecutor())
    finally:
        ray.shutdown()
    assert outcome.counts == {"done": 2} and not outcome.failures
    assert again.counts == {"done": 2}
    with Store(tmp_path / "ray.db") as store:
        table = store.measurements("ray-tiny")
        runs = store.runs("ray-tiny")
    assert set(table["family"]) == {"transformer", "lstm"}
    # Each WSD run yields two final losses: its cooldown branch at 2e4 tokens and its end.
    finals = table[table["final"]].groupby("family")["tokens"].apply(sorted)
    assert all(len(t) == 2 and t[1] > t[0] for t in finals)
    assert runs["host"].notna().all() and runs["corpus_fingerprint"].notna().all()
