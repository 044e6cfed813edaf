"""`scalinglab predict`: a fitted law's loss at (N, D), with intervals and its reach."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from scalinglab.cli.app import JSON_OPTION, app, console, note, print_json, styled, user_errors
from scalinglab.cli.plan_commands import (
    ACCURACY_OPTION,
    ALLOW_OPTION,
    FIT_OPTION,
    PUBLISHED_LAW_OPTION,
    TASK_OPTION,
)

if TYPE_CHECKING:
    import pandas as pd



@app.command()
@user_errors
def predict(
    fit_path: Path | None = FIT_OPTION,
    law_name: str | None = PUBLISHED_LAW_OPTION,
    params: float | None = typer.Option(
        None, "--params", help="Model size N (in the fit's convention; with --tokens)."
    ),
    tokens: float | None = typer.Option(None, "--tokens", help="Training tokens D."),
    compute: float | None = typer.Option(
        None, "--compute", help="A budget in FLOPs: predict at its compute-optimal (N, D)."
    ),
    points: Path | None = typer.Option(
        None, "--points", help="A CSV of many points (columns params, tokens)."
    ),
    accuracy_path: Path | None = ACCURACY_OPTION,
    task: str | None = TASK_OPTION,
    allow_extrapolation: bool = ALLOW_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Predicted loss with a 95% interval for the law's mean and one for a new run.

    With --accuracy, also the task's accuracy acc(L(N, D)), its interval from both stages.
    """
    from scalinglab import decide, laws
    from scalinglab.api import predict as predict_points
    from scalinglab.errors import ScalinglabError
    from scalinglab.extrapolation import check_buys_a_model

    given = [name for name, value in (("--params/--tokens", params if params is not None
                                       else tokens), ("--compute", compute),
                                      ("--points", points)) if value is not None]
    if len(given) != 1:
        raise ScalinglabError("give exactly one of --params with --tokens, --compute, or "
                              f"--points (got {', '.join(given) or 'none'})")
    if (params is None) != (tokens is None):
        raise ScalinglabError("--params and --tokens go together")
    if (law_name is None) == (fit_path is None):
        raise ScalinglabError("give exactly one of --law NAME or --fit FIT.json")
    forms: dict[str, Any] = {}
    if fit_path is not None:
        saved = laws.read_fit(fit_path)
        law, boot, fitted, forms = saved.law, saved.boot, saved.fitted_range, saved.forms
    else:
        law, _ = decide.load_law(law_name, None)
        boot = fitted = None
    accuracy = None
    if accuracy_path is not None:
        from scalinglab.laws.downstream import load_accuracy_law

        accuracy = load_accuracy_law(accuracy_path, task)
    elif task is not None:
        raise ScalinglabError("--task goes with --accuracy ACCURACY.json")
    if compute is not None:
        optimum = decide.compute_optimal(law, compute)
        check_buys_a_model(optimum["n_params"], optimum["tokens"], compute)
        n, d = [optimum["n_params"]], [optimum["tokens"]]
    elif points is not None:
        n, d = _read_points(points)
    else:
        n, d = [params], [tokens]
    table = predict_points(law, n, d, boot, allow_extrapolation, accuracy, forms)
    result = _result(law, law_name, boot, fitted, table)
    if forms:
        from scalinglab.predictions import forms_sentence

        result["forms"] = sorted(forms)
        result["notes"].remove("intervals are conditional on the law's form")
        result["notes"].append(
            f"forms the data cannot tell from {law.name}: {', '.join(sorted(forms))}; the "
            "interval over forms (forms_lo/hi, forms_run_lo/hi) covers each of them")
        result["notes"] += [text for text in (forms_sentence(row) for _, row in
                                              table.iterrows()) if text]
    if accuracy is not None:
        result["task"] = accuracy.task
        result["accuracy_law"] = {k: v for k, v in accuracy.to_dict().items()
                                  if k != "bootstrap_params"}
        low, high = accuracy.loss_range_
        outside = table[(table["loss"] < low) | (table["loss"] > high)]
        if len(outside):
            result["notes"].append(
                f"the predicted loss lies outside the losses the {accuracy.task} accuracy law "
                f"was fitted on ({low:.4g} to {high:.4g}): its accuracy is extrapolated too")
    if as_json:
        print_json(result)
    else:
        _print(result, table)
    for message in result["notes"]:  # stderr, so --json stdout stays one object
        note(message)
    for sentence in sorted(set(table["extrapolation"]) - {""}):
        note(sentence)


def _read_points(path: Path) -> tuple[list[float], list[float]]:
    from scalinglab.measurements import check_side_table

    table = check_side_table(path, "--points", ("params", "tokens"),
                             numeric=("params", "tokens"))
    n, d = table["params"].astype(float), table["tokens"].astype(float)
    from scalinglab.errors import ScalinglabError

    bad = (n <= 0) | (d <= 0)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise ScalinglabError(f"--points {path}: row {row + 1}: params and tokens must be "
                              "positive")
    return n.tolist(), d.tolist()


def _result(law: Any, law_name: str | None, boot: Any, fitted: Any,
            table: pd.DataFrame) -> dict[str, Any]:
    from scalinglab.predictions import LEVEL

    notes = []
    if boot is None:
        notes.append("no bootstrap in the fit: no intervals (fit with --bootstrap K)")
    elif boot.noise is None:
        notes.append("no noise model in the fit: no interval for a new run")
    if fitted is None:
        notes.append("the fit records no fitted range: how far this extrapolates is unknown")
    notes.append("intervals are conditional on the law's form")
    return {
        "law": law_name or law.name,
        "params_column": law.inputs[0],
        "convention": (law.accounting or {}).get("convention", "6nd (C = 6 N D)"),
        "level": LEVEL,
        "noise": None if boot is None or boot.noise is None else boot.noise.describe(),
        "fitted_range": None if fitted is None else fitted.to_dict(),
        "points": table.to_dict("records"),
        "notes": notes,
    }


def _print(result: dict[str, Any], table: pd.DataFrame) -> None:
    title = f"Predicted loss ({result['law']}, N = {result['params_column']})"
    shown = Table(title=styled((title, "bold")), title_justify="left")
    for column in ("N", "D", "C", "loss", "95% mean", "95% new run", "reach"):
        shown.add_column(column, justify="right")
    for row in table.itertuples():
        shown.add_row(f"{row.params:.4g}", f"{row.tokens:.4g}", f"{row.flops:.4g}",
                      f"{row.loss:.4f}", _span(row.mean_lo, row.mean_hi),
                      _span(row.run_lo, row.run_hi),
                      "" if row.compute_factor != row.compute_factor
                      else f"{row.compute_factor:.3g}x C max")
    console.print(shown)
    if "forms_lo" in table.columns:
        _print_forms(result, table)
    if "accuracy" in table.columns:
        form = result["accuracy_law"]["form"]
        title = f"Predicted {result['task']} accuracy, acc(L(N, D)) ({form})"
        accuracy = Table(title=styled((title, "bold")), title_justify="left")
        for column in ("N", "D", "loss", "accuracy", "95% (both stages)"):
            accuracy.add_column(column, justify="right")
        for row in table.itertuples():
            accuracy.add_row(f"{row.params:.4g}", f"{row.tokens:.4g}", f"{row.loss:.4f}",
                             f"{row.accuracy:.4f}", _span(row.accuracy_lo, row.accuracy_hi))
        console.print(accuracy)
    if result["noise"]:
        console.print(f"new-run interval: {result['noise']}", highlight=False)


def _print_forms(result: dict[str, Any], table: pd.DataFrame) -> None:
    """Each tied form's loss and the interval over forms."""
    names = [result["law"], *result["forms"]]
    shown = Table(title=styled(("The forms the data cannot tell apart", "bold")),
                  title_justify="left")
    for column in ("N", "D", *names, "95% over forms", "95% new run over forms"):
        shown.add_column(column, justify="right")
    for _, row in table.iterrows():
        values = [row["loss"], *(row[f"loss[{name}]"] for name in result["forms"])]
        shown.add_row(f"{row['params']:.4g}", f"{row['tokens']:.4g}",
                      *(f"{v:.4f}" for v in values), _span(row["forms_lo"], row["forms_hi"]),
                      _span(row["forms_run_lo"], row["forms_run_hi"]))
    console.print(shown)


def _span(lo: float, hi: float) -> str:
    return "" if lo != lo else f"{lo:.4f} - {hi:.4f}"
