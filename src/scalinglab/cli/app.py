"""The Typer app every command module registers on, and the helpers they share.

Commands are thin: they parse options, call the library, and print either Rich tables (for
people) or one JSON object (`--json`, for machines). A `ScalinglabError` (and a malformed
option, which click reports) becomes one line on stderr and exit code 2, never a traceback.

Rich markup is off on both consoles: every string printed, a run name from a CSV cell or a
file name alike, is shown as written (`[/]` stays `[/]`). Styling is asked for explicitly with
`styled(...)` (a `rich.text.Text`), never by brackets inside an f-string.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer
from rich.console import Console
from rich.style import Style
from rich.text import Text
from typer.core import TyperGroup

from scalinglab.jsonable import to_jsonable


class _OneLineErrors(TyperGroup):
    """Click's own usage errors (a malformed or missing option) as one `error:` line, exit 2."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as error:  # click's usage errors (typer vendors click)
            if type(error).__name__ == "NoArgsIsHelpError":
                error.show()  # type: ignore[attr-defined]
            else:
                context = getattr(error, "ctx", None)
                command = context.command_path if context is not None else "scalinglab"
                got = _bad_value(error)
                print_error(f"{error.format_message()}{got} (see `{command} --help`)")  # type: ignore[attr-defined]
            sys.exit(getattr(error, "exit_code", 2))
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def _bad_value(error: BaseException) -> str:
    """` (got 'lots')` when typer's parser kept the value it could not convert."""
    cause = error.__cause__
    try:
        value = cause.errors()[0]["input"]  # type: ignore[union-attr]
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""
    return f" (got {value!r})"


app = typer.Typer(
    name="scalinglab",
    help="Measure, fit, use and show neural scaling laws.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_OneLineErrors,
)
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def styled(*parts: str | tuple[str, str | Style]) -> Text:
    """Text with explicit styles, e.g. `styled(("error:", "bold red"), " ", message)`.

    Plain strings are never parsed as markup, so user and file strings print as written.
    """
    return Text.assemble(*parts)


def plain(value: Any) -> str:
    """A table cell from a value that may be missing: None and NaN become ""."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def print_error(message: str) -> None:
    """One `error: ...` line on stderr (the message is printed as written)."""
    one_line = " ".join(str(message).split())
    err_console.print(styled(("error:", "bold red"), " ", one_line), highlight=False,
                      soft_wrap=True)

JSON_OPTION = typer.Option(
    False, "--json", help="Print one JSON object to stdout instead of tables."
)


# Modules of the optional extras (pyproject.toml), by the extra that installs them.
EXTRAS = {"torch": "train", "tokenizers": "train", "sklearn": "train", "ray": "ray",
          "submitit": "slurm", "tensorboard": "import", "yaml": "import"}


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Check the options against `scalinglab.options.RULES`, then run the command; turn
    `ScalinglabError` (bad input) into one line on stderr and exit code 2."""
    from scalinglab.errors import Interrupted, ScalinglabError
    from scalinglab.options import check_options

    flags = _flags(command)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from scalinglab.progress import reporting

        try:
            check_options({flags[name]: value for name, value in kwargs.items() if name in flags})
            with progress_display(enabled=not kwargs.get("as_json")) as display, \
                    reporting(display):
                return command(*args, **kwargs)
        except ScalinglabError as error:
            print_error(str(error))
            raise typer.Exit(code=2) from None
        except ModuleNotFoundError as error:  # an optional extra that is not installed
            extra = EXTRAS.get((error.name or "").split(".")[0])
            if extra is None:
                raise
            print_error(f"this needs {error.name}, which is not installed: pip install "
                        f"'scalinglab[{extra}]'")
            raise typer.Exit(code=2) from None
        except Interrupted as stop:
            print_error(str(stop))
            raise typer.Exit(code=130) from None

    return wrapper


class _ProgressDisplay:
    """Library progress (`scalinglab.progress`) as transient Rich bars on stderr, one per task;
    a task of unknown length shows a spinner and what it is doing."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bars = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                             BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
                             console=err_console, transient=True)
        self.tasks: dict[str, Any] = {}
        self.live = False
        self.broken = False

    def __call__(self, update: Any) -> None:
        if self.broken:
            return
        if not self.live:
            from rich.errors import LiveError

            try:  # another live display (a sweep's) owns the terminal: stay quiet
                self.bars.start()
            except LiveError:
                self.broken = True
                return
            self.live = True
        name = update.task + (f": {update.detail}" if update.detail else "")
        if update.task not in self.tasks:
            self.tasks[update.task] = self.bars.add_task(name, total=update.total)
        self.bars.update(self.tasks[update.task], completed=update.done, total=update.total,
                         description=name)
        if all(task.finished for task in self.bars.tasks):  # idle: give the terminal back
            self.stop()
            for task in list(self.tasks.values()):
                self.bars.remove_task(task)
            self.tasks.clear()

    def stop(self) -> None:
        if self.live:
            self.bars.stop()
            self.live = False


@contextlib.contextmanager
def progress_display(enabled: bool = True) -> Iterator[_ProgressDisplay | None]:
    """A progress display for library steps, or None: only for a person at a terminal (stderr
    is a terminal and the command prints no JSON)."""
    if not (enabled and err_console.is_terminal):
        yield None
        return
    display = _ProgressDisplay()
    try:
        yield display
    finally:
        display.stop()


def _flags(command: Callable[..., Any]) -> dict[str, str]:
    """{parameter name: its long option name} from the command's Typer declarations."""
    flags = {}
    for name, parameter in inspect.signature(command).parameters.items():
        declared = getattr(parameter.default, "param_decls", None) or ()
        long_names = [d for d in declared if isinstance(d, str) and d.startswith("--")]
        if long_names:
            flags[name] = long_names[0].split("/")[0]
    return flags


def print_json(obj: dict[str, Any]) -> None:
    """Print exactly one JSON object to stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")


def note(message: str) -> None:
    """A remark for people (e.g. a derived column): stderr, so `--json` stdout stays clean."""
    err_console.print(styled(("note:", "dim"), " ", str(message)), highlight=False,
                      soft_wrap=True)
