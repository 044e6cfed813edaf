"""`scalinglab plan` and `scalinglab fermi`: decisions and back-of-the-envelope estimates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from scalinglab.cli.app import JSON_OPTION, app, console, note, print_json, styled, user_errors


def _quantity_table(
    title: str, rows: dict[str, Any], intervals: dict[str, Any] | None = None
) -> Table:
    table = Table(title=styled((title, "bold")), title_justify="left", min_width=len(title) + 4)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    if intervals:
        table.add_column("95% interval", justify="right")
    for key, value in rows.items():
        if isinstance(value, dict):
            if key == "shape":  # the run to train: its shape, size and tokens
                value = (f"{value['family']} n_layer={value['n_layer']} "
                         f"d_model={value['d_model']} n_head={value['n_head']}, "
                         f"N={value['n_params']:.4g}, D={value['tokens']:.4g}")
                table.add_row("run to train", value, *([""] if intervals else []))
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        cells = [key, shown]
        if intervals:
            lo_hi = intervals.get(key)
            cells.append(f"{lo_hi[0]:.4g} – {lo_hi[1]:.4g}" if lo_hi else "")
        table.add_row(*cells)
    return table


def _check_unique_tokens(law: Any, unique_tokens: float) -> None:
    """The data-limited plan needs more unique tokens than a 1-FLOP compute-optimal run uses."""
    from scalinglab import decide
    from scalinglab.errors import ScalinglabError

    floor = decide.compute_optimal(law, 1.0)["tokens"]
    if unique_tokens <= floor:
        raise ScalinglabError(
            f"--unique-tokens {unique_tokens:g} is below what this law's compute-optimal run of "
            f"one FLOP already uses ({floor:.3g} tokens); give the unique tokens you have")
    ceiling = decide.compute_optimal(law, 1e40)["tokens"]
    if unique_tokens >= ceiling:
        raise ScalinglabError(
            f"--unique-tokens {unique_tokens:g} is more than this law's compute-optimal run of "
            f"1e40 FLOPs uses ({ceiling:.3g} tokens): data does not limit any plan")


# Options `plan` and `predict` share (one declaration, one meaning).
PUBLISHED_LAW_OPTION = typer.Option(
    None, "--law", help="A published law: chinchilla-hoffmann, chinchilla-epoch, kaplan."
)
FIT_OPTION = typer.Option(None, "--fit", help="A FIT.json from `scalinglab fit`.")
ACCURACY_OPTION = typer.Option(
    None, "--accuracy", help="An ACCURACY.json (`fit-accuracy --out`): the task's accuracy."
)
TASK_OPTION = typer.Option(None, "--task", help="The task of --accuracy.")
ALLOW_OPTION = typer.Option(
    False, "--allow-extrapolation",
    help="Answer even beyond the limit (1e4x the fitted compute; docs/uncertainty.md).",
)


@app.command()
@user_errors
def plan(
    compute: float | None = typer.Option(
        None, "--compute", help="Training compute budget in FLOPs."
    ),
    gpu_hours: float | None = typer.Option(
        None, "--gpu-hours", help="The budget as GPU-hours of --gpu (or --peak-flops) at --mfu."
    ),
    budget_usd: float | None = typer.Option(
        None, "--budget-usd", help="The budget in dollars, at --price-per-hour per GPU-hour."
    ),
    peak_flops: float | None = typer.Option(
        None, "--peak-flops", help="Peak FLOP/s of one accelerator (instead of a named --gpu)."
    ),
    law_name: str | None = PUBLISHED_LAW_OPTION,
    fit_path: Path | None = FIT_OPTION,
    inference_tokens: float | None = typer.Option(
        None, "--inference-tokens", help="Tokens to be served: minimise training + inference FLOPs."
    ),
    unique_tokens: float | None = typer.Option(
        None, "--unique-tokens", help="Unique tokens available: plan with repeated data."
    ),
    gpu: str | None = typer.Option(None, "--gpu", help="a100, h100 or h200: add time and energy."),
    mfu: float = typer.Option(0.4, "--mfu", help="Model-FLOPs utilisation assumed with --gpu."),
    n_gpus: int = typer.Option(1, "--n-gpus", help="GPUs training in parallel (wall-clock days)."),
    price_per_hour: float | None = typer.Option(
        None, "--price-per-hour", help="Price of one GPU-hour, for a cost estimate."
    ),
    family: str | None = typer.Option(
        None, "--family", help="transformer or lstm: the shapes whose exact FLOPs a fit counted."
    ),
    vocab_size: int | None = typer.Option(
        None, "--vocab-size", help="Vocabulary of the fitted runs (exact-FLOPs fits)."
    ),
    n_ctx: int | None = typer.Option(
        None, "--n-ctx", help="Context of the fitted runs (exact-FLOPs fits)."
    ),
    allow_extrapolation: bool = ALLOW_OPTION,
    accuracy_path: Path | None = ACCURACY_OPTION,
    task: str | None = TASK_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Compute-optimal model size and tokens for a budget, with the predicted loss.

    A fit of the lab's own runs plans in its own convention: the run recommended spends exactly
    --compute in exact FLOPs (weights, attention, output layer) and names its shape.
    """
    from scalinglab import accounting, decide, laws
    from scalinglab.errors import ScalinglabError
    from scalinglab.extrapolation import Extrapolation

    compute, budget = _budget(compute, gpu_hours, budget_usd, gpu, mfu, peak_flops,
                              price_per_hour)
    if task is not None and accuracy_path is None:
        raise ScalinglabError("--task goes with --accuracy ACCURACY.json")
    law, samples = decide.load_law(law_name, fit_path)
    saved = laws.read_fit(fit_path) if fit_path is not None else None
    given = {"family": family, "vocab_size": vocab_size, "n_ctx": n_ctx}
    if any(given.values()):
        law.accounting = {**(law.accounting or {"exact": True}),
                          **{k: v for k, v in given.items() if v}}
    result = decide.plan(law, compute, samples, allow_extrapolation)
    reach = Extrapolation(**result["extrapolation"]) if "extrapolation" in result else None
    result = {"law": law.name if law_name is None else law_name, **result}
    if budget:
        result["budget"] = budget
    result.update(_at_the_optimum(law, saved, result, accuracy_path, task))
    if inference_tokens is not None:
        result["inference_aware"] = decide.with_intervals(
            lambda lw: decide.inference_optimal(lw, compute, inference_tokens), law, samples
        )
    if unique_tokens is not None:
        _check_unique_tokens(law, unique_tokens)
        result["data_limited"] = decide.with_intervals(
            lambda lw: decide.data_limited_optimal(lw, compute, unique_tokens), law, samples
        )
    if gpu is not None or peak_flops is not None:
        result["hardware"] = accounting.hardware_cost(
            compute, gpu, mfu=mfu, n_gpus=n_gpus, price_per_gpu_hour=price_per_hour,
            peak_flops=peak_flops)
    if reach is not None and reach.sentence():
        note(reach.sentence())  # stderr, also under --json
    if "intervals" in result and "forms" not in result:
        note(f"intervals are conditional on the {law.name} form (fit with --law auto to carry "
             "the forms the data cannot tell apart)")
    if as_json:
        print_json(result)
        return
    console.print(
        _quantity_table(f"Compute-optimal plan at {compute:.3g} FLOPs ({result['law']})",
                        result, result.get("intervals"))
    )
    if "forms" in result:
        losses = ", ".join(f"{name} {value:.4f}" for name, value in result["forms"]["loss"].items())
        lo, hi = result["forms"]["interval"]
        console.print(f"the planned run's loss under each form the data cannot tell apart: "
                      f"{losses}; 95% over forms {lo:.4f} – {hi:.4f}", highlight=False)
    if "accuracy" in result:
        shown = result["accuracy"]
        span = (f" [{shown['interval'][0]:.4f}, {shown['interval'][1]:.4f}] (both stages)"
                if shown["interval"] else "")
        console.print(f"{shown['task']} accuracy of the planned run: {shown['accuracy']:.4f}"
                      f"{span}", highlight=False)
    for key, title in (("inference_aware", f"Inference-aware ({inference_tokens:.3g} tokens served)"
                        if inference_tokens is not None else ""),
                       ("data_limited", f"Data-limited ({unique_tokens:.3g} unique tokens)"
                        if unique_tokens is not None else ""),
                       ("hardware", "Hardware")):
        if key in result:
            console.print(_quantity_table(title, result[key], result[key].get("intervals")))


def _budget(compute: float | None, gpu_hours: float | None, budget_usd: float | None,
            gpu: str | None, mfu: float, peak_flops: float | None,
            price_per_hour: float | None) -> tuple[float, dict[str, Any]]:
    """The budget in FLOPs, from exactly one of --compute, --gpu-hours, --budget-usd; and how
    it was converted (empty for --compute)."""
    from scalinglab import accounting
    from scalinglab.errors import ScalinglabError

    given = [flag for flag, value in (("--compute", compute), ("--gpu-hours", gpu_hours),
                                      ("--budget-usd", budget_usd)) if value is not None]
    if len(given) != 1:
        raise ScalinglabError("give the budget as exactly one of --compute FLOPS, --gpu-hours H "
                              f"or --budget-usd X (got {', '.join(given) or 'none'})")
    if compute is not None:
        return compute, {}
    if budget_usd is not None:
        if price_per_hour is None or price_per_hour <= 0:
            raise ScalinglabError("--budget-usd needs --price-per-hour (dollars per GPU-hour, "
                                  "above 0)")
        gpu_hours = budget_usd / price_per_hour
    assert gpu_hours is not None
    flops = accounting.flops_from_gpu_hours(gpu_hours, gpu, mfu, peak_flops)
    spec = accounting.accelerator(gpu, peak_flops)
    return flops, {"gpu_hours": gpu_hours, "gpu": spec["name"], "peak_flops": spec["peak_flops"],
                   "mfu": mfu, "usd": budget_usd, "flops": flops}


def _at_the_optimum(law: Any, saved: Any, optimum: dict[str, Any], accuracy_path: Path | None,
                    task: str | None) -> dict[str, Any]:
    """What one prediction at the planned (N, D) adds (`predictions.predict`): the loss under
    each form tied with the law (`--law auto` fits) with the interval over forms, and the
    task's accuracy with its two-stage interval; {} when there is neither."""
    from scalinglab.laws.downstream import load_accuracy_law
    from scalinglab.predictions import forms_sentence, predict

    forms = saved.forms if saved is not None else {}
    accuracy = load_accuracy_law(accuracy_path, task) if accuracy_path is not None else None
    if not forms and accuracy is None:
        return {}
    row = predict(law, optimum["n_params"], optimum["tokens"],
                  saved.boot if saved is not None else None, accuracy=accuracy,
                  forms=forms).iloc[0]
    out: dict[str, Any] = {}
    if forms:
        sentence = forms_sentence(row)
        if sentence:
            note(sentence)
        out["forms"] = {
            "loss": {law.name: float(row["loss"]),
                     **{name: float(row[f"loss[{name}]"]) for name in forms}},
            "interval": [float(row["forms_lo"]), float(row["forms_hi"])],
            "run_interval": [float(row["forms_run_lo"]), float(row["forms_run_hi"])],
            "spread": float(row["forms_spread"]), "sentence": sentence}
    if accuracy is not None:
        out["accuracy"] = {
            "task": accuracy.task, "form": accuracy.form, "accuracy": float(row["accuracy"]),
            "interval": None if row["accuracy_lo"] != row["accuracy_lo"] else
            [float(row["accuracy_lo"]), float(row["accuracy_hi"])]}
    return out


@app.command()
@user_errors
def fermi(
    n_layer: int = typer.Option(..., "--n-layer", help="Transformer blocks."),
    d_model: int = typer.Option(..., "--d-model", help="Residual stream width."),
    n_ctx: int = typer.Option(2048, "--n-ctx", help="Context length in tokens."),
    vocab: int = typer.Option(50257, "--vocab", help="Vocabulary size."),
    tokens: float | None = typer.Option(None, "--tokens", help="Training tokens."),
    gpu: str | None = typer.Option(None, "--gpu", help="a100, h100 or h200."),
    mfu: float = typer.Option(0.4, "--mfu", help="Model-FLOPs utilisation assumed with --gpu."),
    n_gpus: int = typer.Option(1, "--n-gpus", help="GPUs training in parallel."),
    ffn_mult: float = typer.Option(4.0, "--ffn-mult", help="MLP width / d_model."),
    n_head: int | None = typer.Option(
        None, "--n-head", help="Attention heads (default: d_model / 128)."
    ),
    n_kv_heads: int | None = typer.Option(
        None, "--n-kv-heads", help="Key/value heads (grouped-query attention; default: n_head)."
    ),
    tied_embeddings: bool = typer.Option(
        True, "--tied-embeddings/--untied-embeddings",
        help="Whether the output layer shares the token embedding's weights (GPT-2/3 do).",
    ),
    gated_ffn: bool = typer.Option(
        False, "--gated-ffn", help="A gated MLP (SwiGLU, as in Llama): three matrices, not two."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fermi estimates: parameters, FLOPs per token, attention share, PF-days, GPU-days, data.

    Hardware time is counted from the full FLOPs (attention and output layer included).
    """
    from scalinglab.accounting import fermi_estimate, gpu_spec

    if gpu is not None:
        gpu_spec(gpu)  # a known GPU, even when no --tokens makes it used
    estimate = fermi_estimate(n_layer, d_model, n_ctx=n_ctx, vocab_size=vocab, tokens=tokens,
                              gpu=gpu, mfu=mfu, n_gpus=n_gpus, ffn_mult=ffn_mult,
                              n_head=n_head, n_kv_heads=n_kv_heads,
                              tied_embeddings=tied_embeddings, gated_ffn=gated_ffn)
    if as_json:
        print_json(estimate)
        return
    title = f"Fermi estimate: {n_layer} layers x d_model {d_model}"
    console.print(_quantity_table(title, estimate))
    if "data_stock_fractions" in estimate:
        console.print(_quantity_table("Training tokens as a fraction of data stocks",
                                      estimate["data_stock_fractions"]))
    if "hardware" in estimate:
        console.print(_quantity_table("Hardware", estimate["hardware"]))
