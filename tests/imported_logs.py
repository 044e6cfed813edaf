"""Training logs in each tool's own layout, drawn from a known Chinchilla law (for the importer
tests).

20 runs: 5 sizes N in [1e7, 1e9] x 4 token budgets D in [2e8, 2e10], so that the final rows
span the (N, D) plane. Each run logs 10 evaluations at 10%, 20%, ..., 100% of its budget; the
last is the law's loss, the earlier ones 5% above it (a checkpoint at the running learning rate
is not an annealed model: a fit that used them would put E, A and B about 5% high, and the
tests require the fit to use one row per run), all with 0.2% multiplicative noise (seeded).
A step-0 evaluation (log(vocab) nats) and a training loss 10% above the law are logged too
where the tool would log them: an importer must drop the first and not take the second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRUTH = {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 410.0, "beta": 0.28}  # B: Hoffmann's
SIZES = np.geomspace(1e7, 1e9, 5)
BUDGETS = np.geomspace(2e8, 2e10, 4)
TOKENS_PER_STEP = 65536
EVALUATIONS = 10
UNANNEALED = 1.05
TRAIN_ABOVE = 1.10
NOISE = 0.002
STEP0_LOSS = 10.8249  # ln(50257): an untrained model

# Llama-style shapes (hidden, layers, intermediate, heads, kv heads) and their non-embedding
# counts by hand: per layer q and o d^2 each, k and v d x (kv heads x d / heads) each, the
# gated MLP 3 d I, two RMSNorms 2d; plus the final norm d. E.g. the first:
# 10 x (2*256^2 + 2*256*256 + 3*256*1024 + 2*256) + 256 = 10,491,136.
LLAMA_SHAPES = ((256, 10, 1024, 4, 4), (512, 8, 2048, 8, 8), (768, 12, 3072, 12, 4),
                (1024, 20, 4096, 16, 16), (1536, 24, 4096, 12, 4))
LLAMA_NONEMBEDDING = (10_491_136, 33_563_136, 103_828_224, 335_586_304, 604_055_040)
LLAMA_VOCAB = 32000


def law(n: float, d: np.ndarray | float) -> np.ndarray:
    t = TRUTH
    return t["E"] + t["A"] / n ** t["alpha"] + t["B"] / np.asarray(d, float) ** t["beta"]


@dataclass(frozen=True)
class Run:
    """One run of the grid: its name, the N its losses were drawn at, its evaluations."""

    name: str
    size: int  # index into SIZES
    params: int
    steps: np.ndarray  # evaluation steps, 10 of them (no step 0)
    losses: np.ndarray  # validation losses at those steps (the last annealed)
    train_steps: np.ndarray
    train_losses: np.ndarray

    @property
    def tokens(self) -> np.ndarray:
        return self.steps * TOKENS_PER_STEP

    @property
    def final_steps(self) -> int:
        return int(self.steps[-1])


def grid(params: tuple[int, ...] | None = None, seed: int = 0) -> list[Run]:
    """The 20 runs; `params` gives each size's exact count (default: SIZES rounded)."""
    rng = np.random.default_rng(seed)
    counts = params or tuple(int(round(n)) for n in SIZES)
    runs = []
    for i, n in enumerate(counts):
        for d in BUDGETS:
            total = int(round(d / TOKENS_PER_STEP))
            steps = np.array([round(total * k / EVALUATIONS) for k in range(1, EVALUATIONS + 1)])
            factor = np.where(np.arange(1, EVALUATIONS + 1) < EVALUATIONS, UNANNEALED, 1.0)
            losses = law(n, steps * TOKENS_PER_STEP) * factor * np.exp(
                rng.normal(0, NOISE, steps.size))
            train_steps = np.unique(np.linspace(total / 40, total, 40).round().astype(int))
            train = law(n, train_steps * TOKENS_PER_STEP) * TRAIN_ABOVE * np.exp(
                rng.normal(0, NOISE, train_steps.size))
            runs.append(Run(f"N{n}_D{d:.0e}", i, n, steps, losses, train_steps, train))
    return runs


# --- TensorBoard: one folder per run, written by PyTorch's SummaryWriter ------------------------


def write_tensorboard(root: Path, runs: list[Run]) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    for run in runs:
        writer = SummaryWriter(str(root / run.name))
        writer.add_scalar("val/loss", STEP0_LOSS, 0)
        for step, loss in zip(run.train_steps, run.train_losses, strict=True):
            writer.add_scalar("train/loss", float(loss), int(step))
            writer.add_scalar("train/lr", 3e-4, int(step))
        for step, loss in zip(run.steps, run.losses, strict=True):
            writer.add_scalar("val/loss", float(loss), int(step))
        writer.close()
    return root


# --- W&B: a chart export and the runs table, as the UI writes them ------------------------------


def write_wandb(root: Path, runs: list[Run], extra_table_run: bool = True) -> tuple[Path, Path]:
    """`chart.csv` (Step, RUN - val/loss, RUN - val/loss__MIN, RUN - val/loss__MAX) and
    `runs_table.csv` (Name, State, ..., config and summary columns)."""
    import csv

    steps = sorted({int(s) for run in runs for s in run.steps})
    chart = root / "wandb_export_chart.csv"
    with open(chart, "w", newline="") as handle:
        out = csv.writer(handle, quoting=csv.QUOTE_ALL)  # the UI quotes every cell
        header = ["Step"]
        for run in runs:
            header += [f"{run.name} - val/loss", f"{run.name} - val/loss__MIN",
                       f"{run.name} - val/loss__MAX"]
        out.writerow(header)
        by_run = [dict(zip(run.steps.tolist(), run.losses.tolist(), strict=True))
                  for run in runs]
        for step in steps:
            row: list[object] = [step]
            for values in by_run:
                value = values.get(step)
                row += ["", "", ""] if value is None else [value, value, value]
            out.writerow(row)
    table = root / "wandb_export_runs.csv"
    with open(table, "w", newline="") as handle:
        out = csv.writer(handle, quoting=csv.QUOTE_ALL)
        out.writerow(["Name", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep",
                      "lr", "n_params", "_runtime", "_step", "_timestamp", "val/loss"])
        rows = [(run.name, run.params, run.final_steps, run.losses[-1]) for run in runs]
        if extra_table_run:
            rows.append(("crashed-early", 12345, 10, 9.5))
        for name, params, step, loss in rows:
            out.writerow([name, "finished", "-", "someone", "", "2024-05-01T10:00:00.000Z",
                          "3600", "", "0.0003", params, "3600.5", step, "1714557600", loss])
    return chart, table


# --- MLflow: the file store's layout ------------------------------------------------------------


def write_mlflow(root: Path, runs: list[Run]) -> Path:
    import yaml

    mlruns = root / "mlruns"
    experiment = mlruns / "0"
    experiment.mkdir(parents=True)
    (mlruns / ".trash").mkdir()
    (experiment / "meta.yaml").write_text(yaml.safe_dump({
        "artifact_location": f"file://{experiment}", "creation_time": 1714557600000,
        "experiment_id": "0", "last_update_time": 1714557600000, "lifecycle_stage": "active",
        "name": "Default"}))
    rng = np.random.default_rng(1)
    for run in [*runs, None]:
        run_id = "".join(rng.choice(list("0123456789abcdef"), 32))
        folder = experiment / run_id
        for sub in ("metrics/val", "metrics/train", "params", "tags", "artifacts"):
            (folder / sub).mkdir(parents=True)
        name = run.name if run is not None else "deleted-run"
        (folder / "meta.yaml").write_text(yaml.safe_dump({
            "artifact_uri": f"file://{folder}/artifacts", "end_time": 1714561200000,
            "entry_point_name": "", "experiment_id": "0",
            "lifecycle_stage": "active" if run is not None else "deleted",
            "run_id": run_id, "run_name": name, "run_uuid": run_id, "source_name": "",
            "source_type": 4, "source_version": "", "start_time": 1714557600000, "status": 3,
            "tags": [], "user_id": "someone"}))
        (folder / "tags" / "mlflow.runName").write_text(name)
        (folder / "tags" / "mlflow.user").write_text("someone")
        (folder / "tags" / "mlflow.source.name").write_text("train.py")
        (folder / "params" / "n_params").write_text(str(run.params if run else 1000))
        (folder / "params" / "tokens_per_step").write_text(str(TOKENS_PER_STEP))
        (folder / "params" / "lr").write_text("0.0003")
        if run is None:
            (folder / "metrics" / "val" / "loss").write_text("1714557600000 3.0 10\n")
            continue
        lines = [f"{1714557600000 + int(s)} {v} {int(s)}\n"
                 for s, v in zip(run.steps, run.losses, strict=True)]
        (folder / "metrics" / "val" / "loss").write_text("".join(lines))
        lines = [f"{1714557600000 + int(s)} {v} {int(s)}\n"
                 for s, v in zip(run.train_steps, run.train_losses, strict=True)]
        (folder / "metrics" / "train" / "loss").write_text("".join(lines))
    return mlruns


# --- Hugging Face Trainer: trainer_state.json and config.json per run ---------------------------


def llama_config(shape: tuple[int, int, int, int, int]) -> dict[str, object]:
    hidden, layers, intermediate, heads, kv_heads = shape
    return {"architectures": ["LlamaForCausalLM"], "attention_bias": False,
            "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
            "hidden_act": "silu", "hidden_size": hidden, "initializer_range": 0.02,
            "intermediate_size": intermediate, "max_position_embeddings": 2048,
            "mlp_bias": False, "model_type": "llama", "num_attention_heads": heads,
            "num_hidden_layers": layers, "num_key_value_heads": kv_heads, "pretraining_tp": 1,
            "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16",
            "transformers_version": "4.44.2", "use_cache": True, "vocab_size": LLAMA_VOCAB}


def trainer_state(run: Run, upto: int | None = None) -> dict[str, object]:
    """A trainer_state.json as `Trainer` saves it (history up to step `upto`)."""
    last = run.final_steps if upto is None else upto
    history: list[dict[str, object]] = []
    entries = [(int(s), "train", float(v)) for s, v in zip(run.train_steps, run.train_losses,
                                                          strict=True)]
    entries += [(int(s), "eval", float(v)) for s, v in zip(run.steps, run.losses, strict=True)]
    for step, kind, value in sorted(entries, key=lambda e: (e[0], e[1] == "eval")):
        if step > last:
            continue
        epoch = round(step / run.final_steps, 4)
        if kind == "train":
            history.append({"epoch": epoch, "grad_norm": 0.41, "learning_rate": 3e-4,
                            "loss": round(value, 4), "step": step})
        else:
            history.append({"epoch": epoch, "eval_loss": value, "eval_runtime": 12.3,
                            "eval_samples_per_second": 81.3, "eval_steps_per_second": 10.2,
                            "step": step})
    if upto is None:
        history.append({"epoch": 1.0, "step": last, "total_flos": 1.2e18,
                        "train_loss": float(np.mean(run.train_losses)),
                        "train_runtime": 3600.1, "train_samples_per_second": 120.5,
                        "train_steps_per_second": 0.9})
    return {"best_metric": float(run.losses.min()), "best_model_checkpoint": None,
            "epoch": round(last / run.final_steps, 4), "eval_steps": int(run.steps[0]),
            "global_step": last, "is_hyper_param_search": False,
            "is_local_process_zero": True, "is_world_process_zero": True,
            "log_history": history, "logging_steps": 50, "max_steps": run.final_steps,
            "num_input_tokens_seen": 0, "num_train_epochs": 1, "save_steps": 500,
            "stateful_callbacks": {"TrainerControl": {"args": {"should_save": True},
                                                      "attributes": {}}},
            "total_flos": 1.2e18, "train_batch_size": 8, "trial_name": None,
            "trial_params": None}


def write_hf(root: Path, runs: list[Run]) -> Path:
    """out/RUN/{trainer_state.json, config.json} and out/RUN/checkpoint-HALF/ (an older state)."""
    out = root / "out"
    for run in runs:
        folder = out / run.name
        half = folder / f"checkpoint-{int(run.steps[4])}"
        half.mkdir(parents=True)
        config = json.dumps(llama_config(LLAMA_SHAPES[run.size]), indent=2)
        for where, upto in ((folder, None), (half, int(run.steps[4]))):
            (where / "trainer_state.json").write_text(json.dumps(trainer_state(run, upto),
                                                                 indent=2))
            (where / "config.json").write_text(config)
    return out


# --- nanoGPT: train.py's stdout -----------------------------------------------------------------

POSITION_EMBEDDINGS = 1024 * 768
NON_DECAYED = 121_344


def nanogpt_total(run: Run) -> int:
    """Every trainable parameter: the reported count plus the position embeddings."""
    return run.params + POSITION_EMBEDDINGS


def write_nanogpt(root: Path, runs: list[Run]) -> list[Path]:
    """One log per run, as `python train.py ... | tee RUN.log` writes it."""
    paths = []
    for run in runs:
        lines = [
            "Overriding config with config/train_gpt2.py:",
            f"tokens per iteration will be: {TOKENS_PER_STEP:,}",
            "found vocab_size = 50257 (inside data/openwebtext/meta.pkl)",
            "Initializing a new model from scratch",
            f"number of parameters: {run.params / 1e6:.2f}M",
            f"num decayed parameter tensors: 50, with {nanogpt_total(run) - NON_DECAYED:,} "
            "parameters",
            f"num non-decayed parameter tensors: 98, with {NON_DECAYED:,} parameters",
            "using fused AdamW: True",
            "compiling the model... (takes a ~minute)",
            f"step 0: train loss {STEP0_LOSS:.4f}, val loss {STEP0_LOSS + 0.001:.4f}",
        ]
        evals = dict(zip(run.steps.tolist(), run.losses.tolist(), strict=True))
        trains = dict(zip(run.train_steps.tolist(), run.train_losses.tolist(), strict=True))
        for step in sorted(set(evals) | set(trains)):
            if step in evals:
                lines.append(f"step {step}: train loss {evals[step] * 0.99:.4f}, "
                             f"val loss {evals[step]:.4f}")
                lines.append(f"saving checkpoint to out-{run.name}")
            if step in trains:
                lines.append(f"iter {step}: loss {trains[step]:.4f}, time 512.34ms, "
                             "mfu 31.25%")
        path = root / f"{run.name}.log"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


# --- Generic JSON Lines: one file per run ----------------------------------------------------


def write_jsonl(root: Path, runs: list[Run]) -> list[Path]:
    paths = []
    for run in runs:
        rows = [{"step": 0, "val_loss": STEP0_LOSS, "n_params": run.params}]
        rows += [{"step": int(s), "val_loss": float(v), "n_params": run.params,
                  "tokens": int(s) * TOKENS_PER_STEP}
                 for s, v in zip(run.steps, run.losses, strict=True)]
        rows += [{"step": int(s), "train_loss": float(v)}
                 for s, v in zip(run.train_steps, run.train_losses, strict=True)]
        rows.sort(key=lambda r: r["step"])
        path = root / f"{run.name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(path)
    return paths
