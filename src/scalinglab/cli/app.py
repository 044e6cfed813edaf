"""The Typer app every command module registers on, and the helpers they share.

Commands are thin: they parse options, call the library, and print either Rich tables (for
people) or one JSON object (`--json`, for machines). A `ScalinglabError` becomes one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from scalinglab.jsonable import to_jsonable

app = typer.Typer(
    name="scalinglab",
    help="Measure, fit, use and show neural scaling laws.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(
    False, "--json", help="Print one JSON object to stdout instead of tables."
)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn `ScalinglabError` (bad input) into one line on stderr and exit code 2."""
    from scalinglab.errors import ScalinglabError

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ScalinglabError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def print_json(obj: dict[str, Any]) -> None:
    """Print exactly one JSON object to stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")


def note(message: str) -> None:
    """A remark for people (e.g. a derived column): stderr, so `--json` stdout stays clean."""
    err_console.print(f"[dim]note:[/] {message}", highlight=False, soft_wrap=True)
