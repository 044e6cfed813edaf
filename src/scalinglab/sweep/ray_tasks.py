"""The Ray side of `RayExecutor`: the remote task, a stop flag and a message queue.

Kept apart so that `import ray` happens only when the Ray executor is chosen. Progress and
`Started` messages travel through a Ray queue actor; `should_stop` asks a stop-flag actor at most
once a second, so a Ctrl-C on the driver reaches runs on every node and they checkpoint.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from scalinglab.sweep.store import RunRecord
from scalinglab.sweep.tasks import Event, Runner, Started, Task, throttled_progress

STOP_POLL_SECONDS = 1.0


class StopFlag:
    """A Ray actor holding one boolean: has the driver asked runs to stop?"""

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        self.stopped = True

    def is_set(self) -> bool:
        return self.stopped


def run_task(task: Task, runner: Runner, stop_flag: Any, messages: Any) -> RunRecord:
    """Body of the Ray task: train `task`, sending progress to the driver's queue."""
    import ray

    messages.put_nowait(Started(task.hash, socket.gethostname()))
    last_check, stopped = [0.0], [False]

    def should_stop() -> bool:
        now = time.monotonic()
        if not stopped[0] and now - last_check[0] >= STOP_POLL_SECONDS:
            last_check[0] = now
            stopped[0] = bool(ray.get(stop_flag.is_set.remote()))
        return stopped[0]

    return runner(task, throttled_progress(messages.put_nowait, task.hash), should_stop)


class Tasks:
    """Submits runs as Ray tasks and collects their messages."""

    def __init__(self, ray: Any, runner: Runner) -> None:
        from ray.util.queue import Queue

        self._ray = ray
        self._runner = runner
        self._stop_flag = ray.remote(num_cpus=0)(StopFlag).remote()
        self._messages = Queue(actor_options={"num_cpus": 0})
        self._remote: Callable[..., Any] = ray.remote(run_task)

    def submit(self, task: Task) -> Any:
        return self._remote.options(num_cpus=task.threads, num_gpus=task.gpus).remote(
            task, self._runner, self._stop_flag, self._messages)

    def drain_messages(self) -> list[Event]:
        size = self._messages.qsize()
        return list(self._messages.get_nowait_batch(size)) if size else []

    def stop(self) -> None:
        self._ray.get(self._stop_flag.set.remote())
