"""`scalinglab fit` and `scalinglab backtest`: thin commands over `scalinglab.laws`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from scalinglab.cli.app import JSON_OPTION, app, console, note, print_json, styled, user_errors

if TYPE_CHECKING:
    import pandas as pd

    from scalinglab.laws import Law

DATA_ARGUMENT = typer.Argument(..., help="Measurements table (CSV or Parquet).", show_default=False)
LAW_OPTION = typer.Option(
    "chinchilla", "--law",
    help="power, saturating, kaplan-nd, chinchilla, chinchilla-tied, broken-power, or auto "
    "(the L(N, D) form that best predicts the largest size from the smaller ones).",
)
CONVENTION_OPTION = typer.Option(
    None, "--convention",
    help="How N and C are counted: exact, exact-nonembedding, kaplan, 6nd or recorded "
    "(default: exact-nonembedding for the lab's runs, recorded for other tables).",
)
METHOD_OPTION = typer.Option(
    "auto", "--method",
    help="Bootstrap resampling: auto, parametric, seeds or cases (docs/uncertainty.md).",
)
MAP_OPTION = typer.Option(
    None, "--map", help="Rename a column: --map 'Model Size=params' (repeatable)."
)
DROP_OPTION = typer.Option(
    0, "--drop-highest-loss", help="Drop the K rows with the highest loss before fitting."
)
SEED_OPTION = typer.Option(0, "--seed", help="Seed of the bootstrap resampling.")
ALL_ROWS_OPTION = typer.Option(
    False, "--all-rows",
    help="Fit every row, not only the fit regime (finished, past warmup and the plateau).",
)
FINAL_OPTION = typer.Option(
    "last", "--final",
    help="Which rows are finished models: last (marked rows, else each run's last evaluation), "
    "all (every evaluation, with a warning), or a boolean COLUMN.",
)
JOBS_OPTION = typer.Option(1, "--jobs", help="Processes for the bootstrap (-1: all cores).")


@app.command()
@user_errors
def fit(
    data: Path = DATA_ARGUMENT,
    law_name: str = LAW_OPTION,
    column_map: list[str] | None = MAP_OPTION,
    x: str | None = typer.Option(
        None, "--x", help="Input of a one-variable law: flops, tokens or params."
    ),
    drop_highest_loss: int = DROP_OPTION,
    n_bootstrap: int = typer.Option(
        0, "--bootstrap", help="Bootstrap resamples of the runs, for 95% intervals."
    ),
    approach: int = typer.Option(
        3, "--approach",
        help="Chinchilla approach: 1 lower envelope, 2 IsoFLOP profiles, 3 parametric law.",
    ),
    seed: int = SEED_OPTION,
    jobs: int = JOBS_OPTION,
    convention: str | None = CONVENTION_OPTION,
    method: str = METHOD_OPTION,
    profile: bool = typer.Option(
        False, "--profile",
        help="Also print profile-likelihood intervals (rows taken as independent).",
    ),
    all_rows: bool = ALL_ROWS_OPTION,
    final: str = FINAL_OPTION,
    out: Path | None = typer.Option(None, "--out", help="Write the fit to this FIT.json."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fit a scaling law (summed Huber on log residuals, multi-start), optionally bootstrapped."""
    from scalinglab import laws
    from scalinglab.api import fit_rows
    from scalinglab.conventions import accounting_for, get_convention
    from scalinglab.errors import ScalinglabError
    from scalinglab.files import check_output_file

    if out is not None:
        check_output_file(out, "--out")
    if approach not in (1, 2, 3):
        raise ScalinglabError(f"--approach must be 1, 2 or 3, got {approach}")
    law = None
    if approach == 3 and law_name != "auto":
        law = _make_law(law_name, x, x_is_threshold=False)
    table = _read(data, column_map, drop_highest_loss, _one_x(law), final)
    # N and C counted in one convention (a curve needs neither), then the fit regime's rows:
    # the preparation the notebook API's `fit` makes too.
    prepared = fit_rows(table, _one_x(law), convention, all_rows, str(data))
    for message in prepared.notes:
        note(message)
    table = prepared.rows
    counted = None if prepared.convention is None else get_convention(prepared.convention)
    if approach in (1, 2):
        if n_bootstrap and approach == 1:
            raise ScalinglabError(
                "--bootstrap applies to --approach 2 (a residual bootstrap of the IsoFLOP "
                "parabolas) and 3 (the parametric law); Approach 1's envelope has none here")
        if law_name != "chinchilla":
            note(f"--law {law_name} is not used by approach {approach} (it fits no loss law)")
        allocation = laws.envelope_fit(table, str(data)) if approach == 1 else laws.isoflop_fit(
            table, source=str(data)
        )
        result = allocation.to_dict()
        intervals = None
        if n_bootstrap:
            intervals = laws.isoflop_intervals(table, n_bootstrap, seed, source=str(data))
            result["bootstrap"] = intervals.to_dict()
        if out is not None:
            _write_json(out, result)
        if as_json:
            print_json(result)
        else:
            _print_allocation(allocation, intervals)
        return
    if all_rows:
        _note_rows_per_run(table)
    selection = None
    if law_name == "auto":
        if x is not None:
            raise ScalinglabError("--x applies to one-variable laws, not to --law auto")
        selection = _select(table, str(data))
        law = selection.law
        note(selection.sentence())
    else:
        assert law is not None
        law.fit(table, str(data))
    if counted is not None:
        law.accounting = accounting_for(counted, table)
        for form in (selection.forms.values() if selection is not None else ()):
            form.accounting = law.accounting  # the same rows, counted the same way
    boot = None
    if n_bootstrap:
        boot = laws.bootstrap(law, table, n_resamples=n_bootstrap, seed=seed, n_jobs=jobs,
                              source=str(data), method=method)
    if out is not None:
        laws.save_fit(out, law, boot, selection=selection)
    summary = laws.fit_summary(law, boot, with_samples=False, selection=selection)
    if profile:
        from scalinglab.laws.profile import profile_intervals

        summary["profile_intervals"] = {
            k: {"lo": v.lo, "hi": v.hi, "closed": v.closed}
            for k, v in profile_intervals(law, table, source=str(data)).items()}
    if as_json:
        print_json(summary)
    else:
        _print_fit(law, boot, data, summary)


@app.command()
@user_errors
def backtest(
    data: Path = DATA_ARGUMENT,
    law_name: str = LAW_OPTION,
    column_map: list[str] | None = MAP_OPTION,
    x: str = typer.Option(
        "flops", "--x",
        help="Threshold column (and a one-variable law's input): flops, tokens or params.",
    ),
    train_max: float = typer.Option(
        ..., "--train-max", help="Fit on rows with x at most this; predict the rest."
    ),
    drop_highest_loss: int = DROP_OPTION,
    n_bootstrap: int = typer.Option(
        200, "--bootstrap", help="Bootstrap resamples for the prediction intervals (0: none)."
    ),
    seed: int = SEED_OPTION,
    jobs: int = JOBS_OPTION,
    all_rows: bool = ALL_ROWS_OPTION,
    final: str = FINAL_OPTION,
    allow_extrapolation: bool = typer.Option(
        False, "--allow-extrapolation",
        help="Predict held-out runs beyond the limit (1e4x the fitted compute).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fit on small runs, predict the large ones: intervals and absolute relative errors.

    With --law auto the form is selected on the training rows alone (held out by compute,
    the direction a plan extrapolates), so the selection never sees the runs it predicts.
    """
    from scalinglab import laws
    from scalinglab.api import fit_rows

    law = None if law_name == "auto" else _make_law(law_name, x, x_is_threshold=True)
    table = _read(data, column_map, drop_highest_loss, _one_x(law), final)
    prepared = fit_rows(table, _one_x(law), "recorded", all_rows, str(data))  # as recorded
    for message in prepared.notes:
        note(message)
    table = prepared.rows
    selection = None
    if law is None:
        selection = _select_on_training_rows(table, x, train_max, str(data))
        law = selection.law
        note(selection.sentence())
    reach = _backtest_reach(law, table, x, train_max, allow_extrapolation, str(data))
    rows = laws.backtest(law, table, x=x, train_max=train_max, n_resamples=n_bootstrap,
                         seed=seed, n_jobs=jobs, source=str(data))
    summary = {
        "law": law.name,
        "x": x,
        "train_max": train_max,
        "n_train": rows.attrs["n_train"],
        "n_test": rows.attrs["n_test"],
        "level": rows.attrs["level"],
        "median_are": rows.attrs["median_are"],
        "params": law.params_,
        "fit": rows.attrs["law"],
        "inside_fraction": rows.attrs["inside_fraction"],
        "rows": rows.to_dict("records"),
    }
    if selection is not None:
        summary["selection"] = selection.to_dict()
    if reach is not None:
        summary["extrapolation"] = reach.to_dict()
    if as_json:
        print_json(summary)
        return
    _print_backtest(rows, law, n_bootstrap)


@app.command("fit-accuracy")
@user_errors
def fit_accuracy(
    accuracies: Path = typer.Argument(
        ..., help="Accuracies (CSV or Parquet): columns run, task, accuracy (a fraction).",
        show_default=False),
    data: Path = typer.Option(..., "--data", help="The runs' measurements table (their losses)."),
    column_map: list[str] | None = MAP_OPTION,
    task: list[str] | None = typer.Option(
        None, "--task", help="Fit only this task (repeatable; default: every task)."
    ),
    form: str = typer.Option("sigmoid", "--form", help="sigmoid (Llama 3) or exponential "
                             "(Gadre et al. 2024)."),
    chance: float | None = typer.Option(
        None, "--chance", help="Fix the sigmoid's floor at the task's chance accuracy."
    ),
    n_bootstrap: int = typer.Option(
        200, "--bootstrap", help="Resamples of the runs, for the chained intervals (0: none)."
    ),
    seed: int = SEED_OPTION,
    final: str = FINAL_OPTION,
    out: Path | None = typer.Option(None, "--out", help="Write the laws to this ACCURACY.json."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fit accuracy as a function of loss per task: the second stage of a two-stage law."""
    from scalinglab.errors import ScalinglabError
    from scalinglab.files import check_output_file
    from scalinglab.laws.downstream import AccuracyLaw, task_points
    from scalinglab.measurements import parse_column_map, read_measurements, read_table

    if out is not None:
        check_output_file(out, "--out")
    table, notes = read_measurements(data, final=final)  # shown once the fit succeeded
    raw = read_table(accuracies)
    renamed = raw.rename(columns=parse_column_map(column_map or []))
    points = task_points(table, renamed, str(accuracies))
    tasks = list(dict.fromkeys(points["task"].astype(str)))
    unknown = [t for t in task or [] if t not in tasks]
    if unknown:
        raise ScalinglabError(f"{accuracies}: no task {unknown[0]!r}; tasks: {', '.join(tasks)}")
    fitted = []
    for name in task or tasks:
        rows = points[points["task"].astype(str) == name]
        law = AccuracyLaw(form, name, chance).fit(rows["loss"], rows["accuracy"])
        if n_bootstrap:
            law.bootstrap(rows["loss"].to_numpy(), rows["accuracy"].to_numpy(), n_bootstrap,
                          seed)
        fitted.append(law)
    for message in notes:
        note(message)
    result = {"kind": "accuracy-of-loss", "data": str(data), "accuracies": str(accuracies),
              "tasks": [law.to_dict() for law in fitted]}
    if out is not None:
        _write_json(out, result)
    if as_json:
        print_json({**result, "tasks": [{k: v for k, v in t.items() if k != "bootstrap_params"}
                                        for t in result["tasks"]]})
        return
    shown = Table(title=styled((f"Accuracy of loss ({form})", "bold")), title_justify="left")
    for column in ("task", "runs", "parameters", "converged"):
        shown.add_column(column)
    for law in fitted:
        assert law.params_ is not None and law.result_ is not None
        shown.add_row(law.task, str(law.n_runs_),
                      ", ".join(f"{k} {v:.4g}" for k, v in law.params_.items()),
                      "yes" if law.result_.converged else styled(("NO", "red")))
    console.print(shown)
    for law in fitted:
        assert law.result_ is not None
        for warning in law.result_.warnings:
            note(f"{law.task}: {warning}")


# --- Helpers -------------------------------------------------------------------------------
def _backtest_reach(law: Law, table: pd.DataFrame, x: str, train_max: float, allow: bool,
                    source: str) -> Any:
    """How far the held-out rows reach beyond the training rows (their largest N, D and C
    against the training rows' range), said in a note and refused past the limit unless
    allowed; None for a one-variable law or a table without N, D and C."""
    from scalinglab.extrapolation import FittedRange, check_reach, extrapolation
    from scalinglab.laws.base import positive_column

    if len(law.inputs) != 2 or x not in table.columns:
        return None
    held = positive_column(table, x, source) > train_max
    fitted = FittedRange.of(table[~held], law.inputs[0])
    test = table[held]
    if fitted is None or test.empty or "flops" not in test.columns:
        return None
    reach = extrapolation(fitted, float(test[law.inputs[0]].max()),
                          float(test["tokens"].max()), float(test["flops"].max()))
    check_reach(reach, allow)
    if reach.sentence():
        note(f"the held-out rows: {reach.sentence()}")
    return reach


def _select_on_training_rows(table: pd.DataFrame, x: str, train_max: float,
                             source: str) -> Any:
    """`--law auto` for a backtest: the selection sees only the rows it may fit."""
    from scalinglab.errors import ScalinglabError
    from scalinglab.laws.base import positive_column

    if x not in table.columns:
        raise ScalinglabError(f"{source}: --x {x!r} is not a column of the table")
    train = table[positive_column(table, x, source) <= train_max].reset_index(drop=True)
    if train.empty:
        raise ScalinglabError(f"{source}: no rows with {x} <= --train-max {train_max:g}")
    return _select(train, f"{source} (rows with {x} <= {train_max:g})")


def _select(table: pd.DataFrame, source: str) -> Any:
    """`--law auto`: the forms scored on the rows of the largest compute (the direction a plan
    extrapolates), else, with too few rows there, on the largest size (said)."""
    from scalinglab import laws
    from scalinglab.errors import ScalinglabError

    try:
        return laws.select_law(table, source=source, holdout="compute")
    except ScalinglabError as error:
        if "top factor" not in str(error) and "needs a 'flops' column" not in str(error):
            raise
        note(f"--law auto: no compute hold-out ({str(error).removeprefix(source + ': ')}); "
             "scoring the forms on the largest size instead")
        return laws.select_law(table, source=source, holdout="size")


def _one_x(law: Law | None) -> str | None:
    """A one-variable law's input column (then only it and loss are required), else None."""
    from scalinglab.laws.forms import OneVariableLaw

    return law.x if isinstance(law, OneVariableLaw) else None


def _is_curve(x: str | None) -> bool:
    """Is `x` a learning curve's input (tokens or step), whose every evaluation is data?"""
    from scalinglab.measurements import CURVE_INPUTS

    return x in CURVE_INPUTS


def _read(data: Path, column_map: list[str] | None, drop_highest_loss: int,
          x: str | None = None, final: str = "last") -> pd.DataFrame:
    """Read and validate the table, show what was derived, drop the K highest losses.

    `final` marks the finished rows (`measurements.apply_final_rule`), except for a learning
    curve's law (x in tokens or step), whose every evaluation is the data.
    """
    from scalinglab import measurements
    from scalinglab.measurements import parse_column_map, read_measurements

    if _is_curve(x) and final != "last":
        note(f"--final {final} is not used: a learning curve's law (--x {x}) fits every "
             "evaluation")
    table, notes = read_measurements(data, parse_column_map(column_map or []), x=x,
                                     final=final)
    for message in notes:
        note(message)
    table = measurements.drop_highest_loss(
        table, drop_highest_loss, source=f"{data} (--drop-highest-loss)")
    if drop_highest_loss:
        note(f"dropped the {drop_highest_loss} highest-loss rows; {len(table)} rows remain")
    return table


def _make_law(name: str, x: str | None, x_is_threshold: bool) -> Law:
    """The named law; `--x` picks a one-variable law's input column."""
    from scalinglab import laws
    from scalinglab.errors import ScalinglabError
    from scalinglab.laws.forms import ONE_VARIABLE_INPUTS, OneVariableLaw

    if x is not None and x not in ONE_VARIABLE_INPUTS:
        raise ScalinglabError(f"--x must be one of {', '.join(ONE_VARIABLE_INPUTS)}, got {x!r}")
    law = laws.get_law(name)
    if isinstance(law, OneVariableLaw):
        return laws.get_law(name, x=x)
    if x is not None and not x_is_threshold:
        raise ScalinglabError(
            f"--x applies to one-variable laws; the {name} law reads {', '.join(law.inputs)}"
        )
    return law


def _note_rows_per_run(table: pd.DataFrame) -> None:
    """Say so when learning-curve rows (several per run) all enter the fit."""
    n_runs = table["run"].nunique()
    if n_runs < len(table):
        note(f"fitting all {len(table)} rows of {n_runs} runs (intermediate evaluations included)")


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    import json

    from scalinglab.cli.app import to_jsonable
    from scalinglab.files import write_text

    write_text(path, json.dumps(to_jsonable(obj), indent=2) + "\n")


def _print_fit(law: Law, boot: Any, data: Path, summary: dict[str, Any]) -> None:
    result = law.result_
    title = f"{law.name} law fitted to {data.name} ({', '.join(law.inputs)} -> loss)"
    table = Table(title=styled((title, "bold")), title_justify="left")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    intervals = boot.intervals() if boot is not None else {}
    derived_intervals = boot.derived_intervals() if boot is not None else {}
    identified = summary["identified"]
    if boot is not None:
        table.add_column("95% interval", justify="right")
    profiled = summary.get("profile_intervals", {})
    rows = [(k, v, intervals.get(k)) for k, v in law.params_.items()]
    rows += [(k, v, derived_intervals.get(k)) for k, v in law.derived().items()]
    for name, value, interval in rows:
        known = identified.get(name, {"identified": True})
        if not known["identified"]:
            table.add_row(name, styled(("not identified", "yellow")),
                          *([known["reason"]] if boot is not None else []))
            continue
        cells = [name, f"{value:.6g}"]
        if boot is not None:
            cells.append(f"{interval[0]:.4g} – {interval[1]:.4g}" if interval else "")
        table.add_row(*cells)
    console.print(table)
    for name, span in profiled.items():
        side = "" if span["closed"] else " (open: not identified)"
        console.print(f"profile likelihood of the least-squares fit, rows independent: "
                      f"{name} {span['lo']:.4g} – {span['hi']:.4g}{side}", highlight=False)
    status = ("converged", "green") if result.converged else ("NOT CONVERGED", "bold red")
    convention = law.accounting.get("convention") if law.accounting else "as recorded"
    console.print(
        styled(
            f"objective {result.objective:.6g} (summed Huber, delta 1e-3, on log residuals) · ",
            status,
            f" · {result.n_starts_at_best}/{result.n_starts} starts reached the best "
            f"(of {result.n_screened} screened) · {result.n_points} points · "
            f"convention {convention}",
        ),
        highlight=False,
    )
    if not result.converged:
        console.print(styled((f"optimiser: {result.message}", "red")), highlight=False)
    for warning in result.warnings:
        console.print(styled(("warning: ", "yellow"), warning), highlight=False)
    if boot is not None:
        noise = boot.noise.describe() if boot.noise is not None else "no noise model"
        failed = f", {boot.n_failed} failed" if boot.n_failed else ""
        console.print(
            f"bootstrap: {boot.n_resamples} {boot.method} resamples (seed {boot.seed}), "
            f"{boot.n_converged} converged{failed}; {noise}",
            highlight=False,
        )


def _print_allocation(allocation: Any, intervals: Any = None) -> None:
    name = {1: "Approach 1 (lower envelope)", 2: "Approach 2 (IsoFLOP profiles)"}
    table = Table(title=styled((f"{name[allocation.approach]}: compute-optimal points", "bold")),
                  title_justify="left")
    for column in ("flops", "params", "tokens", "loss"):
        table.add_column(column, justify="right")
    for row in allocation.points.itertuples():
        table.add_row(*(f"{getattr(row, c):.4g}" for c in ("flops", "params", "tokens", "loss")))
    console.print(table)
    console.print(
        f"N_opt = {allocation.n_coefficient:.4g} C^{allocation.n_exponent:.4f}   "
        f"D_opt = {allocation.d_coefficient:.4g} C^{allocation.d_exponent:.4f}",
        highlight=False,
    )
    if intervals is not None:
        spans = "   ".join(f"{key.replace('_', ' ')} {lo:.4f} – {hi:.4f}"
                           for key, (lo, hi) in intervals.intervals.items())
        failed = f", {intervals.n_failed} failed" if intervals.n_failed else ""
        console.print(f"{intervals.level:.0%} intervals: {spans or 'none (too few resamples kept)'}"
                      f" ({intervals.n_resamples} resamples{failed}; {intervals.method})",
                      highlight=False)
    for reason in allocation.skipped:
        note(f"skipped {reason}")


def _print_backtest(rows: pd.DataFrame, law: Law, n_bootstrap: int) -> None:
    attrs = rows.attrs
    title = (f"Backtest: {law.name} fitted on {attrs['n_train']} rows with {attrs['x']} <= "
             f"{attrs['train_max']:.4g}, predicting {attrs['n_test']}")
    table = Table(title=styled((title, "bold")), title_justify="left")
    sizes = [c for c in ("params", "tokens") if c in rows.columns]
    short = {"flops": "C", "params": "N", "tokens": "D"}
    longest = max((len(str(r)) for r in rows["run"]), default=3)
    # A run's name is shown whole; the numbers fold rather than lose digits to an ellipsis.
    table.add_column("run", justify="left", no_wrap=True, min_width=min(longest, 40))
    for column in (short.get(attrs["x"], attrs["x"]), *(short[c] for c in sizes), "measured",
                   "predicted", "95% interval", "ARE"):
        table.add_column(column, justify="right", overflow="fold")
    for row in rows.to_dict("records"):
        interval = f"{row['lo']:.4f}–{row['hi']:.4f}" if n_bootstrap else ""
        table.add_row(str(row["run"]), f"{row['x']:.3g}", *(f"{row[c]:.3g}" for c in sizes),
                      f"{row['measured']:.4f}", f"{row['predicted']:.4f}", interval,
                      f"{row['are']:.2%}")
    console.print(table)
    inside = ""
    if n_bootstrap:
        held = ((rows["lo"] <= rows["measured"]) & (rows["measured"] <= rows["hi"])).sum()
        inside = f" · {held} of {len(rows)} held-out rows inside their 95% intervals"
    console.print(f"median ARE {attrs['median_are']:.2%}{inside}", highlight=False)
