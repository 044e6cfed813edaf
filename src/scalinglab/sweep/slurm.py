"""Runs as Slurm jobs through submitit: `sweep run --executor slurm`.

Each run is one job that calls the same runner as the local pool (`train_task` or
`command.command_task`) and returns its `RunRecord` to the driver, which alone writes the store.
The driver polls each job with `job.done()`; for a trainer command it reads the run's growing
`metrics.jsonl` itself for progress (the runs folder is on a filesystem the nodes share). A stop
(Ctrl-C) cancels the jobs: their runs go back to `pending` and resume from their own
checkpoints on the next launch. A job the driver lost track of (a `kill -9` of the driver) is
cancelled, and waited for, before its run is submitted again, so two jobs never write one run's
folder at once.

`--executor submitit-local` runs the same submission code with submitit's `LocalExecutor` (jobs
are processes on this machine): how the tests exercise this path without a cluster.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.sweep.command import METRICS_FILE, MetricsTail
from scalinglab.sweep.design import SlurmKeys
from scalinglab.sweep.executors import local_gpus
from scalinglab.sweep.store import RunRecord, pid_alive
from scalinglab.sweep.tasks import Event, Failed, Finished, Progress, Runner, Task

INSTALL_HINT = "submitit is not installed: pip install 'scalinglab[slurm]'"
DEFAULT_MINUTES = 24 * 60  # a job's time limit unless `time` says otherwise
# How much a Slurm cluster runs at once is its queue's business: the driver submits every run.
CLUSTER_THREADS = 1_000_000
CLUSTER_GPUS = 1_000_000.0
STALE_JOB_WAIT_SECONDS = 120.0  # a cancelled leftover job's time to end before resubmitting


def run_job(runner: Runner, task: Task) -> RunRecord:
    """Body of a submitit job: the runner on one task. A stop cancels the job, so the job
    itself never stops early; bad input is a `failed` record (one line), not a traceback."""
    try:
        return runner(task, lambda update: None, lambda: False)
    except ScalinglabError as error:
        return RunRecord(status="failed", measurements=pd.DataFrame(), error=str(error))


class SubmititExecutor:
    """Each run one submitit job: on Slurm, or with submitit's local executor (`local=True`)."""

    def __init__(self, folder: str | Path, runner: Runner, resources: SlurmKeys | None = None,
                 local: bool = False, workers: int | None = None) -> None:
        try:
            import submitit
        except ImportError:
            raise ScalinglabError(INSTALL_HINT) from None
        self._submitit = submitit
        self._runner = runner
        self.resources = resources or SlurmKeys()
        self.cluster = "local" if local else "slurm"
        self._folder = Path(folder)
        self._jobs_dir = self._folder / "jobs"  # the job id of each run, to cancel leftovers
        self._jobs_dir.mkdir(parents=True, exist_ok=True)
        self._executor = submitit.AutoExecutor(folder=self._folder / "%j", cluster=self.cluster)
        cores = os.cpu_count() or 1
        self.capacity = workers or (cores if local else CLUSTER_THREADS)
        self.big_run_threads = self.resources.cpus or cores
        self.gpu_capacity = local_gpus(runner) if local else CLUSTER_GPUS
        self._running: dict[str, tuple[Any, MetricsTail | None]] = {}
        self._stopped: list[str] = []

    def submit(self, task: Task) -> None:
        self._cancel_leftover(task.hash)
        keys = self.resources
        gpus = keys.gpus if keys.gpus is not None else math.ceil(task.gpus)
        parameters: dict[str, Any] = {
            "name": task.name, "timeout_min": int(math.ceil(keys.time or DEFAULT_MINUTES)),
            "cpus_per_task": keys.cpus or task.threads, "gpus_per_node": gpus}
        if keys.partition is not None:
            parameters["slurm_partition"] = keys.partition
        if keys.mem is not None:
            parameters["slurm_mem"] = keys.mem
        self._executor.update_parameters(**parameters)
        job = self._executor.submit(run_job, self._runner, task)
        (self._jobs_dir / f"{task.hash}.json").write_text(json.dumps(
            {"job_id": str(job.job_id), "cluster": self.cluster, "run": task.name}))
        tail = None
        if task.command is not None:
            tail = MetricsTail(Path(task.out_dir) / METRICS_FILE, float(task.config["params"]))
        self._running[task.hash] = (job, tail)

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = [Finished(h, RunRecord(status="interrupted",
                                                     measurements=pd.DataFrame()))
                               for h in self._stopped]
        self._stopped.clear()
        utils = self._submitit.core.utils
        for run_hash, (job, tail) in list(self._running.items()):
            for update in tail.updates() if tail is not None else []:
                events.append(Progress(run_hash, update["tokens"], update["loss"],
                                       update["tokens_per_second"], update["flops"]))
            if not job.done():
                continue
            del self._running[run_hash]
            (self._jobs_dir / f"{run_hash}.json").unlink(missing_ok=True)
            try:
                events.append(Finished(run_hash, job.result()))
            except utils.FailedJobError as error:  # the runner raised: its traceback
                events.append(Failed(run_hash, str(error)))
            except utils.UncompletedJobError as error:  # killed, timed out, node lost: rerun
                events.append(Failed(run_hash, str(error), crashed=True))
        if not events:
            time.sleep(timeout)
        return events

    def stop(self) -> None:
        """Cancel every job; their runs go back to pending (checkpoints kept)."""
        for run_hash, (job, _) in list(self._running.items()):
            job.cancel(check=False)
            self._stopped.append(run_hash)
            del self._running[run_hash]

    def shutdown(self) -> None:
        for job, _ in self._running.values():
            job.cancel(check=False)
        self._running.clear()

    def _cancel_leftover(self, run_hash: str) -> None:
        """Cancel the job an earlier driver left running for this run, and wait for its end."""
        path = self._jobs_dir / f"{run_hash}.json"
        if not path.is_file():
            return
        job_id = str(json.loads(path.read_text())["job_id"])
        path.unlink()
        deadline = time.monotonic() + STALE_JOB_WAIT_SECONDS
        if self.cluster == "local":  # the job id is the pid of submitit's job controller
            pid = int(job_id)
            if _is_submitit_controller(pid):
                os.kill(pid, signal.SIGINT)  # it stops its task; the trainer dies with it
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
            return
        job = self._submitit.SlurmJob(folder=self._folder / "%j", job_id=job_id)
        job.cancel(check=False)
        while not job.done(force_check=True) and time.monotonic() < deadline:
            time.sleep(2.0)


def _is_submitit_controller(pid: int) -> bool:
    """Is `pid` a live submitit local job controller (not a reused pid)?"""
    try:
        return pid_alive(pid) and b"submitit" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
