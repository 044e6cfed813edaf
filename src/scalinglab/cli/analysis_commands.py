"""`scalinglab compare`, `positions`, `modalities`, `capabilities`, `conventions`, `basin` and
`critical-batch`: thin commands over
`scalinglab.analyses`, reading a measurements file (`--data`) or sweeps in a store (`--sweep`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from scalinglab.cli.app import JSON_OPTION, app, console, note, print_json, user_errors

if TYPE_CHECKING:
    from scalinglab.analyses import Tables

DATA_OPTION = typer.Option(None, "--data", help="A measurements table (CSV or Parquet).")
SWEEP_OPTION = typer.Option(None, "--sweep", help="A sweep in the results store (repeatable).")
STORE_OPTION = typer.Option(Path("scalinglab.db"), "--store", help="The results store (SQLite).")
BOOTSTRAP_OPTION = typer.Option(
    200, "--bootstrap",
    help="Bootstrap resamples for every interval (0: none; docs/uncertainty.md).",
)
SEED_OPTION = typer.Option(0, "--seed", help="Seed of the bootstrap resampling.")
FAMILY_OPTION = typer.Option(None, "--family", help="Model family (default: transformer).")


def _tables(data: Path | None, sweeps: list[str] | None, store: Path,
            positions: Path | None = None, accuracies: Path | None = None) -> Tables:
    """What the command reads: `--data FILE` or `--sweep NAME` (exactly one)."""
    from scalinglab.analyses import load_data, load_sweeps
    from scalinglab.errors import ScalinglabError

    if (data is None) == (not sweeps):
        raise ScalinglabError("give exactly one of --data FILE or --sweep NAME")
    if data is not None:
        _check_side_tables(positions, accuracies)
        tables = load_data(data, positions, accuracies)
        for message in tables.notes:
            note(message)
        return tables
    if positions is not None or accuracies is not None:
        raise ScalinglabError("--positions and --accuracies go with --data, not --sweep")
    return load_sweeps(store, list(sweeps or []))


def _check_side_tables(positions: Path | None, accuracies: Path | None) -> None:
    """`--positions` and `--accuracies` files: readable, with their columns, numbers numeric."""
    from scalinglab.measurements import check_side_table

    if positions is not None:
        check_side_table(positions, "--positions", ("run", "position", "loss"),
                         numeric=("position", "loss"))
    if accuracies is not None:
        check_side_table(accuracies, "--accuracies", ("run", "name", "value"),
                         numeric=("value",))


def _check_bootstrap(n_bootstrap: int) -> None:
    from scalinglab.errors import ScalinglabError

    if n_bootstrap < 0:
        raise ScalinglabError(f"--bootstrap must be 0 or more resamples, got {n_bootstrap}")


def _span(interval: Any, scale: float = 1.0) -> str:
    from scalinglab.analyses.fitted import fmt

    lo, hi = interval
    return f"[{fmt(scale * lo)}, {fmt(scale * hi)}]"


@app.command()
@user_errors
def compare(
    a: str = typer.Argument(..., help="Group A, the reference (e.g. transformer)."),
    b: str = typer.Argument(..., help="Group B, compared with A (e.g. lstm)."),
    by: str = typer.Option(
        "family", "--by", help="Column whose values A and B are: family, corpus, sweep, or any."
    ),
    data: Path | None = DATA_OPTION,
    sweeps: list[str] | None = SWEEP_OPTION,
    store: Path = STORE_OPTION,
    n_bootstrap: int = BOOTSTRAP_OPTION,
    seed: int = SEED_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Compute multiplier C_B(L)/C_A(L) at matched loss from each group's L(C) envelope."""
    from scalinglab.analyses import compare as run_compare
    from scalinglab.analyses.compare import multiplier_text

    _check_bootstrap(n_bootstrap)
    if by == "sweep" and data is None and not sweeps:
        sweeps = [a, b]  # `compare SWEEP_A SWEEP_B --by sweep --store DB`
    tables = _tables(data, sweeps, store)
    result = run_compare(tables.measurements, a, b, by=by, n_resamples=n_bootstrap, seed=seed)
    if as_json:
        print_json({"source": tables.source, **result.to_dict()})
        return
    shown = Table(title=f"{b} vs {a} ({by}): C_{b}(L) / C_{a}(L)")
    for column in ("Loss (nats/token)", f"C {a} (FLOPs)", f"C {b} (FLOPs)",
                   "Multiplier [95%]"):
        shown.add_column(column, justify="right")
    if result.multipliers is not None:
        for row in result.multipliers.itertuples():
            shown.add_row(f"{row.loss:.4g}", f"{row.flops_a:.3g}", f"{row.flops_b:.3g}",
                          multiplier_text(row).split(" at ")[0])
    console.print(shown)
    for name, fit in ((a, result.fit_a), (b, result.fit_b)):
        console.print(f"{name}: {fit.loss_law.formula()}, {fit.loss_law.param_text()} "
                      f"({len(fit.envelope)} envelope points)", highlight=False)
    console.print(result.summary(), highlight=False)
    for message in result.notes:
        note(message)


@app.command()
@user_errors
def positions(
    data: Path | None = DATA_OPTION,
    position_file: Path | None = typer.Option(
        None, "--positions", help="Loss by position for --data (CSV: run, position, loss)."
    ),
    sweeps: list[str] | None = SWEEP_OPTION,
    store: Path = STORE_OPTION,
    n_bootstrap: int = BOOTSTRAP_OPTION,
    seed: int = SEED_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """L(t) = L_inf + (t0/t)^a per model; does loss keep improving with context, per family?"""
    from scalinglab.analyses import fit_positions
    from scalinglab.analyses.fitted import fmt
    from scalinglab.errors import ScalinglabError

    _check_bootstrap(n_bootstrap)
    if data is not None and position_file is None:
        raise ScalinglabError("--data needs --positions FILE (CSV: run, position, loss)")
    tables = _tables(data, sweeps, store, positions=position_file)
    if tables.positions is None or tables.positions.empty:
        raise ScalinglabError(f"{tables.source}: no loss-by-position rows")
    result = fit_positions(tables.positions, tables.measurements, n_bootstrap, seed)
    if as_json:
        print_json({"source": tables.source, **result.to_dict()})
        return
    shown = Table(title="Loss by position: L(t) = L_inf + (t0/t)^a")
    for column in ("Run", "Family", "N", "L_inf", "t0", "a"):
        shown.add_column(column, justify="left" if column in ("Run", "Family") else "right")
    for run, fitted in result.laws.items():
        params = fitted.law.params_
        shown.add_row(run, str(fitted.data["family"].iloc[0]),
                      fmt(fitted.data["params_nonembedding"].iloc[0]), f"{params['E']:.4g}",
                      fmt(params["X0"]), f"{params['a']:.3g}")
    console.print(shown)
    for family, gain in result.families.items():
        console.print(f"{family} (largest, N = {fmt(gain.params_nonembedding)}): {gain.text()}",
                      highlight=False)
    for run, reason in result.skipped.items():
        note(f"{run}: no fit ({reason})")


@app.command()
@user_errors
def modalities(
    data: Path | None = DATA_OPTION,
    sweeps: list[str] | None = SWEEP_OPTION,
    store: Path = STORE_OPTION,
    family: str | None = FAMILY_OPTION,
    markov_vocab: int | None = typer.Option(
        None, "--markov-vocab", help="Vocabulary of the markov runs (default: from the store, 16)."
    ),
    markov_order: int | None = typer.Option(
        None, "--markov-order", help="Order of the markov runs (default: from the store, 2)."
    ),
    n_bootstrap: int = BOOTSTRAP_OPTION,
    seed: int = SEED_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Per corpus: L = E + (C0/C)^a and N_opt(C); on markov, fitted E vs the exact entropy."""
    from scalinglab.analyses import modalities as run_modalities

    _check_bootstrap(n_bootstrap)
    tables = _tables(data, sweeps, store)
    source = dict(tables.markov_source or {})
    if markov_vocab is not None:
        source["vocab_size"] = markov_vocab
    if markov_order is not None:
        source["order"] = markov_order
    result = run_modalities(tables.measurements, n_bootstrap, seed, family, source or None)
    if as_json:
        print_json({"source": tables.source, **result.to_dict()})
        return
    shown = Table(title=f"Modalities ({result.family}): L = E + (C0/C)^a, N_opt ∝ C^a_N")
    for column in ("Corpus", "E [95%]", "a [95%]", "N_opt exponent [95%]", "Envelope points"):
        shown.add_column(column, justify="left" if column == "Corpus" else "right")
    exponents = result.n_opt_exponents()
    for corpus, fit in result.corpora.items():
        law = fit.loss_law
        spans = law.intervals
        n_opt = "n/a"
        if corpus in exponents:
            value, lo, hi = exponents[corpus]
            n_opt = f"{value:.3g} {_span((lo, hi))}"
        shown.add_row(corpus, f"{fit.params['E']:.4g} " + (_span(spans['E']) if 'E' in spans
                                                            else ""),
                      f"{fit.params['a']:.3g} " + (_span(spans['a']) if 'a' in spans else ""),
                      n_opt, str(len(fit.envelope)))
    console.print(shown)
    console.print(result.summary(), highlight=False)
    for corpus, reason in result.skipped.items():
        note(f"{corpus}: no fit ({reason})")


@app.command()
@user_errors
def capabilities(
    data: Path | None = DATA_OPTION,
    accuracy_file: Path | None = typer.Option(
        None, "--accuracies",
        help="Accuracies for --data (CSV: run, name, value); or an 'accuracy' column.",
    ),
    sweeps: list[str] | None = SWEEP_OPTION,
    store: Path = STORE_OPTION,
    family: str | None = FAMILY_OPTION,
    n_bootstrap: int = BOOTSTRAP_OPTION,
    seed: int = SEED_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Exact-match accuracy against size next to per-token loss; locate the jump."""
    from scalinglab.analyses import capabilities as run_capabilities
    from scalinglab.analyses.fitted import fmt

    _check_bootstrap(n_bootstrap)
    tables = _tables(data, sweeps, store, accuracies=accuracy_file)
    result = run_capabilities(tables.measurements, tables.accuracies, family, n_bootstrap, seed)
    if as_json:
        print_json({"source": tables.source, **result.to_dict()})
        return
    shown = Table(title="Capabilities: best run per size")
    for column in ("N (non-embedding)", "Tokens", "Loss (nats/token)", "Exact match"):
        shown.add_column(column, justify="right")
    for row in result.points.itertuples():
        shown.add_row(fmt(row.params_nonembedding), fmt(row.tokens), f"{row.loss:.4g}",
                      f"{100 * row.accuracy:.3g}%")
    console.print(shown)
    console.print(result.summary(), highlight=False)


@app.command()
@user_errors
def conventions(
    data: Path | None = DATA_OPTION,
    sweeps: list[str] | None = SWEEP_OPTION,
    store: Path = STORE_OPTION,
    n_bootstrap: int = typer.Option(
        100, "--bootstrap", help="Bootstrap resamples for each exponent's interval (0: none)."
    ),
    seed: int = SEED_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Porian's ablation: Approaches 1-3's exponent a under each accounting convention."""
    from scalinglab.analyses.conventions import convention_ablation
    from scalinglab.laws.identifiability import interval_reason

    _check_bootstrap(n_bootstrap)
    tables = _tables(data, sweeps, store)
    ablation = convention_ablation(tables.measurements, n_resamples=n_bootstrap, seed=seed)
    if as_json:
        print_json(ablation.to_dict())
        return
    shown = Table(title="N_opt ∝ C^a under each convention (95% intervals)",
                  title_justify="left")
    for column in ("convention", "N and C counted as", "Approach 1", "Approach 2", "Approach 3"):
        shown.add_column(column)
    for row in ablation.rows:
        cells = []
        for approach in ("Approach 1", "Approach 2", "Approach 3"):
            if approach not in row.exponents:
                cells.append("—")
                continue
            value, interval = row.exponents[approach]
            reason = interval_reason(*interval) if interval else ""
            cells.append(f"not identified ({reason})" if reason else
                         f"{value:.3f}" + (f" {_span(interval)}" if interval else ""))
        shown.add_row(row.name, row.description, *cells)
    console.print(shown)
    spread = ablation.spread()
    if spread is not None:
        console.print(f"Approach 3's a moves by {spread:.3f} across conventions: that much of "
                      "the exponent is bookkeeping, not scaling.")


@app.command()
@user_errors
def basin(
    data: Path | None = DATA_OPTION,
    sweeps: list[str] | None = SWEEP_OPTION,
    store: Path = STORE_OPTION,
    hyperparameter: str = typer.Option(
        "lr", "--hyperparameter",
        help="The scanned column: lr, batch_tokens, warmup_tokens, weight_decay, n_ctx, or "
             "aspect (d_model / n_layer, from a scan of n_layer at fixed N).",
    ),
    noise: float = typer.Option(0.0, "--noise",
                                help="One run's relative seed noise (e.g. 0.0074)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Hyperparameter basin at fixed N: the loss 3x either side of its best (Kaplan Fig. 5)."""
    from scalinglab.analyses.basins import basin as run_basin
    from scalinglab.errors import ScalinglabError
    from scalinglab.measurements import final_rows

    tables = _tables(data, sweeps, store)
    done = final_rows(tables.measurements)
    column = hyperparameter
    if hyperparameter == "aspect":
        if not {"d_model", "n_layer"} <= set(done.columns):
            raise ScalinglabError(f"{tables.source}: --hyperparameter aspect needs columns "
                                  "'d_model' and 'n_layer'")
        done = done.assign(aspect=done["d_model"] / done["n_layer"])
    if column not in done.columns:
        raise ScalinglabError(f"{tables.source}: no column {column!r} to read the basin of")
    result = run_basin(done[column].to_numpy(float), done["loss"].to_numpy(float), column, noise)
    if as_json:
        print_json({"source": tables.source, **result.to_dict()})
        return
    console.print(result.summary(), highlight=False)


@app.command("critical-batch")
@user_errors
def critical_batch(
    data: Path | None = DATA_OPTION,
    sweeps: list[str] | None = SWEEP_OPTION,
    store: Path = STORE_OPTION,
    n_bootstrap: int = BOOTSTRAP_OPTION,
    seed: int = SEED_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Critical batch size B_crit(L) from a batch-size scan of one model (McCandlish et al.)."""
    from scalinglab.analyses.critical_batch import critical_batch as run_critical_batch
    from scalinglab.analyses.fitted import fmt

    _check_bootstrap(n_bootstrap)
    tables = _tables(data, sweeps, store)
    result = run_critical_batch(tables.measurements, n_resamples=n_bootstrap, seed=seed)
    if as_json:
        print_json({"source": tables.source, **result.to_dict()})
        return
    shown = Table(title="Critical batch size per target loss (tokens)")
    for column in ("loss", "batch sizes", "S_min (steps)", "E_min (tokens)", "B_crit [95%]"):
        shown.add_column(column, justify="right")
    for row in result.targets.itertuples():
        shown.add_row(f"{row.loss:.4g}", str(row.n_batches), fmt(row.s_min), fmt(row.e_min),
                      f"{fmt(row.b_crit)} {_span((row.b_crit_lo, row.b_crit_hi))}")
    console.print(shown)
    console.print(result.summary(), highlight=False)
