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
    final: str = typer.Option(
        "last", "--final",
        help="Which rows of --data are finished models: last (marked rows, else each run's "
        "last evaluation), all (every evaluation, with a warning), or a boolean COLUMN.",
    ),
    drop_highest_loss: int = typer.Option(
        0, "--drop-highest-loss",
        help="Drop the K rows with the highest loss first (Epoch's Chinchilla refit drops 5).",
    ),
    out: Path = typer.Option(Path("report.html"), "-o", "--out", help="The HTML file to write."),
    n_bootstrap: int = typer.Option(
        200, "--bootstrap",
        help="Bootstrap resamples for every interval (0: none; docs/uncertainty.md).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    title: str | None = typer.Option(None, "--title", help="Title of the page."),
    convention: str | None = typer.Option(
        None, "--convention",
        help="How N and C are counted: exact, exact-nonembedding, kaplan, 6nd or recorded "
        "(default: exact-nonembedding for the lab's runs, recorded for other tables).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write one self-contained HTML report (figures, fits with intervals) plus PNG/SVG/JSON."""
    from scalinglab import measurements
    from scalinglab.analyses.sources import load_data, load_sweeps
    from scalinglab.analyses.study import study
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
        tables = load_data(data, positions, column_map=parse_column_map(column_map or []),
                           final=final)
        for message in tables.notes:
            note(message)
    else:
        if column_map or positions is not None or final != "last":
            raise ScalinglabError("--map, --positions and --final go with --data, not --sweep "
                                  "(a sweep's runs mark their own finished rows)")
        tables = load_sweeps(store, [sweep])
    table, source = tables.measurements, tables.source

    table = measurements.drop_highest_loss(
        table, drop_highest_loss, source=f"{source} (--drop-highest-loss)")
    if drop_highest_loss:
        note(f"dropped the {drop_highest_loss} rows with the highest loss")
    result = study(table, n_resamples=n_bootstrap, seed=seed, position_losses=tables.positions,
                   accuracies=tables.accuracies, convention_name=convention)
    summary = build_report(result, out, title=title or f"Scaling-law report: {source}",
                           source=source)
    if as_json:
        print_json(summary.to_dict())
        return
    shown = Table(title=f"{out} ({len(summary.figures)} figures)", show_lines=False)
    for column in ("Fit", "Parameters [95% interval]", "Converged"):
        shown.add_column(column)
    for fitted in result.laws.values():
        shown.add_row(fitted.label, fitted.param_text(),
                      "yes" if fitted.converged else styled(("NO", "red")))
    console.print(shown)
    for key, verdict in result.verdicts.items():
        console.print(styled((key, "bold"), ": ", verdict))
    for name, reason in summary.skipped.items():
        note(f"figure {name} not shown: {reason}")
    console.print(f"wrote {out} and {summary.files_dir}/")
