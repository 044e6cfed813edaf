"""What every importer shares: a run's log as read from disk, the options, and the one function
that turns logs into the measurements table.

A format module reads its files into `RunLog`s and decides nothing: every curve it found (a
metric's values by step, with where each value came from), the run's settings (`info`: params,
config, summary), and a parameter count or tokens per step where the source states one.
`build_table` then makes the same choices for every format, in one place:

- which metric is the loss (`--metric`, else the first of the format's preferred names: the
  validation loss before the training loss);
- tokens (`--tokens-column`, `--tokens-per-step`, a logged token count, the source's tokens per
  step, or batch size x sequence length x gradient accumulation);
- params (`--params`, `--params-from-config`, `--params-from-name`, the source's own count, or a
  setting named like `n_params`);
- flops = 6 * params * tokens (Kaplan's convention), and `final` on each run's last evaluation
  only (science.md, section 8: a checkpoint mid-schedule is not an annealed model).

Every row keeps `source`, the file (and line, tag or column) its loss came from.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.accounting import ParamCount
from scalinglab.errors import ScalinglabError
from scalinglab.measurements import COLUMNS, FINAL_FROM, apply_final_rule

# The table every importer writes: the measurements columns, then the audit trail.
OUTPUT_COLUMNS = (*COLUMNS, "step", "final", FINAL_FROM, "split", "source")

# Names tried in order when no --metric is given: validation loss first, then training loss.
VALIDATION_METRICS = ("val/loss", "eval/loss", "eval_loss", "val_loss", "validation/loss",
                      "valid/loss", "validation_loss", "valid_loss", "loss/val", "val/lm_loss")
TRAIN_METRICS = ("train/loss", "train_loss", "loss", "loss/train", "train/lm_loss", "lm_loss")
PREFERRED_METRICS = VALIDATION_METRICS + TRAIN_METRICS

# Settings (or once-logged scalars) that state a run's parameter count or its token counts.
PARAMS_NAMES = ("n_params", "num_params", "params", "parameters", "model/num_parameters",
                "num_parameters", "n_parameters", "model/n_params", "param_count")
TOKENS_NAMES = ("tokens", "num_input_tokens_seen", "tokens_seen", "train/tokens", "n_tokens")
TOKENS_PER_STEP_NAMES = ("tokens_per_step", "tokens_per_iter", "tokens_per_iteration",
                         "tokens_per_batch", "batch_tokens")
BATCH_NAMES = ("batch_size",)
SEQUENCE_NAMES = ("block_size", "seq_len", "seq_length", "sequence_length", "context_length")
ACCUMULATION_NAMES = ("gradient_accumulation_steps", "grad_accum", "grad_accum_steps",
                      "accumulation_steps")

FLOPS_NOTE = "flops derived as 6 * params * tokens (Kaplan's convention)"
DROPPED_STEP0, DROPPED_NONFINITE = "at step 0", "with a NaN or infinite loss"


@dataclass
class Curve:
    """One metric of one run in logging order: steps, values, and where each value came from
    (`FILE:LINE`, `FILE:TAG`, ...). `bad` keeps the first value that was not a number: it is
    reported only if this curve is used (as the loss or the tokens)."""

    name: str
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    bad: str | None = None

    def add(self, step: float, value: float, where: str) -> None:
        self.steps.append(float(step))
        self.values.append(float(value))
        self.where.append(where)

    def add_raw(self, step: float, raw: object, where: str) -> None:
        """Add a logged value as written (a CSV cell, a JSON value): empty is no value here."""
        try:
            value = to_float(raw)
        except ValueError:
            if self.bad is None:
                self.bad = f"{where}: {self.name} {raw!r} is not a number"
            return
        if value is not None:
            self.add(step, value, where)

    def checked(self) -> Curve:
        """This curve, or the one-line error of its first value that is not a number."""
        if self.bad is not None:
            raise ScalinglabError(self.bad)
        return self


@dataclass(frozen=True)
class Sourced:
    """A number, what kind of statement gave it, and where: (524288, "tokens per iteration
    line", "train.log:2")."""

    value: float
    origin: str
    where: str = ""


@dataclass(frozen=True)
class StatedCount:
    """A parameter count, what kind of statement gave it, and where (a file, a line).
    `nonembedding_known` is False where the source gives one number only (then
    params_nonembedding is params, embeddings included)."""

    count: ParamCount
    origin: str
    where: str = ""
    nonembedding_known: bool = True


@dataclass
class RunLog:
    """One run as a format module read it; `build_table` makes every choice about it.

    `info` holds settings by name (config, params, a runs table's summary); `params` and
    `tokens_per_step` are counts the source states itself (nanoGPT's lines, a config.json).
    `steps_known` is False where rows carry no step (a CSV without a step column), so that
    tokens cannot be step x tokens-per-step. `summary_only` marks a runs table's row (settings
    and final values); `skipped` says why a run is left out (e.g. deleted in MLflow);
    `tokens_hint` says why the format cannot know its tokens itself.
    """

    name: str
    path: str
    curves: dict[str, Curve] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    info_origin: str = ""
    params: StatedCount | None = None
    tokens_per_step: Sourced | None = None
    family: str | None = None
    steps_known: bool = True
    summary_only: bool = False
    skipped: str | None = None
    tokens_hint: str = ""
    notes: list[str] = field(default_factory=list)

    def curve(self, name: str) -> Curve:
        """The curve called `name`, created empty on first use (readers fill it)."""
        if name not in self.curves:
            self.curves[name] = Curve(name)
        return self.curves[name]


@dataclass(frozen=True)
class ImportOptions:
    """What the user told `scalinglab import` (every field optional; see `build_table`)."""

    metric: str | None = None
    tokens_per_step: float | None = None
    tokens_column: str | None = None
    params: float | None = None
    params_from_config: Path | None = None
    params_from_name: str | None = None
    family: str | None = None
    column_map: Mapping[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """One line for options that cannot work together or cannot work at all."""
        if self.tokens_per_step is not None and self.tokens_column is not None:
            raise ScalinglabError("give --tokens-per-step or --tokens-column, not both")
        if self.tokens_per_step is not None and not (
                math.isfinite(self.tokens_per_step) and self.tokens_per_step > 0):
            raise ScalinglabError(
                f"--tokens-per-step must be a positive number, got {self.tokens_per_step:g}")
        given = [flag for flag, value in (("--params", self.params),
                                          ("--params-from-config", self.params_from_config),
                                          ("--params-from-name", self.params_from_name))
                 if value is not None]
        if len(given) > 1:
            raise ScalinglabError(f"give one of {', '.join(given)}, not several")
        if self.params is not None and not (math.isfinite(self.params) and self.params > 0):
            raise ScalinglabError(f"--params must be a positive number, got {self.params:g}")
        if self.params_from_name is not None:
            name_pattern(self.params_from_name)
        if self.params_from_config is not None and not Path(self.params_from_config).is_file():
            raise ScalinglabError(f"--params-from-config {self.params_from_config}: no such file")
        if self.family is not None and not self.family.strip():
            raise ScalinglabError("--family must not be empty")


@dataclass(frozen=True)
class RunProvenance:
    """Where one imported run's numbers came from: the audit trail of a fit of imported runs.

    `*_from` is the kind of statement (e.g. "setting 'n_params'"), `*_where` the file (and
    line) that made it."""

    run: str
    path: str
    metric: str
    evaluations: int
    params: float
    params_nonembedding: float
    params_from: str
    params_where: str
    nonembedding_known: bool
    tokens_from: str
    tokens_where: str
    final_tokens: float
    final_loss: float


@dataclass(frozen=True)
class ImportResult:
    """The measurements table, the notes for the user, and each run's provenance."""

    table: pd.DataFrame
    notes: tuple[str, ...]
    runs: tuple[RunProvenance, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.table["run"].nunique(),
            "rows": len(self.table),
            "final_rows": int(self.table["final"].sum()),
            "notes": list(self.notes),
            "provenance": [vars(run) for run in self.runs],
        }


# --- Reading helpers the format modules share ---------------------------------------------


def to_float(raw: object) -> float | None:
    """A logged value as a float (NaN and inf included, thousands separated by commas read);
    None for an empty cell or a null.

    Raises ValueError for anything else (a word, a list, a boolean).
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, int | float | np.integer | np.floating):
        return float(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return None
        thousands = re.fullmatch(r"\d{1,3}(,\d{3})+", text)  # 491,520 (not 3,14)
        return float(text.replace(",", "")) if thousands else float(text)
    raise ValueError(raw)


def to_step(raw: object, where: str, column: str = "step") -> float:
    """A logged step as a float, or one line naming where it is not a finite number."""
    try:
        step = to_float(raw)
    except (ValueError, TypeError):
        step = None
    if step is None or not math.isfinite(step):
        raise ScalinglabError(f"{where}: {column} {raw!r} is not a number")
    return step


def lookup(info: Mapping[str, Any], names: Sequence[str]) -> tuple[str, Any] | None:
    """The first setting called one of `names` (case-insensitive; `model.n_params` and
    `config/n_params` answer to `n_params`), as (its name, its value); None if none is."""
    lowered = {str(key).lower(): key for key in info}
    last = {}
    for key in info:
        last.setdefault(re.split(r"[./]", str(key).lower())[-1], key)
    for name in names:
        for table in (lowered, last):
            key = table.get(name.lower())
            if key is not None and info[key] is not None and str(info[key]).strip() != "":
                return str(key), info[key]
    return None


def find_files(paths: Sequence[Path], matches: Callable[[Path], bool], what: str) -> list[Path]:
    """The files to read: each path given that is a file, and every matching file under each
    folder given (sorted; hidden folders skipped). A folder without one is one line."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
            continue
        inside = sorted(p for p in walk(path) if p.is_file() and matches(p))
        if not inside:
            raise ScalinglabError(f"{path}: the folder has no {what}")
        found.extend(inside)
    return found


def walk(folder: Path) -> Iterable[Path]:
    """Every path under `folder`, hidden folders (`.trash`, `.git`) and their contents left out."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(root)
        yield base
        for name in sorted(files):
            yield base / name


def check_paths(paths: Sequence[Path]) -> None:
    """Every path given exists (one line naming the first that does not)."""
    if not paths:
        raise ScalinglabError("give at least one PATH to import")
    for path in paths:
        if not path.exists():
            raise ScalinglabError(f"{path}: no such file or folder")


def unique_names(paths: Sequence[Path], strip_suffix: bool = True) -> list[str]:
    """A run name per path: its name (without suffix), or, where two would share one, its path
    relative to the folder all of them share."""
    names = [p.stem if strip_suffix else p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    resolved = [p.resolve() for p in paths]
    root = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    relative = [p.relative_to(root) for p in resolved]
    return [(r.with_suffix("") if strip_suffix else r).as_posix() for r in relative]


def suggestion(name: str, candidates: Iterable[object]) -> str:
    """` (did you mean 'X'?)` for the closest of `candidates`, or nothing."""
    names = {str(c).lower(): str(c) for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.6)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""


# --- From logs to the measurements table --------------------------------------------------


def build_table(logs: Sequence[RunLog], options: ImportOptions, preferred: Sequence[str],
                default_family: str) -> ImportResult:
    """The measurements table of `logs` (module doc): one row per evaluation, sorted by run and
    tokens, each run's last evaluation `final`. Raises `ScalinglabError` for bad input."""
    skipped = [log for log in logs if log.skipped]
    logs = [log for log in logs if not log.skipped]
    if not logs:
        raise ScalinglabError("no runs found" + (f" ({len(skipped)} left out: "
                              f"{skipped[0].skipped})" if skipped else ""))
    _check_unique([log.name for log in logs])
    config_count = _config_count(options.params_from_config)
    frames, provenance, empty_runs = [], [], []
    dropped = {DROPPED_STEP0: 0, DROPPED_NONFINITE: 0}
    for log in logs:
        rows, run, drops = _import_run(log, options, preferred, config_count,
                                       options.family or log.family or default_family)
        for why, n in drops.items():
            dropped[why] += n
        if run is None:
            empty_runs.append(log.name)
            continue
        frames.append(rows)
        provenance.append(run)
    if not frames:
        raise ScalinglabError(
            f"no evaluation past step 0 with a finite loss in {_runs(len(logs))}: "
            f"{', '.join(log.path for log in logs[:3])}{', ...' if len(logs) > 3 else ''}")
    table = pd.concat(frames, ignore_index=True).sort_values(["run", "tokens"], kind="stable")
    table = _mark_final(table.reset_index(drop=True))
    notes = _notes(logs, provenance, table, dropped, empty_runs)
    if skipped:
        notes.insert(0, f"left out {_runs(len(skipped))}: " + ", ".join(
            f"{log.name} ({log.skipped})" for log in skipped[:5])
            + (", ..." if len(skipped) > 5 else ""))
    return ImportResult(table=table[list(OUTPUT_COLUMNS)], notes=tuple(notes),
                        runs=tuple(provenance))


def _import_run(log: RunLog, options: ImportOptions, preferred: Sequence[str],
                config_count: ParamCount | None, family: str,
                ) -> tuple[pd.DataFrame, RunProvenance | None, dict[str, int]]:
    """One run's rows (step-0 and non-finite ones dropped, counted by reason) and provenance
    (None when no row is left)."""
    metric = choose_metric(log, options.metric, preferred)
    curve = log.curves[metric].checked()
    tokens, tokens_from = _tokens(log, curve, options)
    _check_increasing(log, curve, tokens)
    stated = _params(log, options, config_count)
    rows = _rows(log, curve, metric, tokens, stated.count, family)
    keep = rows["tokens"].gt(0) & np.isfinite(rows["loss"]) & np.isfinite(rows["tokens"])
    drops = {DROPPED_STEP0: int((rows["tokens"] == 0).sum()),
             DROPPED_NONFINITE: int((~keep & (rows["tokens"] != 0)).sum())}
    rows = rows[keep]
    if rows.empty:
        return rows, None, drops
    _check_positive(rows)
    last = rows.loc[rows["tokens"].idxmax()]
    return rows, RunProvenance(
        run=log.name, path=log.path, metric=metric, evaluations=len(rows),
        params=float(stated.count.total), params_nonembedding=float(stated.count.nonembedding),
        params_from=stated.origin, params_where=stated.where,
        nonembedding_known=stated.nonembedding_known, tokens_from=tokens_from.origin,
        tokens_where=tokens_from.where, final_tokens=float(last["tokens"]),
        final_loss=float(last["loss"])), drops


def choose_metric(log: RunLog, requested: str | None, preferred: Sequence[str]) -> str:
    """The loss curve's name: `requested`, else the first of `preferred` the run logged."""
    usable = [name for name, curve in log.curves.items() if curve.values or curve.bad]
    logged = [name for name, curve in log.curves.items() if curve.values]
    if requested is not None:
        if requested in usable:
            return requested
        raise ScalinglabError(
            f"run {log.name} ({log.path}): no metric {requested!r}; it logs "
            f"{_listing(logged)}")
    by_lower = {name.lower(): name for name in usable}
    for name in preferred:
        if name.lower() in by_lower:
            return by_lower[name.lower()]
    if not usable:
        raise ScalinglabError(f"run {log.name} ({log.path}): no values logged")
    raise ScalinglabError(
        f"run {log.name} ({log.path}): none of the usual loss names "
        f"({', '.join(preferred[:4])}, ...) is logged; give --metric NAME (it logs "
        f"{_listing(logged)})")


def split_of(metric: str) -> str:
    """`val`, `test` or `train`, from a metric's name (e.g. `eval_loss` is a validation loss)."""
    words = set(re.split(r"[^a-z]+", metric.lower()))
    if words & {"val", "eval", "valid", "validation", "dev"}:
        return "val"
    if "test" in words:
        return "test"
    return "train"


def name_pattern(pattern: str) -> re.Pattern[str]:
    """`--params-from-name`'s regular expression, checked: it compiles and has a group."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ScalinglabError(f"--params-from-name {pattern!r} is not a regular expression "
                              f"({error})") from None
    if compiled.groups < 1:
        raise ScalinglabError(f"--params-from-name {pattern!r} needs a group around the number, "
                              "e.g. 'N([0-9.e+]+)'")
    return compiled


def _listing(names: Sequence[str], limit: int = 20) -> str:
    if not names:
        return "nothing"
    shown = ", ".join(repr(n) for n in sorted(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_unique(names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ScalinglabError(f"two runs are named {name!r}; give each run its own file, "
                                  "folder or name")
        seen.add(name)


def _tokens(log: RunLog, curve: Curve, options: ImportOptions) -> tuple[np.ndarray, Sourced]:
    """Tokens seen at each of `curve`'s evaluations, and how they were found (the value is
    the tokens per step where they are step x tokens per step, else 0)."""
    steps = np.asarray(curve.steps, dtype=float)
    if options.tokens_column is not None:
        column = options.tokens_column
        if column not in log.curves or not (log.curves[column].values or log.curves[column].bad):
            logged = [n for n, c in log.curves.items() if c.values]
            raise ScalinglabError(f"run {log.name} ({log.path}): no tokens column {column!r} "
                                  f"(--tokens-column); it logs {_listing(logged)}")
        return (_joined(log, curve, log.curves[column].checked()),
                Sourced(0, f"--tokens-column {column}", log.path))
    if options.tokens_per_step is not None:
        _need_steps(log, "--tokens-per-step")
        return steps * options.tokens_per_step, Sourced(
            options.tokens_per_step, f"step x {options.tokens_per_step:,.0f} (--tokens-per-step)")
    for name in TOKENS_NAMES:
        found = next((c for n, c in log.curves.items() if n.lower() == name and c.values), None)
        if found is not None and found is not curve:
            return _joined(log, curve, found.checked()), Sourced(0, f"logged {found.name!r}",
                                                                 log.path)
    per_step = log.tokens_per_step or _tokens_per_step_from_info(log)
    if per_step is not None:
        _need_steps(log, per_step.origin)
        return steps * per_step.value, Sourced(per_step.value, f"step x {per_step.origin}",
                                               per_step.where)
    hint = f" ({log.tokens_hint})" if log.tokens_hint else ""
    raise ScalinglabError(
        f"run {log.name} ({log.path}): no token count; give --tokens-per-step K or "
        f"--tokens-column C{hint}")


def _need_steps(log: RunLog, why: str) -> None:
    if not log.steps_known:
        raise ScalinglabError(
            f"run {log.name} ({log.path}): the rows have no step column, so tokens cannot be "
            f"step x tokens per step ({why}); give --tokens-column C (or --map 'X=step')")


def _tokens_per_step_from_info(log: RunLog) -> Sourced | None:
    """Tokens per step from the run's settings: stated, or batch x sequence x accumulation."""
    stated = lookup(log.info, TOKENS_PER_STEP_NAMES)
    if stated is not None:
        return Sourced(_setting(log, *stated), f"setting {stated[0]!r}", log.info_origin)
    parts = [lookup(log.info, names) for names in (BATCH_NAMES, SEQUENCE_NAMES,
                                                   ACCUMULATION_NAMES)]
    if all(part is not None for part in parts):
        value = math.prod(_setting(log, *part) for part in parts if part is not None)
        names = " x ".join(part[0] for part in parts if part is not None)
        return Sourced(value, f"settings {names}", log.info_origin)
    return None


def _setting(log: RunLog, name: str, raw: Any) -> float:
    try:
        value = to_float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        where = log.info_origin or log.path
        raise ScalinglabError(f"run {log.name} ({where}): setting {name} = {raw!r} is not a "
                              "positive number")
    return value


def _joined(log: RunLog, curve: Curve, tokens: Curve) -> np.ndarray:
    """The tokens curve read at `curve`'s steps (exactly, else linearly between its points;
    step 0 has seen no tokens)."""
    known = {0.0: 0.0, **dict(zip(tokens.steps, tokens.values, strict=True))}
    order = np.argsort(tokens.steps, kind="stable")
    xs, ys = np.asarray(tokens.steps)[order], np.asarray(tokens.values)[order]
    out = []
    for step in curve.steps:
        if step in known:
            out.append(known[step])
        elif xs.size and xs[0] <= step <= xs[-1]:
            out.append(float(np.interp(step, xs, ys)))
        else:
            raise ScalinglabError(
                f"run {log.name} ({log.path}): the tokens column {tokens.name!r} has no value "
                f"at step {step:g}" + (f" (it covers steps {xs[0]:g} to {xs[-1]:g})"
                                       if xs.size else ""))
    return np.asarray(out, dtype=float)


def _check_increasing(log: RunLog, curve: Curve, tokens: np.ndarray) -> None:
    """Tokens rise with every evaluation, in the order they were logged (non-finite token
    counts are left to be dropped)."""
    finite = [i for i in range(len(tokens)) if np.isfinite(tokens[i])]
    for before, i in zip(finite, finite[1:], strict=False):
        if not tokens[i] > tokens[before]:
            what = "repeat" if tokens[i] == tokens[before] else "go backwards"
            raise ScalinglabError(
                f"run {log.name}: steps {what} at step {curve.steps[i]:g} (after step "
                f"{curve.steps[before]:g}; tokens {tokens[before]:,.0f} then {tokens[i]:,.0f}) "
                f"in {curve.where[i]}")


def _config_count(path: Path | None) -> ParamCount | None:
    """The count of `--params-from-config`'s model (read once for every run)."""
    if path is None:
        return None
    from scalinglab.importers.hf_trainer_state import read_config_count

    return read_config_count(path, "--params-from-config")


def _params(log: RunLog, options: ImportOptions,
            config_count: ParamCount | None) -> StatedCount:
    """The run's parameter count and where it came from (the first of the module doc's)."""
    if options.params is not None:
        return _one_number(options.params, "--params")
    if config_count is not None:
        return StatedCount(config_count, "--params-from-config",
                           str(options.params_from_config))
    if options.params_from_name is not None:
        return _params_from_name(log, options.params_from_name)
    if log.params is not None:
        return log.params
    stated = lookup(log.info, PARAMS_NAMES)
    if stated is not None:
        total = _one_number(_setting(log, *stated), f"setting {stated[0]!r}", log.info_origin)
        nonembedding = lookup(log.info, ("params_nonembedding",))
        if nonembedding is None:
            return total
        n = int(round(_setting(log, *nonembedding)))
        return StatedCount(ParamCount(total.count.total, n),
                           f"settings {stated[0]!r} and {nonembedding[0]!r}", log.info_origin)
    for name in PARAMS_NAMES:
        logged = next((c for n, c in log.curves.items() if n.lower() == name and c.values), None)
        if logged is not None:
            return _one_number(_setting(log, name, logged.values[-1]),
                               f"logged {logged.name!r}", logged.where[-1])
    raise ScalinglabError(
        f"run {log.name} ({log.path}): no parameter count; give --params N, "
        "--params-from-config PATH or --params-from-name REGEX")


def _one_number(n: float, origin: str, where: str = "") -> StatedCount:
    count = int(round(n))
    return StatedCount(ParamCount(count, count), origin, where, nonembedding_known=False)


def _params_from_name(log: RunLog, pattern: str) -> StatedCount:
    match = name_pattern(pattern).search(log.name)
    if match is None or match.group(1) is None:
        raise ScalinglabError(f"run {log.name}: --params-from-name {pattern!r} does not match "
                              "the run's name")
    try:
        n = float(match.group(1))
    except ValueError:
        raise ScalinglabError(f"run {log.name}: --params-from-name {pattern!r} found "
                              f"{match.group(1)!r}, not a number") from None
    if not (math.isfinite(n) and n > 0):
        raise ScalinglabError(f"run {log.name}: --params-from-name found {match.group(1)!r}, "
                              "not a positive number")
    return _one_number(n, f"--params-from-name {pattern}", log.name)


def _rows(log: RunLog, curve: Curve, metric: str, tokens: np.ndarray, count: ParamCount,
          family: str) -> pd.DataFrame:
    steps = pd.array([round(s) if log.steps_known and float(s).is_integer() else None
                      for s in curve.steps], dtype="Int64")
    params = float(count.total)
    return pd.DataFrame({
        "run": log.name,
        "family": family,
        "params": params,
        "params_nonembedding": float(count.nonembedding),
        "tokens": tokens,
        "flops": 6.0 * params * tokens,
        "loss": np.asarray(curve.values, dtype=float),
        "step": steps,
        "final": False,
        "split": split_of(metric),
        "source": list(curve.where),
    })


def _check_positive(rows: pd.DataFrame) -> None:
    bad = rows[rows["loss"] <= 0]
    if not bad.empty:
        row = bad.iloc[0]
        raise ScalinglabError(f"{row['source']}: loss {row['loss']:g} is not positive (a loss "
                              "in nats per token is above 0)")


def _mark_final(table: pd.DataFrame) -> pd.DataFrame:
    """`final` on each run's last evaluation (most tokens), and on no other row: the lab's one
    rule for unmarked curves (`measurements.apply_final_rule`), whose `final_from` column tells
    fits and reports that these are unmarked evaluations, not annealed models."""
    marked, _ = apply_final_rule(table.drop(columns="final"))
    return marked


def _notes(logs: Sequence[RunLog], runs: Sequence[RunProvenance], table: pd.DataFrame,
           dropped: Mapping[str, int], empty_runs: Sequence[str]) -> list[str]:
    notes = [note for log in logs for note in log.notes]
    by_metric = _grouped(runs, "metric")
    if len(by_metric) == 1:
        metric = next(iter(by_metric))
        notes.append(f"loss: metric {metric!r} ({split_of(metric)} split) for "
                     f"{_runs(len(runs))}")
    else:
        notes.append("loss: runs use different metrics: " + "; ".join(
            f"{metric!r} for {_runs(len(names))} ({', '.join(names[:3])}"
            f"{', ...' if len(names) > 3 else ''})" for metric, names in by_metric.items()))
    for key, phrase in (("tokens_from", "tokens"), ("params_from", "params")):
        groups = _grouped(runs, key)
        notes.append(f"{phrase}: " + "; ".join(
            f"{origin} for {_runs(len(names))}" if len(groups) > 1 or len(runs) > 1
            else origin for origin, names in groups.items()))
    unknown = [r.run for r in runs if not r.nonembedding_known]
    if unknown:
        notes.append(f"params_nonembedding unknown for {_runs(len(unknown))}: set to params "
                     "(embeddings included)")
    notes.append(FLOPS_NOTE)
    if any(dropped.values()):
        parts = [f"{n} evaluation(s) {why}" for why, n in dropped.items() if n]
        notes.append(f"dropped {' and '.join(parts)} (they cannot be fitted)")
    if empty_runs:
        notes.append(f"left out {_runs(len(empty_runs))} with no evaluation past step 0: "
                     f"{', '.join(empty_runs[:5])}{', ...' if len(empty_runs) > 5 else ''}")
    notes.append(f"marked each run's last evaluation final: {_runs(len(runs))}, "
                 f"{len(table)} evaluations; only those stand for their runs in a fit")
    return notes


def _grouped(runs: Sequence[RunProvenance], key: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for run in runs:
        groups.setdefault(str(getattr(run, key)), []).append(run.run)
    return groups


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"
