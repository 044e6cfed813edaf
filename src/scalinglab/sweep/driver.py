"""The sweep driver: the one process that writes the store while executors train.

`run_sweep` registers the design's runs (keyed by config hash), skips what is done, resumes what
was interrupted (each run's checkpoint lives in `runs_dir/<hash>`), feeds the executor in queue
order as threads free up, and writes each result in one transaction as it arrives.

Ctrl-C asks running runs to checkpoint and return (they go back to `pending`); a second Ctrl-C
quits at once (they stay `running` and are reset on the next launch). After `kill -9` the next
launch does the same, so the only loss is the work since each run's last checkpoint.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalinglab.errors import Interrupted, ScalinglabError
from scalinglab.files import check_output_file, check_output_folder
from scalinglab.measurements import final_rows
from scalinglab.sweep import command
from scalinglab.sweep import plan as planning
from scalinglab.sweep.design import Design, SlurmKeys
from scalinglab.sweep.executors import Executor, LocalExecutor, RayExecutor, train_task
from scalinglab.sweep.store import DEFAULT_STORE, PlannedRun, Store
from scalinglab.sweep.tasks import Failed, Finished, Progress, Runner, Started, Task

HEARTBEAT_SECONDS = 5.0
STORE_PROGRESS_SECONDS = 2.0
MAX_CRASHES = 2  # a run whose worker dies this often is marked failed


@dataclass
class SweepOutcome:
    """How a launch ended: runs by status, and whether it was interrupted."""

    sweep: str
    store: Path
    counts: dict[str, int]
    interrupted: bool = False
    failures: dict[str, str] = field(default_factory=dict)


def runs_dir_for(store_path: Path) -> Path:
    """Checkpoints live next to the store: `scalinglab.db` -> `scalinglab-runs/`."""
    return store_path.with_name(f"{store_path.stem}-runs")


EXECUTORS = ("local", "ray", "slurm", "submitit-local")
SUBMITIT_EXECUTORS = ("slurm", "submitit-local")


def check_executor(kind: str, address: str | None, slurm: dict[str, Any] | None = None) -> None:
    """An executor the driver knows, with options that apply to it, and what it needs."""
    if kind not in EXECUTORS:
        raise ScalinglabError(f"unknown executor {kind!r}; allowed: {', '.join(EXECUTORS)}")
    if kind != "ray" and address is not None:
        raise ScalinglabError("--address applies to --executor ray only")
    if kind not in SUBMITIT_EXECUTORS and any(v is not None for v in (slurm or {}).values()):
        raise ScalinglabError("--slurm-* options apply to --executor slurm (or submitit-local) "
                              "only")
    if kind in SUBMITIT_EXECUTORS:
        import importlib.util

        from scalinglab.sweep.slurm import INSTALL_HINT

        if importlib.util.find_spec("submitit") is None:
            raise ScalinglabError(INSTALL_HINT)


def make_executor(kind: str, workers: int | None, address: str | None,
                  runner: Runner = train_task, runs_dir: Path | None = None,
                  slurm: SlurmKeys | None = None) -> Executor:
    check_executor(kind, address)
    if kind == "local":
        return LocalExecutor(workers, runner=runner)
    if kind == "ray":
        return RayExecutor(address, num_cpus=workers, runner=runner)
    from scalinglab.sweep.slurm import SubmititExecutor

    folder = (runs_dir or Path(".")) / "submitit"
    return SubmititExecutor(folder, runner, slurm, local=kind == "submitit-local",
                            workers=workers)


def runner_for(designs: list[Design]) -> Runner:
    """`command_task` for designs with a trainer command, `train_task` for the lab's engine."""
    own = {d.trainer is not None for d in designs}
    if len(own) > 1:
        raise ScalinglabError("designs with a trainer command and designs for the lab's engine "
                              "cannot share one launch; run them one after the other")
    return command.command_task if own == {True} else train_task


def slurm_keys(designs: list[Design], options: dict[str, Any] | None = None) -> SlurmKeys:
    """Each job's Slurm resources: the --slurm-* options over the designs' `[slurm]` keys."""
    from pydantic import ValidationError

    tables = {d.slurm for d in designs}
    if len(tables) > 1:
        raise ScalinglabError("the designs of one launch set different [slurm] keys; give them "
                              "the same, or pass --slurm-* options")
    keys = next(iter(tables)).model_dump() if tables else {}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    try:
        return SlurmKeys(**{**keys, **given})
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        raise ScalinglabError(f"--slurm-{key}: {first['msg']} (got {first['input']!r})") from None


class _StopRequest:
    """First Ctrl-C: ask runs to stop; second: quit now (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def run_designs(designs: list[Design], store_path: str | Path, workers: int | None = None,
                display_factory: Callable[[str], Any] | None = None,
                on_note: Callable[[str], None] | None = None) -> None:
    """Run several designs into one store together, under one display if given.

    Their runs share one worker pool, so a core freed by one design's last run takes the next
    design's first instead of idling until the slowest run of the sweep before it ends. A stop
    (Ctrl-C) ends the whole command: `Interrupted` is raised so that no analysis of half the
    runs follows.
    """
    if not designs:
        return
    name = " + ".join(d.name for d in designs)
    if display_factory is None:
        outcomes = run_sweeps(designs, store_path, workers=workers, on_note=on_note)
    else:
        with display_factory(name) as display:
            outcomes = run_sweeps(designs, store_path, workers=workers, display=display,
                                  on_note=on_note)
    if outcomes[0].interrupted:
        raise Interrupted(f"stopped during sweeps {name}: finished runs are stored and "
                          "running ones checkpointed; run the same command again to resume")


def run_sweep(design: Design, *args: Any, **kwargs: Any) -> SweepOutcome:
    """Run (or resume) one design into the store; the options are `run_sweeps`'s.

    `display` is an optional `progress.SweepDisplay`-like object (start/progress/finish calls);
    `executor` may be an `Executor` instance (then `workers`/`address` are ignored).
    """
    return run_sweeps([design], *args, **kwargs)[0]


def run_sweeps(
    designs: list[Design],
    store_path: str | Path = DEFAULT_STORE,
    executor: str | Executor = "local",
    workers: int | None = None,
    address: str | None = None,
    runs_dir: str | Path | None = None,
    display: Any = None,
    on_note: Callable[[str], None] | None = None,
    slurm: dict[str, Any] | None = None,
) -> list[SweepOutcome]:
    """Run (or resume) several designs' runs from one queue; one outcome per design.

    A run two designs share (same config hash) is trained once. `slurm`: the --slurm-* options
    (partition, gpus, cpus, time, mem) over the designs' `[slurm]` keys.
    """
    store_path = Path(store_path)
    runs_dir = Path(runs_dir) if runs_dir is not None else runs_dir_for(store_path)
    note = on_note or (lambda message: None)
    # Everything that can be refused is refused before the store is created or touched.
    runner = runner_for(designs)
    resources = slurm_keys(designs, slurm)
    if isinstance(executor, str):
        check_executor(executor, address, slurm)
    if not store_path.exists():
        check_output_file(store_path, "--store")
    check_output_folder(runs_dir, "--runs-dir")
    with Store(store_path) as store:
        store.acquire_lease(" + ".join(d.name for d in designs))
        engine = None
        try:
            engine = make_executor(executor, workers, address, runner, runs_dir, resources) \
                if isinstance(executor, str) else executor
            _check_shared(engine, runs_dir, note)
            plans_of = {d.name: planning.plan_sweep(d, engine.big_run_threads) for d in designs}
            new = {d.name: store.register_sweep(
                d.name, d.kind, d.model_dump(mode="json"),
                [PlannedRun(p.hash, p.name, p.config, p.flops) for p in plans_of[d.name]])
                for d in designs}
            resumed = store.reset_interrupted()
            registered = store.runs()
            statuses = dict(zip(registered["hash"], registered["status"], strict=True))
            plans = list({p.hash: p for ps in plans_of.values() for p in ps}.values())
            todo = [p for p in plans if statuses[p.hash] in ("pending", "failed")]
            for d in designs:
                mine = plans_of[d.name]
                waiting = sum(statuses[p.hash] in ("pending", "failed") for p in mine)
                note(f"sweep {d.name!r}: {len(mine)} runs, {len(mine) - waiting} finished, "
                     f"{waiting} to run ({new[d.name]} new)")
            if resumed:
                note(f"{resumed} run(s) interrupted before resume from their checkpoints")
            loop = _Loop(store, engine, runs_dir, display)
            interrupted = loop.run(planning.queue_order(todo), plans)
            failures = loop.failures
        finally:
            if engine is not None:
                engine.shutdown()
            store.release_lease()
        outcomes = []
        for d in designs:
            counts = store.runs(d.name)["status"].value_counts().to_dict()
            names = {p.name for p in plans_of[d.name]}
            outcomes.append(SweepOutcome(
                d.name, store_path, {k: int(v) for k, v in counts.items()}, interrupted,
                {k: v for k, v in failures.items() if k in names}))
        return outcomes


def _check_shared(engine: Any, runs_dir: Path, note: Callable[[str], None]) -> None:
    """On a cluster, say clearly when some nodes cannot see the checkpoint folder."""
    unshared = getattr(engine, "unshared", None)
    if unshared is None:
        return
    missing = unshared(runs_dir)
    if missing:
        note(f"--runs-dir {runs_dir} is not shared: node(s) {', '.join(sorted(set(missing)))} "
             "cannot see it, so their runs cannot resume from a checkpoint after a stop or a "
             "lost node (they restart from step 0). Put --runs-dir on a filesystem every node "
             "mounts at the same path (see docs/sweeps.md)")


class _Loop:
    """The driver's event loop over one executor (see `run_sweep`)."""

    def __init__(self, store: Store, executor: Executor, runs_dir: Path, display: Any) -> None:
        self.store = store
        self.executor = executor
        self.runs_dir = runs_dir
        self.display = display
        self.running: dict[str, planning.RunPlan] = {}
        self.crashes: dict[str, int] = {}
        self.failures: dict[str, str] = {}
        self.last_store_progress: dict[str, float] = {}

    def run(self, queue: list[planning.RunPlan], plans: list[planning.RunPlan]) -> bool:
        """Train the queue; return True if stopped by Ctrl-C."""
        if self.display is not None:
            finished = {p.hash for p in plans} - {p.hash for p in queue}
            self.display.begin(sum(p.flops for p in plans),
                               sum(p.flops for p in plans if p.hash in finished))
        free, free_gpus = self.executor.capacity, self.executor.gpu_capacity
        last_heartbeat = time.monotonic()
        with _StopRequest() as stop:
            stopping = False
            while queue or self.running:
                if stop.requested and not stopping:
                    stopping = True
                    queue.clear()
                    self.executor.stop()
                while not stopping and (
                        plan := planning.next_fitting(queue, free, free_gpus)) is not None:
                    self._submit(plan)
                    free, free_gpus = free - plan.threads, free_gpus - plan.gpus
                if not self.running and queue:  # wants more than exists: run it alone
                    self._submit(plan := queue.pop(0))
                    free, free_gpus = free - plan.threads, free_gpus - plan.gpus
                for event in self.executor.poll(0.2):
                    done = self._handle(event, queue)
                    if done is not None:
                        free, free_gpus = free + done.threads, free_gpus + done.gpus
                if time.monotonic() - last_heartbeat > HEARTBEAT_SECONDS:
                    self.store.heartbeat()
                    last_heartbeat = time.monotonic()
            return stopping

    def _submit(self, plan: planning.RunPlan) -> None:
        self.store.mark_running(plan.hash)
        self.running[plan.hash] = plan
        out_dir, trainer = self.runs_dir / plan.hash, None
        if command.is_command(plan.config):  # {out} as a full path: the command's cwd may differ
            out_dir = out_dir.resolve()
            trainer = command.trainer_command(plan.config, out_dir)
        self.executor.submit(Task(plan.hash, plan.name, plan.config, plan.threads, str(out_dir),
                                  plan.gpus, trainer))
        if self.display is not None:
            self.display.start(plan.hash, plan.name, plan.tokens, plan.flops)

    def _handle(self, event: Any, queue: list[planning.RunPlan]) -> planning.RunPlan | None:
        """Apply one executor event; return the run whose threads and GPUs it freed, if any."""
        if isinstance(event, Started):
            return None
        if isinstance(event, Progress):
            if event.hash in self.running:
                now = time.monotonic()
                if now - self.last_store_progress.get(event.hash, 0.0) > STORE_PROGRESS_SECONDS:
                    self.last_store_progress[event.hash] = now
                    plan = self.running[event.hash]
                    self.store.record_progress(
                        event.hash, event.tokens, event.loss, event.tokens_per_second,
                        plan.flops / plan.tokens if plan.tokens else None)
                if self.display is not None:
                    self.display.progress(event.hash, event.tokens, event.loss,
                                          event.tokens_per_second, event.flops)
            return None
        plan = self.running.pop(event.hash, None)
        if plan is None:
            return None
        if isinstance(event, Finished):
            self.store.record_result(event.hash, event.record)
            status = event.record.status
            loss = _final_loss(event.record.measurements)
            if status == "failed":  # it ran and failed (a trainer command's exit code)
                self.failures[plan.name] = event.record.error or "failed"
        else:
            assert isinstance(event, Failed)
            self.crashes[event.hash] = self.crashes.get(event.hash, 0) + event.crashed
            if event.crashed and self.crashes[event.hash] < MAX_CRASHES:
                self.store.mark_pending(event.hash)
                queue.insert(0, plan)  # resume it from its checkpoint
                status, loss = "retrying", None
            else:
                self.store.mark_failed(event.hash, event.error)
                self.failures[plan.name] = event.error
                status, loss = "failed", None
        if self.display is not None:
            self.display.finish(event.hash, status, loss, plan.flops)
        return plan


def _final_loss(measurements: Any) -> float | None:
    """The loss a finished run shows: its last evaluation (`final_rows`, most tokens)."""
    if measurements is None or not len(measurements):
        return None
    ends = final_rows(measurements)
    return float(ends.loc[ends["tokens"].idxmax(), "loss"])
