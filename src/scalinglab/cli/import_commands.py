"""`scalinglab import`: other people's training logs into the measurements table, a thin
command over `scalinglab.importers`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from scalinglab.cli.app import (
    JSON_OPTION,
    app,
    console,
    note,
    print_json,
    styled,
    user_errors,
)

if TYPE_CHECKING:
    from scalinglab.importers import ImportResult

SHOWN_RUNS = 20  # rows of the people's table; --json has every run


@app.command("import")
@user_errors
def import_runs(
    fmt: str = typer.Argument(
        ..., metavar="FORMAT", show_default=False,
        help="tensorboard, wandb-csv, mlflow, hf-trainer-state, nanogpt-log, jsonl or csv."),
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH...", show_default=False,
        help="Files or folders (one per run), or one folder of runs."),
    out: Path = typer.Option(..., "-o", "--out", show_default=False,
                             help="The measurements table to write (.csv or .parquet)."),
    metric: str | None = typer.Option(
        None, "--metric",
        help="The loss to take (default: the validation loss where logged, else training)."),
    tokens_per_step: float | None = typer.Option(
        None, "--tokens-per-step", help="Tokens per step: tokens = step x K."),
    tokens_column: str | None = typer.Option(
        None, "--tokens-column", help="A logged column or tag holding the tokens seen."),
    params: float | None = typer.Option(None, "--params",
                                        help="Parameter count of every run."),
    params_from_config: Path | None = typer.Option(
        None, "--params-from-config",
        help="A config.json (GPT-2 or Llama-style) whose exact count every run has."),
    params_from_name: str | None = typer.Option(
        None, "--params-from-name",
        help="Regex whose first group in the run's name is its count, e.g. 'N([0-9.e+]+)'."),
    family: str | None = typer.Option(
        None, "--family", help="Family of every run (default: the folder or the format)."),
    column_map: list[str] | None = typer.Option(
        None, "--map", help="csv and jsonl: rename a column, --map 'val_ppl_loss=loss'."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import training logs (TensorBoard, W&B, MLflow, HF Trainer, nanoGPT, CSV, JSONL)."""
    from scalinglab.files import TABLE_SUFFIXES, check_output_file, write_table
    from scalinglab.importers import ImportOptions
    from scalinglab.importers import import_runs as read_runs
    from scalinglab.measurements import parse_column_map

    check_output_file(out, "-o", suffixes=TABLE_SUFFIXES)
    options = ImportOptions(
        metric=metric, tokens_per_step=tokens_per_step, tokens_column=tokens_column,
        params=params, params_from_config=params_from_config,
        params_from_name=params_from_name, family=family,
        column_map=parse_column_map(column_map or []))
    result = read_runs(fmt, paths, options, output=out)  # progress: `scalinglab.progress`
    write_table(result.table, out)
    for message in result.notes:
        note(message)
    if as_json:
        print_json({"format": fmt, "output": str(out), **result.to_dict()})
    else:
        _print_runs(result, out)


def _print_runs(result: ImportResult, out: Path) -> None:
    table = Table(title=styled((f"{len(result.runs)} runs imported", "bold")),
                  title_justify="left")
    for column in ("run", "metric", "evaluations", "params", "final tokens", "final loss"):
        table.add_column(column, justify="left" if column in ("run", "metric") else "right",
                         overflow="fold")
    for run in result.runs[:SHOWN_RUNS]:
        table.add_row(run.run, run.metric, str(run.evaluations), f"{run.params:.4g}",
                      f"{run.final_tokens:.4g}", f"{run.final_loss:.4f}")
    console.print(table)
    if len(result.runs) > SHOWN_RUNS:
        console.print(f"... and {len(result.runs) - SHOWN_RUNS} more (--json lists every run)",
                      highlight=False)
    console.print(f"wrote {len(result.table)} rows of {len(result.runs)} runs to {out}",
                  highlight=False)
