"""`scalinglab report`: the HTML report for a sweep in the store or for any measurements table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from scalinglab.cli.app import JSON_OPTION, app, console, note, print_json, styled, user_errors


@app.command()
@user_errors
def report(
    sweep: str | None = typer.Option(None, "--sweep", help="A sweep in the results store."),
    store: Path = typer.Option(
        Path("scalinglab.db"), "--store", help="The results store (SQLite) holding --sweep."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="A measurements table (CSV or Parquet) instead of a sweep."
    ),
    column_map: list[str] | None = typer.Option(
        None, "--map", help="Rename a column of --data: --map 'Model Size=params' (repeatable)."
    ),
    positions: Path | None = typer.Option(
        None, "--positions",
        help="Loss by context position for --data (CSV: run, position, loss).",
    ),
    drop_highest_loss: int = typer.Option(
        0, "--drop-highest-loss",
        help="Drop the K rows with the highest loss first (Epoch's Chinchilla refit drops 5).",
    ),
    out: Path = typer.Option(Path("report.html"), "-o", "--out", help="The HTML file to write."),
    n_bootstrap: int = typer.Option(
        200, "--bootstrap", help="Bootstrap resamples of the runs for every interval (0: none)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    title: str | None = typer.Option(None, "--title", help="Title of the page."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write one self-contained HTML report (figures, fits with intervals) plus PNG/SVG/JSON."""
    from scalinglab.analyses.sources import load_data, load_sweeps
    from scalinglab.errors import ScalinglabError
    from scalinglab.files import check_output_file
    from scalinglab.measurements import check_side_table, parse_column_map
    from scalinglab.report import build_report

    if (sweep is None) == (data is None):
        raise ScalinglabError("give exactly one of --sweep NAME or --data FILE")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ScalinglabError(f"-o {out}: the report is an HTML file; name it *.html")
    check_output_file(out, "-o")
    if n_bootstrap < 0:
        raise ScalinglabError(f"--bootstrap must be 0 or more resamples, got {n_bootstrap}")
    if data is not None:
        if positions is not None:
            check_side_table(positions, "--positions", ("run", "position", "loss"),
                             numeric=("position", "loss"))
        tables = load_data(data, positions, column_map=parse_column_map(column_map or []))
        for message in tables.notes:
            note(message)
    else:
        if column_map or positions is not None:
            raise ScalinglabError("--map and --positions go with --data, not --sweep")
        tables = load_sweeps(store, [sweep])
    table, source = tables.measurements, tables.source

    if drop_highest_loss < 0 or drop_highest_loss >= len(table):
        raise ScalinglabError(
            f"--drop-highest-loss must be between 0 and {len(table) - 1}, got {drop_highest_loss}")
    if drop_highest_loss:
        table = table.drop(table["loss"].nlargest(drop_highest_loss).index).reset_index(drop=True)
        note(f"dropped the {drop_highest_loss} rows with the highest loss")
    summary = build_report(
        table, out, position_losses=tables.positions, accuracies=tables.accuracies,
        title=title or f"Scaling-law report: {source}",
        source=source, n_resamples=n_bootstrap, seed=seed,
    )
    if as_json:
        print_json(summary.to_dict())
        return
    shown = Table(title=f"{out} ({len(summary.figures)} figures)", show_lines=False)
    for column in ("Fit", "Parameters [95% interval]", "Converged"):
        shown.add_column(column)
    for fit in summary.fits:
        intervals = fit.get("intervals", {})
        params = ", ".join(
            f"{name} = {value:.4g}"
            + (f" [{intervals[name][0]:.3g}, {intervals[name][1]:.3g}]" if name in intervals
               else "")
            for name, value in fit["params"].items()
        )
        shown.add_row(fit["label"], params, "yes" if fit["converged"] else styled(("NO", "red")))
    console.print(shown)
    for name, reason in summary.skipped.items():
        note(f"figure {name} not shown: {reason}")
    console.print(f"wrote {out} and {summary.files_dir}/")
