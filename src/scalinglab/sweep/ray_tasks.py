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


def sees_file(path: str) -> tuple[str, bool]:
    """Body of a probe task: this node's host name, and whether it sees `path`."""
    import os

    return socket.gethostname(), os.path.exists(path)


class Tasks:
    """Submits runs as Ray tasks and collects their messages.

    The stop flag and the message queue live on the driver's node, so losing a worker node
    loses only the runs it was training (the driver reruns them from their checkpoints).
    """

    def __init__(self, ray: Any, runner: Runner) -> None:
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._ray = ray
        self._runner = runner
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self._stop_flag = ray.remote(num_cpus=0)(StopFlag).options(
            scheduling_strategy=here).remote()
        self._messages = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
        self._remote: Callable[..., Any] = ray.remote(run_task)

    def nodes_missing(self, path: str, timeout: float = 60.0) -> list[str]:
        """Host names (or node ids) of alive nodes that cannot see `path`."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        probe = self._ray.remote(num_cpus=0)(sees_file)
        refs = {node["NodeID"]: probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            node["NodeID"], soft=False)).remote(path)
            for node in self._ray.nodes() if node.get("Alive")}
        missing = []
        for node_id, ref in refs.items():
            try:
                host, seen = self._ray.get(ref, timeout=timeout)
            except Exception:  # a node that cannot answer cannot be trusted with checkpoints
                host, seen = node_id[:12], False
            if not seen:
                missing.append(host)
        return missing

    def submit(self, task: Task) -> Any:
        return self._remote.options(num_cpus=task.threads, num_gpus=task.gpus).remote(
            task, self._runner, self._stop_flag, self._messages)

    def drain_messages(self) -> list[Event]:
        size = self._messages.qsize()
        return list(self._messages.get_nowait_batch(size)) if size else []

    def stop(self) -> None:
        self._ray.get(self._stop_flag.set.remote())
