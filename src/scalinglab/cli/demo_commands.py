"""`scalinglab demo`: the whole loop (sweep, fits, a real backtest, the report) in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.style import Style
from rich.table import Table

from scalinglab.cli.app import (
    JSON_OPTION,
    app,
    console,
    err_console,
    note,
    print_json,
    styled,
    user_errors,
)


def _interval(values: Any) -> str:
    return f"[{values[0]:.3g}, {values[1]:.3g}]" if values else ""


def _exponent(value: float, interval: Any) -> str:
    """`0.512 [0.48, 0.55]`, or "not identified" past the identifiability range."""
    from scalinglab.laws.identifiability import interval_reason

    if interval and interval_reason(*interval):
        return f"not identified ({interval_reason(*interval)})"
    return f"{value:.3f} {_interval(interval)}"


def _print_summary(result: Any) -> None:
    data = result.to_dict()
    console.rule(styled((f"scalinglab demo ({data['mode']}) — {data['seconds']:.0f} s", "bold")))
    runs = ", ".join(f"{n} {family}" for family, n in data["runs"].items())
    link = Style(link=f"file://{Path(data['report']).resolve()}")
    console.print(styled(f"Runs: {runs}. Report: ", (str(data["report"]), link)))

    fits = Table(title="Fitted laws (95% intervals; parameters the data cannot pin down read "
                       "\"not identified\")", title_justify="left")
    for column in ("law", "parameters"):
        fits.add_column(column)
    for label, text in data["param_text"].items():
        fits.add_row(label, text)
    console.print(fits)

    rules = Table(title="Compute-optimal allocation", title_justify="left")
    for column in ("approach", "N_opt ∝ C^a", "D_opt ∝ C^b"):
        rules.add_column(column)
    for name, allocation in data["allocations"].items():
        spans = allocation.get("intervals", {})
        rules.add_row(*[name] + [
            _exponent(allocation[key], spans.get(key))
            for key in ("n_opt_exponent", "d_opt_exponent")
        ])
    console.print(rules)

    for key, verdict in data["verdicts"].items():
        console.print(styled((key, "bold"), f": {verdict}"))
    if data["transformer_vs_lstm"] is not None:
        console.print(styled(("Transformer vs LSTM", "bold"),
                             f": {data['transformer_vs_lstm']['summary']}"))
    bt = data["backtest"]
    verdict = "inside" if bt["inside_interval"] else "OUTSIDE"
    console.print(styled(
        ("Backtest", "bold"),
        f": fitted below {bt['fit_max_flops']:.3g} FLOPs, trained "
        f"N={bt['params_nonembedding']:.3g} on D={bt['tokens']:.3g} tokens "
        f"({bt['compute_multiple']:.1f}x the compute): predicted {bt['predicted']:.4f} "
        f"{_interval(bt['interval'])}, measured {bt['measured']:.4f}, "
        f"error {100 * bt['are']:.2f}% ({verdict} the interval)",
    ))
    console.print(f"  {result.backtest.verdict(data['mode'])}", highlight=False)
    fit = bt["fit"]
    noise = (fit.get("bootstrap") or {}).get("noise") or {}
    console.print(f"  law: {fit.get('selection', fit.get('law', ''))}; the interval is for a "
                  f"measured run: {noise.get('text', 'no noise model')}", highlight=False)


@app.command()
@user_errors
def demo(
    quick: bool = typer.Option(False, "--quick", help="A ~3-minute version (used by the tests)."),
    full: bool = typer.Option(False, "--full", help="Bigger sweep, 10x backtest (about an hour)."),
    out: Path = typer.Option(Path("demo"), "--out", "-o", help="Folder for the store and report."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes."),
    seed: int = typer.Option(0, "--seed", help="Seed of every run, the backtest and bootstrap."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Measure, fit, predict and show scaling laws on the embedded stdlib corpus, end to end."""
    from scalinglab.demo import run_demo
    from scalinglab.files import check_output_folder
    from scalinglab.sweep.progress import SweepDisplay

    if quick and full:
        raise typer.BadParameter("choose at most one of --quick and --full")
    check_output_folder(out, "--out")
    mode = "quick" if quick else "full" if full else "standard"
    display = None if as_json else (lambda name: SweepDisplay(err_console, name))
    result = run_demo(out, mode=mode, workers=workers, display_factory=display, on_note=note,
                      seed=seed)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_summary(result)
