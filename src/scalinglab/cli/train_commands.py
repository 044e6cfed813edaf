"""`scalinglab train`: one training run from the command line, a thin layer over `train_run`."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from scalinglab.cli.app import JSON_OPTION, app, console, err_console, note, print_json, user_errors

if TYPE_CHECKING:
    from scalinglab.train import RunResult


@app.command()
@user_errors
def train(
    corpus: str = typer.Option(
        "stdlib", "--corpus", help="stdlib, text, tokens, digits, arithmetic or markov."
    ),
    corpus_path: Path | None = typer.Option(
        None, "--corpus-path", help="File or folder for the text and tokens corpora."
    ),
    vocab_size: int | None = typer.Option(
        None, "--vocab-size", help="BPE vocabulary (text), id range (tokens), alphabet (markov)."
    ),
    family: str = typer.Option("transformer", "--family", help="transformer or lstm."),
    params: float = typer.Option(..., "--params", help="Target non-embedding parameters."),
    tokens: float = typer.Option(..., "--tokens", help="Training tokens."),
    n_layer: int | None = typer.Option(None, "--n-layer", help="Override the ladder's depth."),
    d_model: int | None = typer.Option(None, "--d-model", help="Override the ladder's width."),
    n_head: int | None = typer.Option(None, "--n-head", help="Override the number of heads."),
    n_ctx: int | None = typer.Option(None, "--n-ctx", help="Context length (default per corpus)."),
    positions: str = typer.Option("learned", "--positions", help="learned or rotary."),
    tied_embeddings: bool = typer.Option(
        False, "--tied-embeddings", help="Share input and output embeddings."
    ),
    batch_tokens: int | None = typer.Option(
        None, "--batch-tokens", help="Tokens per step (default: ~1000 steps per run)."
    ),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: width rule)."),
    schedule: str = typer.Option("cosine", "--schedule", help="cosine or wsd."),
    cooldown_tokens: list[float] | None = typer.Option(
        None, "--cooldown-tokens", help="WSD: also measure a cooldown ending here (repeatable)."
    ),
    warmup_tokens: float | None = typer.Option(
        None, "--warmup-tokens", help="Warmup length (default: 5% of the tokens)."
    ),
    eval_tokens: int = typer.Option(16384, "--eval-tokens", help="Validation set size."),
    min_digits: int = typer.Option(1, "--min-digits", help="Arithmetic: fewest operand digits."),
    max_digits: int = typer.Option(4, "--max-digits", help="Arithmetic: most operand digits."),
    markov_order: int = typer.Option(2, "--markov-order", help="Markov: context order k."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation and data order."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0: all cores)."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the model."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for measurements, checkpoints (resume) and the tokenizer."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a run of another configuration already in --out."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Train one model and print its measurements (exit 1 if it diverged, 130 if interrupted).

    Ctrl-C stops at the next step; with --out the run is checkpointed and the same command
    resumes it.
    """
    from scalinglab.train import RunConfig, train_run

    cfg = RunConfig(
        corpus=corpus,
        corpus_path=str(corpus_path) if corpus_path is not None else None,
        vocab_size=vocab_size,
        family=family,
        params=params,
        tokens=tokens,
        n_layer=n_layer,
        d_model=d_model,
        n_head=n_head,
        n_ctx=n_ctx,
        positions=positions,
        tied_embeddings=tied_embeddings,
        batch_tokens=batch_tokens,
        lr=lr,
        schedule=schedule,
        cooldown_tokens=tuple(cooldown_tokens or ()),
        warmup_tokens=warmup_tokens,
        eval_tokens=eval_tokens,
        min_digits=min_digits,
        max_digits=max_digits,
        markov_order=markov_order,
        seed=seed,
        device=device,
        threads=threads,
        compile=compile_model,
    )
    interrupted = {"flag": False}

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted["flag"] = True

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: leave Ctrl-C alone
        previous = None
    progress = Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        TextColumn("{task.fields[status]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=as_json,
    )
    task = progress.add_task("train", total=1.0, status="")

    def show(update: dict[str, Any]) -> None:
        val = update.get("val_loss")
        status = (
            f"{update['tokens']:,}/{update['tokens_total']:,} tok  "
            f"loss {update['loss']:.3f}"
            + (f"  val {val:.3f}" if val is not None else "")
            + f"  {update['tokens_per_second']:,.0f} tok/s"
        )
        if not progress.live.is_started:
            progress.start()  # only once training runs, so input errors print cleanly
        progress.update(task, completed=update["tokens"] / update["tokens_total"], status=status)

    try:
        result = train_run(cfg, out_dir=out, progress=show,
                           should_stop=lambda: interrupted["flag"], overwrite=overwrite)
    finally:
        if progress.live.is_started:
            progress.stop()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    if as_json:
        print_json(
            result.summary() | {"measurements": result.measurements.to_dict(orient="records")}
        )
    else:
        _print_result(result, out)
    if result.status == "diverged":
        raise typer.Exit(code=1)
    if result.status == "interrupted":
        raise typer.Exit(code=130)


def _print_result(result: RunResult, out: Path | None) -> None:
    summary = Table(title=f"{result.run}: {result.status}", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    rows = [
        ("corpus", f"{result.config.corpus} ({result.corpus_fingerprint})"),
        (
            "shape",
            "n_layer {n_layer}, d_model {d_model}, n_head {n_head}, n_ctx {n_ctx}".format(
                **result.shape
            ),
        ),
        ("params (non-embedding)", f"{result.params:,} ({result.params_nonembedding:,})"),
        ("FLOPs per token", f"{result.flops_per_token:,.0f}"),
        (
            "tokens",
            f"{result.tokens:,} in {result.shape.get('steps', '?')} steps of "
            f"{result.shape.get('batch_tokens', '?')}",
        ),
        ("peak lr", f"{result.info.get('lr', float('nan')):.3g}"),
        (
            "final loss (nats/token)",
            "-" if result.final_loss is None else f"{result.final_loss:.4f}",
        ),
        ("tokens/s", f"{result.tokens_per_second:,.0f}"),
        ("seconds", f"{result.seconds:.1f}"),
    ]
    if result.accuracy is not None:
        rows.append(("exact-match accuracy", f"{result.accuracy:.3f}"))
    if "entropy_rate" in result.info:
        rows.append(("entropy rate (true E)", f"{result.info['entropy_rate']:.4f}"))
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)

    table = Table(title="measurements")
    for column in ("tokens", "flops", "loss", "phase", "final"):
        table.add_column(column, justify="right")
    for _, row in result.measurements.iterrows():
        table.add_row(
            f"{row['tokens']:,}",
            f"{row['flops']:.3g}",
            f"{row['loss']:.4f}",
            row["phase"],
            "yes" if row["final"] else "",
        )
    console.print(table)
    if result.status == "diverged":
        note("the loss became NaN or infinite; try a lower --lr")
    if result.status == "interrupted":
        if out is None:
            note("interrupted; without --out nothing was saved")
        else:
            note(f"interrupted; checkpoint in {out}, run the same command to resume")
    elif out is not None:
        note(f"measurements written to {out / 'measurements.csv'}")
