"""Executors: where a sweep's runs train. The driver alone writes the store; executors report.

- `LocalExecutor`: a pool of worker processes on this machine, one per core. Each task brings its
  own thread count, so small runs sit side by side on one thread each (two 1-thread runs beat one
  2-thread run by 1.36-1.50x below 1e6 parameters on the reference machine) while a big run gets
  all threads. Workers die with the driver (even under `kill -9`), so an orphan never keeps
  writing a checkpoint that a resumed sweep is reading, nor holds cores.
- `RayExecutor`: each run a Ray task with its CPU (and GPU) request; results come back to the
  driver. Works on a local Ray instance or a cluster (`--address`).
- `slurm.SubmititExecutor`: each run a Slurm job through submitit.

Each runs a `runner` on every task: `train_task` (the lab's engine) or `command.command_task`
(a researcher's own trainer command). All take `Task`s and hand back `Event`s from `poll()`
(types shared with `ray_tasks` live in `tasks`); `stop()` asks running runs to checkpoint and
return early (`should_stop`), which they report as an `interrupted` result.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from scalinglab.errors import ScalinglabError
from scalinglab.sweep import command
from scalinglab.sweep.store import RunRecord
from scalinglab.sweep.tasks import (
    Event,
    Failed,
    Finished,
    Runner,
    Started,
    Task,
    throttled_progress,
)

# Runs below this many non-embedding parameters get one thread and are packed side by side; at
# and above it a run gets every thread (packing gains fall to 1.13x at 3e6 on the reference CPU).
SMALL_RUN_PARAMS = 1e6


class Executor(Protocol):
    """What the driver needs from an executor."""

    capacity: int  # CPU threads it can run at once
    big_run_threads: int  # threads a big run gets
    gpu_capacity: float  # GPUs it can use at once

    def submit(self, task: Task) -> None: ...
    def poll(self, timeout: float) -> list[Event]: ...
    def stop(self) -> None: ...
    def shutdown(self) -> None: ...


def train_task(task: Task, progress: Callable[[dict[str, Any]], None],
               should_stop: Callable[[], bool]) -> RunRecord:
    """Train one run with the training engine and package its result for the store."""
    from scalinglab.sweep.store import SEQUENCE_LOSS
    from scalinglab.train import RunConfig, train_run

    if task.command is not None:
        raise ScalinglabError(f"{task.name}: a trainer-command run; run it with command_task")
    config = RunConfig(**{**task.config, "threads": task.threads})
    result = train_run(config, out_dir=Path(task.out_dir), progress=progress,
                       should_stop=should_stop)
    accuracy = result.accuracy
    if accuracy is None:
        accuracy = {}
    elif not isinstance(accuracy, dict):
        accuracy = {"exact_match": float(accuracy)}
    if result.sequence_losses is not None:  # named per-run values, as the store keeps them
        accuracy.update({f"{SEQUENCE_LOSS}:{r.split}:{r.window}": float(r.loss)
                         for r in result.sequence_losses.itertuples()})
    return RunRecord(
        status=result.status, measurements=result.measurements,
        position_losses=result.position_losses, accuracy=accuracy, params=result.params,
        params_nonembedding=result.params_nonembedding, flops_per_token=result.flops_per_token,
        tokens_per_second=result.tokens_per_second, seconds=result.seconds,
        corpus_fingerprint=_fingerprint_text(result.corpus_fingerprint),
        host=socket.gethostname())


def _fingerprint_text(fingerprint: Any) -> str | None:
    """The corpus fingerprint as one string (the engine may give a string or a dict)."""
    if fingerprint is None or isinstance(fingerprint, str):
        return fingerprint
    import json

    return json.dumps(fingerprint, sort_keys=True, default=str)


# --- the local pool ---------------------------------------------------------------------------


def _die_with_driver(driver_pid: int) -> None:
    """Kill this worker within half a second of the driver's death, however it died.

    A watchdog thread rather than PR_SET_PDEATHSIG: a worker's parent is the fork server, which
    outlives the driver for as long as any worker lives. A trainer command the worker runs dies
    first, with its whole process group.
    """
    from scalinglab.sweep.store import pid_alive

    def watch() -> None:
        while pid_alive(driver_pid):
            time.sleep(0.5)
        command.kill_trainers()
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="driver-watchdog", daemon=True).start()


def _worker_main(inbox: Any, outbox: Any, stop_event: Any, runner: Runner,
                 driver_pid: int) -> None:
    """A worker process: train the tasks it is given, one at a time, until told to exit."""
    _die_with_driver(driver_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches us via `stop_event`

    def should_stop() -> bool:
        return stop_event.is_set()

    while True:
        task = inbox.get()
        if task is None:
            return
        outbox.put(Started(task.hash, socket.gethostname()))
        try:
            record = runner(task, throttled_progress(outbox.put, task.hash), should_stop)
            outbox.put(Finished(task.hash, record))
        except ScalinglabError as error:
            outbox.put(Failed(task.hash, str(error)))
        except Exception:  # a bug or a crash in one run must not stop the sweep
            outbox.put(Failed(task.hash, traceback.format_exc()))


def local_gpus(runner: Runner = train_task) -> float:
    """1 if this machine has a CUDA device (GPU runs then train one at a time on it), else 0.

    Runs use device `cuda`, the first visible GPU; for several GPUs use Ray, or one sweep per
    GPU with `CUDA_VISIBLE_DEVICES` (see docs/sweeps.md). The lab's engine asks torch; for a
    trainer command, which need not use torch, `nvidia-smi` is asked instead.
    """
    if runner is train_task:
        import torch

        return 1.0 if torch.cuda.is_available() else 0.0
    import shutil
    import subprocess

    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1") or not shutil.which("nvidia-smi"):
        return 0.0
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0.0
    return 1.0 if listed.returncode == 0 and "GPU" in listed.stdout else 0.0


def _process_context(multiprocessing: Any, runner: Runner) -> Any:
    """A fork server that has imported the runner's modules once (torch and the training
    engine for `train_task`), so each worker starts in milliseconds instead of importing them
    again (seconds each, on every core). The server never runs torch, so forking it is safe;
    "spawn" where there is no fork."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    preload = ["scalinglab.train"] if runner is train_task else [runner.__module__]
    context.set_forkserver_preload(["scalinglab.sweep.executors", *preload])
    return context


class _Worker:
    """One worker process and the task it is running."""

    def __init__(self, context: Any, outbox: Any, stop_event: Any, runner: Runner) -> None:
        self.inbox = context.Queue()
        self.process = context.Process(
            target=_worker_main, args=(self.inbox, outbox, stop_event, runner, os.getpid()),
            daemon=True)
        self.process.start()
        self.task: Task | None = None


class LocalExecutor:
    """Worker processes on this machine, packed by thread count (see the module doc)."""

    def __init__(self, workers: int | None = None, runner: Runner = train_task) -> None:
        import multiprocessing

        self.capacity = workers or os.cpu_count() or 1
        self.big_run_threads = self.capacity
        self.gpu_capacity = local_gpus(runner)
        self._context = _process_context(multiprocessing, runner)
        self._outbox = self._context.Queue()
        self._stop_event = self._context.Event()
        self._runner = runner
        self._workers: list[_Worker] = []  # started at the first submit: none if nothing to run

    def _spawn(self) -> _Worker:
        return _Worker(self._context, self._outbox, self._stop_event, self._runner)

    def submit(self, task: Task) -> None:
        if not self._workers:
            self._workers = [self._spawn() for _ in range(self.capacity)]
        worker = next((w for w in self._workers if w.task is None), None)
        if worker is None:
            raise RuntimeError("no idle worker: the driver over-committed the pool")
        worker.task = task
        worker.inbox.put(task)

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = []
        try:
            events.append(self._outbox.get(timeout=timeout))
            while True:
                events.append(self._outbox.get_nowait())
        except queue.Empty:
            pass
        for event in events:
            if isinstance(event, Finished | Failed):
                for worker in self._workers:
                    if worker.task is not None and worker.task.hash == event.hash:
                        worker.task = None
        events.extend(self._reap_dead_workers())
        return events

    def _reap_dead_workers(self) -> list[Event]:
        """A worker that died (killed, out of memory) fails its run and is replaced."""
        events: list[Event] = []
        for i, worker in enumerate(self._workers):
            if worker.process.is_alive():
                continue
            if worker.task is not None:
                events.append(Failed(worker.task.hash, f"worker process died (exit code "
                                     f"{worker.process.exitcode})", crashed=True))
            self._workers[i] = self._spawn()
        return events

    def stop(self) -> None:
        self._stop_event.set()

    def shutdown(self) -> None:
        for worker in self._workers:
            worker.inbox.put(None)
        deadline = time.monotonic() + 5.0
        for worker in self._workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()


# --- Ray --------------------------------------------------------------------------------------


class RayExecutor:
    """Each run a Ray task asking for its threads as CPUs (and a GPU for CUDA runs)."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 runner: Runner = train_task) -> None:
        try:
            import ray
        except ImportError:
            raise ScalinglabError(
                "--executor ray needs Ray: pip install 'scalinglab[ray]'") from None
        from scalinglab.sweep import ray_tasks

        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, num_cpus=None if address else num_cpus,
                         include_dashboard=False, log_to_driver=False)
            except ConnectionError as error:
                raise ScalinglabError(f"--address {address}: cannot reach Ray ({error})") from None
        resources = ray.cluster_resources()
        self.capacity = int(resources.get("CPU", 1))
        node_cpus = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
        self.big_run_threads = int(max(node_cpus, default=self.capacity))
        self.gpu_capacity = float(resources.get("GPU", 0.0))
        self._tasks = ray_tasks.Tasks(ray, runner)
        self._refs: dict[Any, str] = {}
        exceptions = ray.exceptions
        self._lost_worker = tuple(getattr(exceptions, name) for name in (
            "WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError",
            "RaySystemError", "LocalRayletDiedError") if hasattr(exceptions, name))

    def unshared(self, runs_dir: Path) -> list[str]:
        """Nodes that cannot see `runs_dir` (checkpoints must be on a shared filesystem)."""
        import uuid

        runs_dir.mkdir(parents=True, exist_ok=True)
        marker = runs_dir / f".shared-{uuid.uuid4().hex}"
        marker.touch()
        try:
            return self._tasks.nodes_missing(str(marker.resolve()))
        finally:
            marker.unlink(missing_ok=True)

    def submit(self, task: Task) -> None:
        ref = self._tasks.submit(task)
        self._refs[ref] = task.hash

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = list(self._tasks.drain_messages())
        if self._refs:
            ready, _ = self._ray.wait(list(self._refs), num_returns=len(self._refs),
                                      timeout=timeout)
            for ref in ready:
                run_hash = self._refs.pop(ref)
                try:
                    events.append(Finished(run_hash, self._ray.get(ref)))
                except self._lost_worker as error:  # a node or worker died: rerun the run
                    events.append(Failed(run_hash, str(error), crashed=True))
                except Exception as error:  # RayTaskError carries the remote traceback
                    events.append(Failed(run_hash, str(error)))
        else:
            time.sleep(timeout)
        return events

    def stop(self) -> None:
        self._tasks.stop()

    def shutdown(self) -> None:
        for ref in list(self._refs):
            self._ray.cancel(ref, force=True)
        self._refs.clear()
