"""Progress of long library steps (bootstrap, law selection, the study, imports), for people.

The library reports through `report(task, done, total, detail)` and never prints: whoever
wants progress installs a reporter for a block (`reporting(reporter)`), which every call inside
it, however deep, reaches through a context variable, with no parameter threaded through each
function. The CLI installs a Rich display on stderr only when stderr is a terminal and the
command does not print JSON (`cli.app.progress_display`); elsewhere `report` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Update:
    """One step of a task: `done` of `total` (None: a task of unknown length), and what."""

    task: str
    done: int
    total: int | None
    detail: str = ""


Reporter = Callable[[Update], None]
_current: ContextVar[Reporter | None] = ContextVar("scalinglab_progress", default=None)


@contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Send every `report` made inside the block to `reporter` (None: to nobody)."""
    token = _current.set(reporter)
    try:
        yield
    finally:
        _current.reset(token)


def report(task: str, done: int, total: int | None = None, detail: str = "") -> None:
    """Tell the installed reporter, if any, that `task` has done `done` of `total` steps."""
    reporter = _current.get()
    if reporter is not None:
        reporter(Update(task, done, total, detail))
