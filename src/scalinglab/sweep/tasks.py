"""What crosses between the sweep driver, its executors and their workers.

A `Task` goes out; `Event`s (`Started`, `Progress`, `Finished`, `Failed`) come back. Kept in a
module of their own so that the local executor and the Ray side (`ray_tasks`) share them without
importing each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scalinglab.sweep.store import RunRecord

PROGRESS_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True)
class TrainerCommand:
    """A researcher's own trainer for one run (`command`): the command's arguments as
    templates, the text of every placeholder but `{resume}` (the runner knows it at launch),
    the environment it adds and the folder it runs in."""

    argv: tuple[str, ...]
    values: dict[str, str] = field(hash=False)
    env: dict[str, str] = field(hash=False)
    cwd: str

    def render(self, resume: bool) -> list[str]:
        """The arguments to launch, `{resume}` = "1" for a run relaunched, else "0"."""
        values = {**self.values, "resume": "1" if resume else "0"}
        return [argument.format_map(values) for argument in self.argv]


@dataclass(frozen=True)
class Task:
    """One run for an executor: its config (`RunConfig` fields, or a trainer command's), its
    threads and checkpoint folder, and for a trainer command what the runner launches."""

    hash: str
    name: str
    config: dict[str, Any]
    threads: int
    out_dir: str
    gpus: float = 0.0
    command: TrainerCommand | None = None


@dataclass(frozen=True)
class Started:
    hash: str
    host: str


@dataclass(frozen=True)
class Progress:
    hash: str
    tokens: float
    loss: float | None
    tokens_per_second: float | None
    flops: float | None


@dataclass(frozen=True)
class Finished:
    hash: str
    record: RunRecord


@dataclass(frozen=True)
class Failed:
    hash: str
    error: str
    crashed: bool = False  # the worker process died (killed, out of memory), not the run


Event = Started | Progress | Finished | Failed
Runner = Callable[[Task, Callable[[dict[str, Any]], None], Callable[[], bool]], RunRecord]


def throttled_progress(
    send: Callable[[Progress], None], run_hash: str
) -> Callable[[dict[str, Any]], None]:
    """A `progress` callback that forwards at most one update per interval."""
    last = [0.0]

    def progress(update: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_INTERVAL_SECONDS:
            return
        last[0] = now
        send(Progress(run_hash, float(update.get("tokens", 0.0)), update.get("loss"),
                      update.get("tokens_per_second"), update.get("flops")))

    return progress
