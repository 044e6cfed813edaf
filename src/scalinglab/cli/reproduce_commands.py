"""`scalinglab reproduce NAME`: one of Kaplan's lecture experiments, from sweep to verdict."""

from __future__ import annotations

from pathlib import Path

import typer

from scalinglab.cli.app import JSON_OPTION, app, console, err_console, note, print_json, user_errors


@app.command()
@user_errors
def reproduce(
    name: str = typer.Argument(..., help="context, architecture, basins, critical-batch, "
                                          "overfitting, memorization or modalities."),
    out: Path = typer.Option(Path("reproductions"), "--out", "-o",
                             help="Folder for the store, NAME.json, NAME.html and index.html "
                                  "(every experiment run there)."),
    scale: float = typer.Option(1.0, "--scale",
                                help="Multiply the token budgets (sizes by its square root)."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes."),
    n_bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of every run and of the bootstrap."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run one experiment of Kaplan's lecture on the lab's own runs; end in a verdict."""
    from scalinglab.files import check_output_folder
    from scalinglab.reproductions import run_experiment
    from scalinglab.reproductions.registry import get_experiment
    from scalinglab.reproductions.summary import INDEX
    from scalinglab.sweep.progress import SweepDisplay

    experiment = get_experiment(name)
    check_output_folder(out, "--out")
    if not as_json:
        note(f"{experiment.title} ({experiment.source}); about {experiment.minutes * scale:.0f} "
             "minutes on 2 CPU cores at this scale")
    display = None if as_json else (lambda sweep: SweepDisplay(err_console, sweep))
    finding = run_experiment(name, out, scale=scale, seed=seed, workers=workers,
                             n_resamples=n_bootstrap, display_factory=display, on_note=note)
    if as_json:
        print_json(finding.to_dict())
        return
    console.print(f"{experiment.title}: {finding.verdict}", highlight=False)
    console.print(f"  ours: {finding.ours}", highlight=False)
    console.print(f"  published: {finding.published}", highlight=False)
    for line in finding.notes:
        console.print(f"  note: {line}", highlight=False)
    console.print(f"  page: {out / (name + '.html')}", highlight=False)
    console.print(f"  every experiment in {out}: {out / INDEX}", highlight=False)
