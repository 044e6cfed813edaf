"""What the CLI prints: user and file strings as written (never Rich markup), errors in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from scalinglab.cli import app

runner = CliRunner()


def _table(path: Path, runs: list[str] | None = None) -> Path:
    rng = np.random.default_rng(0)
    n, d = np.meshgrid(np.geomspace(1e7, 1e10, 4), np.geomspace(1e8, 1e12, 4), indexing="ij")
    n, d = n.ravel(), d.ravel()
    loss = (1.8 + 480.0 / n**0.35 + 2100.0 / d**0.37) * np.exp(rng.normal(0, 0.005, n.size))
    frame = pd.DataFrame({"params": n, "tokens": d, "flops": 6 * n * d, "loss": loss})
    if runs is not None:
        frame.insert(0, "run", [runs[i % len(runs)] + str(i) for i in range(len(frame))])
    frame.to_csv(path, index=False)
    return path


def _one_error_line(result, fragment: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def test_a_markup_cell_is_reported_as_not_a_number(tmp_path: Path) -> None:
    path = _table(tmp_path / "runs.csv")
    frame = pd.read_csv(path).astype(object)
    frame.loc[2, "loss"] = "[/]"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["fit", str(path), "--law", "chinchilla"])
    _one_error_line(result, "row 3, column 'loss': '[/]' is not a number")


def test_markup_run_and_file_names_print_as_written(tmp_path: Path) -> None:
    path = _table(tmp_path / "[red]x.csv", runs=["[/]", "[bold red]BOLD"])
    result = runner.invoke(app, ["backtest", str(path), "--law", "chinchilla", "--train-max",
                                 "1e19", "--bootstrap", "0"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "[/]" in result.stdout and "[bold red]BOLD" in result.stdout
    fitted = runner.invoke(app, ["fit", str(path), "--law", "chinchilla"])
    assert fitted.exit_code == 0 and "[red]x.csv" in fitted.stdout


def test_a_markup_group_name_in_an_error_prints_as_written(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fit", str(tmp_path / "[red]missing.csv")])
    _one_error_line(result, "[red]missing.csv: no such file")


def test_click_usage_errors_are_one_line_and_exit_2() -> None:
    _one_error_line(runner.invoke(app, ["plan", "--compute", "lots"]), "(got 'lots')")
    _one_error_line(runner.invoke(app, ["fermi", "--d-model", "4"]), "--n-layer")
    _one_error_line(runner.invoke(app, ["fit"]), "Missing argument 'data'")
    _one_error_line(runner.invoke(app, ["fit", "x.csv", "--no-such-option"]), "--no-such-option")
    _one_error_line(runner.invoke(app, ["nope"]), "nope")


def test_every_command_has_json() -> None:
    """The README promises `--json` on every command."""
    import typer.main

    from scalinglab.cli import app

    def commands(group, prefix=""):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, f"{prefix}{name} ")
            else:
                yield prefix + name, command

    lacking = [name for name, command in commands(typer.main.get_command(app))
               if "--json" not in {o for p in command.params for o in getattr(p, "opts", [])}]
    assert lacking == []
