"""`scalinglab sweep plan|run`, `scalinglab status` and `scalinglab export`: sweeps from the CLI.

Each command is a thin layer over `scalinglab.sweep`: plan a design (FLOPs, threads, an estimated
wall time from a quick throughput probe), run it into a store (local pool or Ray), watch a store
from another terminal, and export a sweep's measurements table for the fitting commands.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from scalinglab.cli.app import (
    JSON_OPTION,
    app,
    console,
    note,
    plain,
    print_json,
    styled,
    user_errors,
)

sweep_app = typer.Typer(help="Plan and run sweeps of training runs (see docs/sweeps.md).",
                        no_args_is_help=True)
app.add_typer(sweep_app, name="sweep")

FILE_ARGUMENT = typer.Argument(None, help="A sweep TOML file (or use --preset).")
PRESET_OPTION = typer.Option(None, "--preset", help="A built-in design: cpu-tiny, cpu-small, "
                             "gpu-small.")
STORE_OPTION = typer.Option(Path("scalinglab.db"), "--store", help="The results store (SQLite).")
WORKERS_OPTION = typer.Option(None, "--workers", help="Threads to use (default: all cores).")
MAX_HOURS_OPTION = typer.Option(None, "--max-hours",
                                help="Refuse a sweep estimated to take longer than this.")


def _estimate(
    plans: list[Any], capacity: int, probe: bool, max_hours: float | None = None
) -> tuple[dict[str, float], float | None]:
    """Per-run seconds and the sweep's wall seconds, from a throughput probe (or nothing).

    `--max-hours` is first held against the accounting's lower bound, which needs no probe."""
    from scalinglab.errors import ScalinglabError
    from scalinglab.sweep import plan as planning

    gpus = float(sum(1 for p in plans if p.gpus) > 0)
    planning.check_lower_bound(plans, capacity, gpus, max_hours)
    if not probe:
        if max_hours is not None:
            note("--no-probe: --max-hours was checked against the peak-speed lower bound only")
        return {}, None
    try:
        throughput = planning.probe_throughput(plans, on_probe=lambda r: note(f"probing {r}"))
    except ScalinglabError as error:
        note(f"no wall-time estimate: {error}")
        return {}, None
    seconds = {p.hash: planning.estimate_seconds(p, throughput) for p in plans}
    if any(v is None for v in seconds.values()):
        note("no wall-time estimate: some runs could not be probed"
             + ("; --max-hours was checked against the peak-speed lower bound only"
                if max_hours is not None else ""))
        return {}, None
    gpus = float(sum(1 for p in plans if p.gpus) > 0)
    return seconds, planning.simulate_wall_seconds(plans, seconds, capacity,  # type: ignore[arg-type]
                                                   gpus)


def _probe(design: Any, probe: bool) -> bool:
    """Whether to probe throughput: never for a trainer command (the lab cannot time it)."""
    if probe and design.trainer is not None:
        note("a trainer command is not probed: no wall-time estimate")
        return False
    return probe


@sweep_app.command("plan")
@user_errors
def plan_command(
    file: Path | None = FILE_ARGUMENT,
    preset: str | None = PRESET_OPTION,
    workers: int | None = WORKERS_OPTION,
    max_hours: float | None = MAX_HOURS_OPTION,
    probe: bool = typer.Option(True, "--probe/--no-probe",
                               help="Time a few steps of some runs to estimate the wall time."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print each run of a sweep with its FLOPs and the estimated wall time on this machine."""
    import os

    from scalinglab.sweep import design as designs
    from scalinglab.sweep import plan as planning

    design = designs.resolve(file, preset)
    capacity = workers or os.cpu_count() or 1
    plans = planning.plan_sweep(design, capacity)
    seconds, wall = _estimate(plans, capacity, _probe(design, probe), max_hours)
    total_flops = sum(p.flops for p in plans)
    rows = [{"run": p.name, "hash": p.hash[:12], "family": p.config["family"],
             "params_nonembedding": p.params_nonembedding, "tokens": p.tokens, "flops": p.flops,
             "threads": p.threads, "seconds": seconds.get(p.hash)} for p in plans]
    if as_json:
        print_json({"sweep": design.name, "kind": design.kind, "runs": rows,
                    "flops": total_flops, "threads": capacity, "wall_seconds": wall})
    else:
        table = Table(title=styled((f"sweep {design.name}", "bold"),
                                   f" ({design.kind}, {len(plans)} runs)"),
                      title_justify="left")
        for column in ("run", "N (non-emb.)", "tokens", "FLOPs", "threads", "est. time"):
            table.add_column(column, justify="left" if column == "run" else "right",
                             overflow="fold")
        for row in rows:
            table.add_row(row["run"], f"{row['params_nonembedding']:,}", f"{row['tokens']:.3g}",
                          f"{row['flops']:.3g}", str(row["threads"]), _duration(row["seconds"]))
        console.print(table)
        estimate = f"~{_duration(wall)} wall on {capacity} threads" if wall is not None else \
            "wall time not estimated"
        console.print(f"total {total_flops:.3g} FLOPs; {estimate}", highlight=False)
    if wall is not None:
        planning.check_budget(wall / 3600.0, max_hours)


@sweep_app.command("run")
@user_errors
def run_command(
    file: Path | None = FILE_ARGUMENT,
    preset: str | None = PRESET_OPTION,
    store: Path = STORE_OPTION,
    executor: str = typer.Option(
        "local", "--executor", help="local (worker processes), ray, slurm (a job per run, "
        "through submitit) or submitit-local (submitit's jobs as local processes)."),
    address: str | None = typer.Option(None, "--address",
                                       help="Ray cluster address (default: start a local one)."),
    workers: int | None = WORKERS_OPTION,
    runs_dir: Path | None = typer.Option(
        None, "--runs-dir", help="Checkpoint folder (default: next to the store; on a Ray "
        "or Slurm cluster use a shared filesystem)."),
    max_hours: float | None = MAX_HOURS_OPTION,
    slurm_partition: str | None = typer.Option(None, "--slurm-partition",
                                               help="Slurm partition of every job."),
    slurm_gpus: int | None = typer.Option(
        None, "--slurm-gpus", help="GPUs per job (default: 1 for device cuda, else 0)."),
    slurm_cpus: int | None = typer.Option(
        None, "--slurm-cpus", help="CPUs per job (default: the run's threads)."),
    slurm_time: float | None = typer.Option(
        None, "--slurm-time", help="Time limit of each job in minutes (default: 1440)."),
    slurm_mem: str | None = typer.Option(None, "--slurm-mem",
                                         help="Memory per job, in Slurm's syntax (e.g. 16G)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a sweep into the store; rerun the same command to resume after a stop or a crash.

    Options --slurm-* override the design's [slurm] keys (docs/sweeps.md)."""
    import os

    from scalinglab.sweep import design as designs
    from scalinglab.sweep import plan as planning
    from scalinglab.sweep.driver import run_sweep
    from scalinglab.sweep.progress import SweepDisplay

    design = designs.resolve(file, preset)
    slurm = {"partition": slurm_partition, "gpus": slurm_gpus, "cpus": slurm_cpus,
             "time": slurm_time, "mem": slurm_mem}
    if max_hours is not None:
        capacity = workers or os.cpu_count() or 1
        plans = planning.plan_sweep(design, capacity)
        _, wall = _estimate(plans, capacity, probe=_probe(design, True), max_hours=max_hours)
        if wall is not None:
            planning.check_budget(wall / 3600.0, max_hours)
    started = time.monotonic()
    if as_json:
        outcome = run_sweep(design, store, executor, workers, address, runs_dir, on_note=note,
                            slurm=slurm)
    else:
        with SweepDisplay(console, design.name) as display:
            outcome = run_sweep(design, store, executor, workers, address, runs_dir,
                                display=display, on_note=note, slurm=slurm)
    summary = {"sweep": outcome.sweep, "store": str(outcome.store), "runs": outcome.counts,
               "interrupted": outcome.interrupted, "failures": outcome.failures,
               "seconds": time.monotonic() - started}
    if as_json:
        print_json(summary)
    else:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts.items()))
        console.print(f"sweep {outcome.sweep}: {counts} ({summary['seconds']:.0f} s)",
                      highlight=False)
        for name, error in outcome.failures.items():
            last = error.strip().splitlines()[-1] if error.strip() else "unknown error"
            console.print(styled(("failed", "red"), f" {name}: {last}"), highlight=False)
        if outcome.interrupted:
            note("stopped: running runs checkpointed; run the same command to resume")
    if outcome.interrupted:
        raise typer.Exit(code=130)
    if outcome.failures:
        raise typer.Exit(code=1)


@app.command()
@user_errors
def status(
    sweep: str | None = typer.Option(None, "--sweep", help="Show this sweep's runs."),
    store: Path = STORE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show the sweeps in a store (or one sweep's runs), e.g. from another terminal.

    Safe at any time: it only reads, while a sweep runs or after its driver was killed.
    """
    import sqlite3

    from scalinglab.errors import ScalinglabError
    from scalinglab.sweep.store import Store

    try:
        with Store(store, create=False) as db:
            lease = db.lease()
            table = db.runs(sweep) if sweep is not None else db.sweeps()
    except sqlite3.Error as error:
        raise ScalinglabError(f"{store}: cannot read the store now ({error}); try again") from None
    if as_json:
        print_json({"store": str(store), "driver": lease,
                    "rows": table.drop(columns=["config_json"], errors="ignore")
                    .astype(object).where(table.notna(), None).to_dict("records")})
        return
    if lease is not None:
        state = "running" if lease["alive"] else "gone (its runs resume on the next launch)"
        console.print(f"driver: sweep {lease['sweep']} pid {lease['pid']} on {lease['host']}, "
                      f"{state}", highlight=False)
    console.print(_runs_table(table) if sweep is not None else _sweeps_table(table))
    if sweep is not None:
        for row in table[table["status"] == "failed"].to_dict("records"):
            error = plain(row.get("error")).strip()
            last = error.splitlines()[-1] if error else "no error recorded"
            console.print(styled(("failed", "red"), f" {plain(row['name'])}: {plain(last)}"),
                          highlight=False)


def _sweeps_table(sweeps: Any) -> Table:
    table = Table(title=styled(("sweeps", "bold")), title_justify="left")
    for column in ("sweep", "kind", "runs", "done", "running", "pending", "diverged", "failed",
                   "FLOPs done"):
        table.add_column(column, justify="left" if column in ("sweep", "kind") else "right")
    for row in sweeps.to_dict("records"):
        planned, done = _float(row["planned_flops"]), _float(row["flops_done"])
        share = f"{done / planned:.0%}" if planned > 0 else ""
        table.add_row(plain(row["sweep"]), plain(row["kind"]), *(str(int(_float(row[c]))) for c in (
            "runs", "done", "running", "pending", "diverged", "failed")), share)
    return table


def _runs_table(runs: Any) -> Table:
    table = Table(title=styled(("runs", "bold")), title_justify="left")
    for column in ("run", "status", "N", "tokens", "loss", "tok/s", "time", "host"):
        table.add_column(column, justify="left" if column in ("run", "status", "host") else "right")
    colours = {"done": "green", "running": "cyan", "diverged": "yellow", "failed": "red"}
    for row in runs.to_dict("records"):
        status_text = styled((plain(row["status"]), colours.get(row["status"], "white")))
        table.add_row(plain(row["name"]), status_text, _number(row["params_nonembedding"], ",.0f"),
                      _number(row["tokens_done"], ".3g"), _number(row["loss_latest"], ".4f"),
                      _number(row["tokens_per_second"], ",.0f"), _duration(row["seconds"]),
                      plain(row["host"]))
    return table


@app.command()
@user_errors
def export(
    sweep: str = typer.Option(..., "--sweep", help="The sweep to export."),
    fmt: str | None = typer.Option(
        None, "--format", help="csv or parquet (default: from the file name, else csv)."
    ),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="Output file (default: SWEEP.csv or SWEEP.parquet)."),
    store: Path = STORE_OPTION,
    include_diverged: bool = typer.Option(False, "--include-diverged",
                                          help="Also export diverged runs' rows."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a sweep's measurements table (the input of `scalinglab fit`)."""
    from scalinglab.errors import ScalinglabError
    from scalinglab.files import atomic_output, check_output_file
    from scalinglab.sweep.store import Store

    fmt = _export_format(fmt, output)
    output = output or Path(f"{sweep}.{fmt}")
    if output.exists() and store.exists() and output.resolve() == store.resolve():
        raise ScalinglabError(f"-o {output}: is the store being exported; name another file")
    output = check_output_file(output, "-o")
    with Store(store, create=False) as db:
        table = db.measurements(sweep, include_diverged=include_diverged)
        runs = db.runs(sweep)
    if table.empty:
        raise ScalinglabError(f"sweep {sweep!r} has no finished runs yet; nothing to export")
    with atomic_output(output) as tmp:
        if fmt == "csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
    unfinished = int((~runs["status"].isin(["done"])).sum())
    if unfinished:
        note(f"{unfinished} of {len(runs)} runs are not done and are left out")
    if as_json:
        print_json({"sweep": sweep, "output": str(output), "format": fmt, "rows": len(table),
                    "runs": int(table["run"].nunique()), "runs_left_out": unfinished})
        return
    console.print(f"wrote {len(table)} rows of {table['run'].nunique()} runs to {output}",
                  highlight=False)


def _export_format(fmt: str | None, output: Path | None) -> str:
    """The table format: --format where given, else the file name's; a conflict is refused."""
    from scalinglab.errors import ScalinglabError

    if fmt is not None and fmt not in ("csv", "parquet"):
        raise ScalinglabError(f"--format must be csv or parquet, got {fmt!r}")
    suffix = output.suffix.lower() if output is not None else ""
    named = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix)
    if fmt is not None and named is not None and fmt != named:
        raise ScalinglabError(f"-o {output}: the name says {named} but --format says {fmt}; "
                              "make them agree")
    return fmt or named or "csv"


def _number(value: Any, spec: str) -> str:
    """A formatted number, or "" for a missing one (NULL in the store reads as None or NaN)."""
    number = _float(value, default=None)
    return "" if number is None else format(number, spec)


def _float(value: Any, default: Any = 0.0) -> Any:
    """A store value as a finite float, or `default` when it is missing or not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return ""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
