"""Hugging Face Trainer checkpoints: `trainer_state.json`, with `config.json` for the count.

`trainer_state.json` keeps `log_history`, a list of dicts: training entries
(`loss`, `learning_rate`, `grad_norm`, `epoch`, `step`), evaluation entries (`eval_loss`,
`eval_runtime`, ..., `epoch`, `step`) and one end-of-training summary (`train_loss`, the run's
average, with `train_runtime`; it is not an evaluation and is skipped). A run folder holds its
final `trainer_state.json` and/or `checkpoint-STEP/` folders, each with the history up to that
step: the run folder's own state is read, else its latest checkpoint's.

Tokens: `train_batch_size` in the file is per device and the file records neither gradient
accumulation nor sequence length, so tokens come from a logged `num_input_tokens_seen`
(`include_num_input_tokens_seen=True`) or from `--tokens-per-step`.

Params: the exact count of the model in `config.json` (beside the state, or in the run folder
above a checkpoint), by `params_from_hf_config`: GPT-2 and Llama-style decoders.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scalinglab.accounting import ParamCount
from scalinglab.errors import ScalinglabError
from scalinglab.importers.common import (
    ImportOptions,
    RunLog,
    StatedCount,
    check_paths,
    to_step,
    walk,
)

NAME = "hf-trainer-state"
PREFERRED_METRICS = ("eval_loss", "loss")
STATE_FILE = "trainer_state.json"
CHECKPOINT = re.compile(r"checkpoint-(\d+)$")
NOT_METRICS = ("step", "epoch")
TOKENS_HINT = ("trainer_state.json's train_batch_size is per device, without gradient "
               "accumulation or sequence length")

# Llama-style decoders (gated MLP, RMSNorm, rotary positions); Qwen2 adds q/k/v biases.
LLAMA_TYPES = ("llama", "mistral", "qwen2")
GPT2_TYPES = ("gpt2",)


def params_from_hf_config(config: Mapping[str, Any]) -> ParamCount:
    """Exact parameters of a GPT-2 or Llama-style decoder described by a `config.json`.

    GPT-2 (`n_layer`, `n_embd`, `n_positions`; nanoGPT's `block_size` and `bias` too): per block
    two LayerNorms with bias, a fused q/k/v projection and an output projection, a 4x MLP
    (`n_inner`), all with biases; a final LayerNorm; learned position embeddings; the output
    layer tied to the token embeddings unless `tie_word_embeddings` is false.
    Llama (`num_hidden_layers`, `hidden_size`, `intermediate_size`, `num_attention_heads`,
    `num_key_value_heads`, `head_dim`): q/k/v/o projections (grouped-query k/v), a gated MLP of
    three matrices, two RMSNorms per block and a final one, rotary positions (no parameters),
    biases only where `attention_bias`/`mlp_bias` (or Qwen2's q/k/v) say; the output layer
    untied unless `tie_word_embeddings`.
    `nonembedding` excludes token and position embeddings and an untied output layer
    (Kaplan et al. 2020), as `scalinglab.accounting` counts the lab's own models.
    """
    kind = _kind(config)
    if kind == "gpt2":
        return _gpt2(config)
    return _llama(config)


def read_config_count(path: Path, option: str = "") -> ParamCount:
    """The parameter count of the model a `config.json` describes (one line if it cannot;
    `option` names the flag that gave the path)."""
    label = f"{option} {path}".strip()
    config = _read_json(path, "a model config")
    if not isinstance(config, dict):
        raise ScalinglabError(f"{label}: expected a JSON object")
    try:
        return params_from_hf_config(config)
    except ScalinglabError as error:
        raise ScalinglabError(f"{label}: {error}") from None


def find_units(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """(trainer_state.json to read, run name) per run folder (module doc)."""
    check_paths(paths)
    units: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_file():
            units.append((path, _run_folder(path).name))
            continue
        states = [p for p in walk(path) if p.name == STATE_FILE and p.is_file()]
        if not states:
            raise ScalinglabError(f"{path}: the folder has no {STATE_FILE}")
        by_run: dict[Path, list[Path]] = {}
        for state in states:
            by_run.setdefault(_run_folder(state), []).append(state)
        for folder, candidates in sorted(by_run.items()):
            name = path.name if folder == path else folder.relative_to(path).as_posix()
            units.append((max(candidates, key=_global_step), name))
    return units


def read(unit: tuple[Path, str], options: ImportOptions) -> list[RunLog]:
    path, name = unit
    state = _read_json(path, STATE_FILE)
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        raise ScalinglabError(f"{path}: no 'log_history' list (is it a {STATE_FILE}?)")
    log = RunLog(name=name, path=str(path), info_origin=str(path), tokens_hint=TOKENS_HINT)
    log.info = {k: v for k, v in state.items() if not isinstance(v, list | dict)}
    for i, entry in enumerate(history):
        if not isinstance(entry, dict) or "step" not in entry or "train_runtime" in entry:
            continue  # the end-of-training summary: its train_loss is the run's average
        step = to_step(entry["step"], f"{path}:log_history[{i}]")
        for key, value in entry.items():
            if key not in NOT_METRICS:
                log.curve(key).add_raw(step, value, f"{path}:log_history[{i}].{key}")
    config = _config_path(path)
    if config is not None:
        log.params = StatedCount(read_config_count(config), "config.json", str(config))
        log.info = {**_flat(_read_json(config, "a model config")), **log.info}
    _note_unfinished(log, state)
    return [log]


def _note_unfinished(log: RunLog, state: dict[str, Any]) -> None:
    step, last = state.get("global_step"), state.get("max_steps")
    if isinstance(step, int) and isinstance(last, int) and 0 < step < last:
        log.notes.append(f"run {log.name} stopped at step {step} of max_steps {last}: its last "
                         "evaluation is mid-schedule, not an annealed model")


def _run_folder(state: Path) -> Path:
    folder = state.parent
    return folder.parent if CHECKPOINT.search(folder.name) else folder


def _global_step(state: Path) -> tuple[int, int]:
    """Sort key: a checkpoint's step (the run folder's own state after all of them)."""
    match = CHECKPOINT.search(state.parent.name)
    return (0, int(match.group(1))) if match else (1, 0)


def _config_path(state: Path) -> Path | None:
    for folder in (state.parent, _run_folder(state)):
        if (folder / "config.json").is_file():
            return folder / "config.json"
    return None


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ScalinglabError(f"{path}: cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ScalinglabError(f"{path}: not JSON, expected {what} ({error})") from None


def _flat(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        return {}
    return {k: v for k, v in config.items() if not isinstance(v, list | dict)}


def _kind(config: Mapping[str, Any]) -> str:
    model_type = str(config.get("model_type", "")).lower()
    if any(k in config for k in ("num_local_experts", "num_experts", "n_routed_experts")):
        raise ScalinglabError(f"cannot count a mixture of experts ({model_type or 'no type'}); "
                              "give --params N")
    if model_type in GPT2_TYPES or (not model_type and "n_embd" in config):
        return "gpt2"
    if model_type in LLAMA_TYPES or (not model_type and "intermediate_size" in config):
        return "llama"
    raise ScalinglabError(
        f"cannot count the parameters of model_type {model_type or '(none)'!r} (known: GPT-2 "
        f"and Llama-style decoders: {', '.join(GPT2_TYPES + LLAMA_TYPES)}); give --params N")


def _int(config: Mapping[str, Any], *names: str, default: int | None = None) -> int:
    for name in names:
        value = config.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
                    or not math.isfinite(value) or value != int(value):
                raise ScalinglabError(f"{name} = {value!r} is not a positive whole number")
            return int(value)
    if default is not None:
        return default
    raise ScalinglabError(f"the config has no {' or '.join(names)}")


def _gpt2(config: Mapping[str, Any]) -> ParamCount:
    d = _int(config, "n_embd", "hidden_size")
    layers = _int(config, "n_layer", "num_hidden_layers")
    vocab = _int(config, "vocab_size")
    positions = _int(config, "n_positions", "n_ctx", "block_size", "max_position_embeddings")
    inner = _int(config, "n_inner", default=4 * d)
    bias = bool(config.get("bias", True))
    b = 1 if bias else 0
    block = (2 * d * (1 + b)  # ln_1, ln_2 (weight, bias)
             + d * 3 * d + 3 * d * b + d * d + d * b  # c_attn, attn c_proj
             + d * inner + inner * b + inner * d + d * b)  # c_fc, mlp c_proj
    nonembedding = layers * block + d * (1 + b)  # + ln_f
    embedding = vocab * d + positions * d
    if not config.get("tie_word_embeddings", True):
        embedding += vocab * d
    return ParamCount(total=nonembedding + embedding, nonembedding=nonembedding)


def _llama(config: Mapping[str, Any]) -> ParamCount:
    d = _int(config, "hidden_size")
    layers = _int(config, "num_hidden_layers")
    vocab = _int(config, "vocab_size")
    inner = _int(config, "intermediate_size")
    heads = _int(config, "num_attention_heads")
    kv_heads = _int(config, "num_key_value_heads", default=heads)
    head_dim = _int(config, "head_dim", default=d // heads)
    qwen2 = str(config.get("model_type", "")).lower() == "qwen2"
    attention_bias = bool(config.get("attention_bias", False))
    mlp_bias = bool(config.get("mlp_bias", False))
    q, kv = heads * head_dim, kv_heads * head_dim
    attention = d * q + 2 * d * kv + q * d
    if attention_bias or qwen2:
        attention += q + 2 * kv
    if attention_bias:
        attention += d  # o_proj's bias (Qwen2 has none)
    mlp = 3 * d * inner + ((2 * inner + d) if mlp_bias else 0)
    block = attention + mlp + 2 * d  # input and post-attention RMSNorm
    nonembedding = layers * block + d  # + final norm
    embedding = vocab * d * (1 if config.get("tie_word_embeddings", False) else 2)
    return ParamCount(total=nonembedding + embedding, nonembedding=nonembedding)
