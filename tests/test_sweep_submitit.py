"""`SubmititExecutor` with submitit's local executor: a stop cancels jobs, and a job left
running by a dead driver is cancelled before its run is submitted again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scalinglab.sweep import command, design, plan
from scalinglab.sweep.tasks import Finished, Task
from test_sweep_command import COMMAND, TOY, _trainers_of

pytest.importorskip("submitit")
pytestmark = pytest.mark.slow


def slow_toy_task(folder: Path) -> Task:
    """One toy run of about 2.5 s (8 evaluations, 0.3 s apart)."""
    toy = design.parse_design({
        "name": "slow", "kind": "grid", "families": ["toy"], "params": [1e4], "tokens": [1e6],
        "trainer": {"command": COMMAND + " --sleep {sleep}"},
        "hparams": {"lr": 3e-3, "width_mult": 1, "sleep": 0.3}})
    run = plan.plan_sweep(toy, 1)[0]
    out = folder / "runs" / run.hash
    return Task(run.hash, run.name, run.config, 1, str(out), 0.0,
                command.trainer_command(run.config, out))


def executor(folder: Path):
    from scalinglab.sweep.design import SlurmKeys
    from scalinglab.sweep.slurm import SubmititExecutor

    return SubmititExecutor(folder / "submitit", command.command_task, SlurmKeys(time=5),
                            local=True, workers=2)


def wait_for_trainer(folder: Path) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (pids := _trainers_of(folder)) and list(folder.glob("runs/*/metrics.jsonl")):
            return pids
        time.sleep(0.05)
    raise AssertionError(f"no {TOY.name} started")


def test_a_stop_cancels_the_jobs_and_their_runs_come_back_interrupted(tmp_path: Path) -> None:
    jobs = executor(tmp_path)
    task = slow_toy_task(tmp_path)
    jobs.submit(task)
    wait_for_trainer(tmp_path)
    jobs.stop()
    events = jobs.poll(0.1)
    assert [(type(e), e.record.status) for e in events if isinstance(e, Finished)] == [
        (Finished, "interrupted")]
    deadline = time.monotonic() + 10
    while _trainers_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _trainers_of(tmp_path), "a cancelled job's trainer kept running"


def test_a_job_left_by_a_dead_driver_is_cancelled_before_its_run_is_submitted_again(
        tmp_path: Path) -> None:
    task = slow_toy_task(tmp_path)
    first = executor(tmp_path)
    first.submit(task)
    old = wait_for_trainer(tmp_path)
    del first  # the driver is gone (kill -9): nothing cancelled its job
    second = executor(tmp_path)
    try:
        second.submit(task)  # cancels the leftover and waits for it to end
        assert not [pid for pid in old if pid in _trainers_of(tmp_path)]
        deadline, events = time.monotonic() + 60, []
        while not events and time.monotonic() < deadline:
            events = [e for e in second.poll(0.2) if isinstance(e, Finished)]
    finally:
        second.shutdown()
    assert [e.record.status for e in events] == ["done"]
    table = events[0].record.measurements
    assert len(table) == 8 and table["tokens"].is_monotonic_increasing
    assert (Path(task.out_dir) / "launches.json").read_text().count('"resume": 1') == 1
