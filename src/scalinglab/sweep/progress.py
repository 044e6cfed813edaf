"""Rich progress for a sweep: one line per active run and a sweep bar with an ETA.

The sweep bar counts FLOPs (done over planned), so its ETA weighs a 1e6-parameter run 100 times
a 1e4 one, as the wall clock does. Finished runs are printed above the bars as a log.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class SweepDisplay:
    """Live view of a sweep; the driver calls begin/start/progress/finish."""

    def __init__(self, console: Console, name: str) -> None:
        self.console = console
        self.name = name
        self.bars = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(bar_width=24),
            TextColumn("{task.fields[info]}", markup=False), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(),
            console=console, transient=False, refresh_per_second=4)
        self.sweep_task: TaskID | None = None
        # hash -> (bar, name, tokens planned, FLOPs planned)
        self.runs: dict[str, tuple[TaskID, str, float, float]] = {}
        self.flops_finished = 0.0
        self.flops_running: dict[str, float] = {}
        self.flops_planned = 0.0

    def __enter__(self) -> SweepDisplay:
        return self  # the bars start at `begin`, so a sweep refused before it prints nothing

    def __exit__(self, *exc: object) -> None:
        if self.bars.live.is_started:
            self.bars.stop()

    def begin(self, flops_planned: float, flops_done: float) -> None:
        self.bars.start()
        self.flops_planned, self.flops_finished = flops_planned, flops_done
        self.sweep_task = self.bars.add_task(
            self.name, total=max(flops_planned, 1.0), completed=flops_done,
            info=self._sweep_info())

    def _sweep_info(self) -> str:
        done = self.flops_finished + sum(self.flops_running.values())
        return f"{done:.2e}/{self.flops_planned:.2e} FLOPs"

    def _update_sweep(self) -> None:
        if self.sweep_task is not None:
            done = self.flops_finished + sum(self.flops_running.values())
            self.bars.update(self.sweep_task, completed=done, info=self._sweep_info())

    def start(self, run_hash: str, name: str, tokens: float, flops: float) -> None:
        task = self.bars.add_task(f"  {name}", total=max(tokens, 1.0), info="starting")
        self.runs[run_hash] = (task, name, tokens, flops)
        self.flops_running[run_hash] = 0.0

    def progress(self, run_hash: str, tokens: float, loss: float | None,
                 tokens_per_second: float | None, flops: float | None) -> None:
        if run_hash not in self.runs:
            return
        task, _, total_tokens, total_flops = self.runs[run_hash]
        loss_text = f"loss {loss:.3f}" if loss is not None and loss == loss else "loss -"
        speed = f"{tokens_per_second:,.0f} tok/s" if tokens_per_second else ""
        self.bars.update(task, completed=tokens,
                         info=f"{tokens:,.0f} tok  {loss_text}  {speed}")
        self.flops_running[run_hash] = min(total_flops, tokens / max(total_tokens, 1) * total_flops)
        self._update_sweep()

    def finish(self, run_hash: str, status: str, loss: float | None, flops: float) -> None:
        if run_hash not in self.runs:
            return
        task, name, _, _ = self.runs.pop(run_hash)
        self.bars.remove_task(task)
        self.flops_running.pop(run_hash, None)
        if status in ("done", "diverged"):
            self.flops_finished += flops
        colour = {"done": "green", "diverged": "yellow"}.get(status, "red")
        loss_text = f" loss {loss:.4f}" if loss is not None else ""
        self.console.print(Text.assemble((status, colour), f" {name}{loss_text}"), highlight=False)
        self._update_sweep()

