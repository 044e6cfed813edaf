"""A researcher's own trainer as the runs of a sweep: the `command_task` runner and its contract.

A design with `trainer = { command = "python train.py --params {params} ... --out {out}" }` runs
that command once per run instead of the lab's training engine (docs/sweeps.md, "Your own
trainer"). The contract, as this module holds the command to it:

- The lab fills the placeholders: `{params}`, `{tokens}`, `{seed}`, `{family}`, `{out}` (the
  run's folder), `{resume}`, `{budget}` (isoflop designs) and every key of `[hparams]`. The
  command is split into arguments first (`shlex`), so a value with spaces stays one argument.
- The command runs in its own process group, its stdout and stderr appended to `{out}/log.txt`.
  It dies with the process that launched it (`PR_SET_PDEATHSIG` on Linux), so after a `kill -9`
  of the sweep nothing keeps writing into a folder that a resumed sweep reads.
- It appends one JSON object per evaluation to `{out}/metrics.jsonl`, with `tokens` and `loss`
  (optional `final`, `flops`, `params`, `params_nonembedding`, `step`, `split`, and any named
  number such as `acc_arith`). The lab streams new lines for progress while it runs.
- Exit code 0 means finished; any other is a failed run, its error the tail of `log.txt`.
- `{resume}` is "1" when the run's folder exists from an earlier launch (the trainer continues
  from its own checkpoint if it finds one), else "0". The lab notes how many lines
  `metrics.jsonl` had at each launch (`{out}/launches.json`): within one launch `tokens` must
  increase, and where a relaunch logs tokens that an earlier launch had reached, its rows
  replace the earlier ones from that token on. A trainer may also rewrite the file instead.
- When the run has exited, `metrics.jsonl` is read strictly into the measurements table; a
  file with no rows, a missing or non-numeric loss, or tokens going backwards within a launch
  fails the run with one line naming the file and line.

Sizes are taken as given and FLOPs are 6 * params * tokens unless the file gives `flops`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import shlex
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.sweep.store import MEASUREMENT_COLUMNS, RunRecord
from scalinglab.sweep.tasks import Task, TrainerCommand

# Placeholders the lab fills in every command; an isoflop design adds `budget`.
LAB_PLACEHOLDERS = ("params", "tokens", "seed", "family", "out", "resume")
BUDGET_PLACEHOLDER = "budget"
# Measurement columns the lab fills from the design and the metrics file; an hparam may not
# take their names (it may be `lr`, which then fills the lr column).
LAB_COLUMNS = ("run", "family", "params", "params_nonembedding", "tokens", "flops", "loss",
               "seed", "final", "split", "step", BUDGET_PLACEHOLDER)
RESERVED_NAMES = frozenset(LAB_PLACEHOLDERS) | frozenset(LAB_COLUMNS)
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "log.txt"
LAUNCHES_FILE = "launches.json"
FLOPS_PER_PARAM_TOKEN = 6.0  # C = 6 N D for a trainer that does not report its FLOPs
LOG_TAIL_LINES = 20  # lines of log.txt kept as a failed run's error
STOP_GRACE_SECONDS = 30.0  # after SIGTERM, the trainer's time to checkpoint before SIGKILL
POLL_SECONDS = 0.2
# Keys of a metrics row the lab knows; any other key must be a number (an accuracy, ...).
_NUMBER_KEYS = ("tokens", "loss", "flops", "params", "params_nonembedding", "step")
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# Process groups of trainers running in this process, for `kill_trainers`.
_RUNNING: set[int] = set()


# --- the design side: placeholders, values, hash ---------------------------------------------


def placeholders(command: str) -> list[str]:
    """The `{name}`s a trainer command uses, in order (`{{` and `}}` are literal braces)."""
    try:
        arguments = shlex.split(command)
    except ValueError as error:
        raise ValueError(f"trainer.command cannot be split into arguments ({error})") from None
    names = []
    for argument in arguments:
        try:
            fields = list(string.Formatter().parse(argument))
        except ValueError as error:
            raise ValueError(f"trainer.command: {error} in {argument!r} (a literal brace is "
                             "written {{ or }})") from None
        for _, name, spec, conversion in fields:
            if name is None:
                continue
            if not name.isidentifier() or spec or conversion:
                raise ValueError(f"trainer.command: {argument!r} has a field that is not a "
                                 "placeholder; write {name} (a literal brace is {{ or }})")
            names.append(name)
    return names


def value_text(value: Any) -> str:
    """A placeholder's text: whole numbers without a decimal point (1e4 -> 10000), other
    numbers as Python writes them (0.003), booleans as true/false, strings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    return str(value)


def is_command(config: dict[str, Any]) -> bool:
    """Is this run's config a trainer command's (not the lab engine's `RunConfig`)?"""
    return config.get("trainer") == "command"


# What a command run's hash covers: a changed command, hparam, size or environment is a new run.
HASHED_KEYS = ("command", "env", "cwd", "family", "seed", "params", "tokens", "hparams")


def command_hash(config: dict[str, Any]) -> str:
    """sha256 of what makes a command run's results (HASHED_KEYS), as the store keys it."""
    fields = {"trainer": "command", **{key: config[key] for key in HASHED_KEYS}}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def trainer_command(config: dict[str, Any], out_dir: str | Path) -> TrainerCommand:
    """The command of one run, its placeholders filled but `{resume}` (known at launch)."""
    values = {"params": config["params"], "tokens": config["tokens"], "seed": config["seed"],
              "family": config["family"], "out": str(out_dir), **config["hparams"]}
    if config.get("budget") is not None:
        values[BUDGET_PLACEHOLDER] = config["budget"]
    cwd = Path(config["cwd"]).resolve() if config.get("cwd") else Path.cwd()
    return TrainerCommand(argv=tuple(shlex.split(config["command"])),
                          values={k: value_text(v) for k, v in values.items()},
                          env=dict(config["env"]), cwd=str(cwd))


# --- running one command ---------------------------------------------------------------------


def command_task(task: Task, progress: Callable[[dict[str, Any]], None],
                 should_stop: Callable[[], bool]) -> RunRecord:
    """Run one trainer command to its end (or until `should_stop`) and read its metrics."""
    if task.command is None:
        raise ScalinglabError(f"{task.name}: not a trainer-command run; run it with train_task")
    out = Path(task.out_dir)
    resume = out.is_dir()
    out.mkdir(parents=True, exist_ok=True)
    metrics = out / METRICS_FILE
    launches = _record_launch(out, metrics, resume)
    argv = task.command.render(resume)
    began = time.monotonic()
    with open(out / LOG_FILE, "ab") as log:
        log.write(f"--- scalinglab launch {len(launches)} (resume={int(resume)}): "
                  f"{shlex.join(argv)}\n".encode())
        log.flush()
        log_start = log.tell()
        try:
            trainer = _launch(argv, task, log)
        except OSError as error:
            return _failed(f"{task.name}: cannot start {argv[0]!r}: {error}")
        code, stopped = _watch(trainer, metrics, task, progress, should_stop)
    seconds = time.monotonic() - began
    if stopped:  # whatever its exit code: the next launch resumes it ({resume} = 1)
        return RunRecord(status="interrupted", measurements=pd.DataFrame(), seconds=seconds)
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return _failed(f"{task.name}: {argv[0]} {how}; last lines of {out / LOG_FILE}:\n"
                       f"{_tail(out / LOG_FILE, log_start)}")
    try:
        rows = read_metrics(metrics, launches)
    except ScalinglabError as error:
        return _failed(str(error))
    return _record(task, rows, launches[-1], seconds)


def _failed(error: str) -> RunRecord:
    return RunRecord(status="failed", measurements=pd.DataFrame(), error=error,
                     host=socket.gethostname())


def _record_launch(out: Path, metrics: Path, resume: bool) -> list[int]:
    """Note this launch in `launches.json` (the metrics file's line count now) and return the
    line counts at every launch so far. A torn last line (a kill mid-write) is cut first."""
    lines = 0
    if metrics.is_file():
        data = metrics.read_bytes()
        if data and not data.endswith(b"\n"):
            data = data[:data.rfind(b"\n") + 1]
            metrics.write_bytes(data)
        lines = data.count(b"\n")
    path = out / LAUNCHES_FILE
    history = json.loads(path.read_text()) if path.is_file() else []
    history.append({"started": time.time(), "resume": int(resume), "metrics_lines": lines})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(history, indent=1))
    tmp.replace(path)
    return [int(launch["metrics_lines"]) for launch in history]


def _launch(argv: list[str], task: Task, log: Any) -> subprocess.Popen:
    """Start the trainer in its own process group, its output appended to the log."""
    assert task.command is not None
    env = {**os.environ, "OMP_NUM_THREADS": str(task.threads), **task.command.env}
    trainer = subprocess.Popen(argv, cwd=task.command.cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=_die_with_parent())
    _RUNNING.add(trainer.pid)
    return trainer


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the trainer die (SIGKILL) when the process that launched it
    dies, however it dies (Linux; elsewhere `kill_trainers` on a driver's death must do)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(1)
        with contextlib.suppress(ValueError):  # a worker ignores SIGINT; the trainer must not
            signal.signal(signal.SIGINT, signal.SIG_DFL)

    return preexec


def kill_trainers() -> None:
    """SIGKILL the process group of every trainer this process runs (a worker calls it when
    its driver dies, so a trainer's own children die too)."""
    for group in list(_RUNNING):
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)


def _watch(trainer: subprocess.Popen, metrics: Path, task: Task,
           progress: Callable[[dict[str, Any]], None],
           should_stop: Callable[[], bool]) -> tuple[int, bool]:
    """Wait for the trainer, sending progress from its new metrics lines; on `should_stop`,
    SIGTERM its group (SIGKILL after STOP_GRACE_SECONDS). Returns (exit code, stopped)."""
    tail = MetricsTail(metrics, float(task.config["params"]))
    stopped_at: float | None = None
    try:
        while not _exited(trainer):
            for update in tail.updates():
                progress(update)
            if stopped_at is None and should_stop():
                stopped_at = time.monotonic()
                _signal_group(trainer.pid, signal.SIGTERM)
            elif stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE_SECONDS:
                _signal_group(trainer.pid, signal.SIGKILL)
            time.sleep(POLL_SECONDS)
    finally:
        # The group dies with its leader (a zombie until reaped, so the group id is still
        # ours): nothing it started keeps writing into the run's folder.
        _signal_group(trainer.pid, signal.SIGKILL)
        trainer.wait()
        _RUNNING.discard(trainer.pid)
    for update in tail.updates():
        progress(update)
    return trainer.returncode, stopped_at is not None


def _exited(trainer: subprocess.Popen) -> bool:
    """Has the trainer exited? Asked without reaping it where the OS can, so its group id
    stays reserved until the group is killed."""
    if not hasattr(os, "waitid"):
        return trainer.poll() is not None
    try:
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, trainer.pid, flags) is not None
    except ChildProcessError:
        return True


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(group, signum)


def _tail(log: Path, start: int, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines the trainer wrote to the log in this launch."""
    with open(log, "rb") as file:
        file.seek(start)
        text = file.read().decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(the trainer wrote nothing)"


class MetricsTail:
    """Progress from a growing metrics file: each new complete line as a progress update.

    Lenient (a line it cannot read is skipped); the strict reading is `read_metrics`, once
    the run has exited. Used by the runner and, on a cluster, by the driver itself.
    """

    def __init__(self, path: Path, params: float) -> None:
        self.path = path
        self.params = params
        self.offset = path.stat().st_size if path.is_file() else 0  # an earlier launch's rows
        self.first: tuple[float, float] | None = None  # (time, tokens) of the first new row

    def updates(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as file:
                file.seek(0, os.SEEK_END)
                if file.tell() < self.offset:  # rewritten by the trainer
                    self.offset = 0
                file.seek(self.offset)
                data = file.read()
        except OSError:
            return []
        complete = data[:data.rfind(b"\n") + 1]
        self.offset += len(complete)
        updates = []
        for line in complete.splitlines():
            try:
                row = json.loads(line)
                tokens, loss = float(row["tokens"]), float(row["loss"])
            except (ValueError, TypeError, KeyError):
                continue
            now = time.monotonic()
            if self.first is None:
                self.first = (now, tokens)
            elapsed = now - self.first[0]
            rate = (tokens - self.first[1]) / elapsed if elapsed > 0 else None
            flops = row.get("flops")
            updates.append({"tokens": tokens, "loss": loss, "tokens_per_second": rate,
                            "flops": float(flops) if isinstance(flops, int | float) else
                            FLOPS_PER_PARAM_TOKEN * self.params * tokens})
        return updates


# --- reading metrics.jsonl -------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsRow:
    """One evaluation as the trainer wrote it, with the line it came from."""

    line: int
    values: dict[str, Any]

    @property
    def tokens(self) -> float:
        return float(self.values["tokens"])

    @property
    def split(self) -> Any:
        return self.values.get("split")


def read_metrics(path: Path, launches: list[int] | None = None) -> list[MetricsRow]:
    """The evaluations of `path`, strictly checked, resumed launches merged.

    `launches`: the file's line count when each launch started (`launches.json`). Within a
    launch tokens must increase (per `split`); the first row of a later launch may go back to
    tokens an earlier launch reached, and then replaces the earlier rows from that token on.
    """
    if not path.is_file():
        raise ScalinglabError(f"{path}: no such file; the trainer wrote no evaluations (one JSON "
                              "object per line, with tokens and loss)")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as error:
        raise ScalinglabError(f"{path}: not UTF-8 text ({error})") from None
    starts = {n for n in launches or () if n > 0}
    kept: list[MetricsRow] = []
    last: dict[Any, float] = {}  # split -> tokens of its last kept row
    resumed: set[Any] = set()  # splits seen since the launch began
    for index, text in enumerate(lines):
        if index in starts:
            resumed = set()
        if not text.strip():
            continue
        row = MetricsRow(index + 1, _parse_row(text, path, index + 1))
        split, tokens = row.split, row.tokens
        if split in last and tokens <= last[split]:
            if index < min(starts, default=len(lines)) or split in resumed:
                raise ScalinglabError(
                    f"{path} line {row.line}: tokens {tokens:g} after {last[split]:g}; tokens "
                    "must increase within a launch")
            kept = [r for r in kept if r.split != split or r.tokens < tokens]
        resumed.add(split)
        kept.append(row)
        last[split] = tokens
    if not kept:
        raise ScalinglabError(f"{path}: no evaluations (one JSON object per line, with tokens "
                              "and loss)")
    return kept


def _parse_row(text: str, path: Path, line: int) -> dict[str, Any]:
    """One metrics line as a dict, or one line naming the file, line and key at fault."""
    where = f"{path} line {line}"
    try:
        row = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScalinglabError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(row, dict):
        raise ScalinglabError(f"{where}: not a JSON object")
    for key in ("tokens", "loss"):
        if key not in row:
            raise ScalinglabError(f"{where}: no {key!r} (each line needs tokens and loss)")
    for key, value in row.items():
        if key == "final":
            if not isinstance(value, bool):
                raise ScalinglabError(f"{where}: 'final' must be true or false, got {value!r}")
        elif key in ("split", "run", "family"):
            if not isinstance(value, str):
                raise ScalinglabError(f"{where}: {key!r} must be a string, got {value!r}")
        elif not _is_number(value):
            raise ScalinglabError(f"{where}: {key!r} must be a number, got {value!r}")
    if not (math.isfinite(row["tokens"]) and row["tokens"] >= 0):
        raise ScalinglabError(f"{where}: 'tokens' must be a finite number >= 0, "
                              f"got {row['tokens']!r}")
    for key in ("flops", "params", "params_nonembedding"):
        if key in row and not (math.isfinite(row[key]) and row[key] > 0):
            raise ScalinglabError(f"{where}: {key!r} must be a positive number, got {row[key]!r}")
    if "step" in row and not float(row["step"]).is_integer():
        raise ScalinglabError(f"{where}: 'step' must be a whole number, got {row['step']!r}")
    return row


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def measurements(rows: list[MetricsRow], task: Task, metrics: Path) -> pd.DataFrame:
    """The measurements table of one command run: the lab's columns, then the trainer's.

    `run`, `family`, `seed` and the hparams are the design's (a row that gives them must
    agree); `params` is the design's unless the row gives it; `flops` is the row's, else
    6 * params * tokens; `final` is the rows' own mark where any row has one, else the last row.
    """
    config = task.config
    lab = {"run": task.name, "family": config["family"], "seed": config["seed"],
           **config["hparams"]}
    marked = any("final" in row.values for row in rows)
    table = []
    for i, row in enumerate(rows):
        for key, value in lab.items():
            if key in row.values and row.values[key] != value:
                raise ScalinglabError(
                    f"{metrics} line {row.line}: {key!r} is {row.values[key]!r} but the design's "
                    f"is {value!r}")
        values = dict(row.values)
        params = float(values.pop("params", config["params"]))
        tokens = float(values.pop("tokens"))
        record = {**lab, "params": params,
                  "params_nonembedding": float(values.pop("params_nonembedding", params)),
                  "tokens": tokens,
                  "flops": float(values.pop("flops", FLOPS_PER_PARAM_TOKEN * params * tokens)),
                  "loss": float(values.pop("loss")),
                  "final": bool(values.pop("final", False)) if marked else i == len(rows) - 1}
        if config.get("budget") is not None:
            record["budget"] = float(config["budget"])
        if "step" in values:
            record["step"] = int(values.pop("step"))
        record.update(values)
        table.append(record)
    frame = pd.DataFrame(table)
    first = [c for c in MEASUREMENT_COLUMNS if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def _record(task: Task, rows: list[MetricsRow], launch_start: int,
            seconds: float) -> RunRecord:
    """The finished run for the store (`diverged` if a final loss is not finite)."""
    metrics = Path(task.out_dir) / METRICS_FILE
    try:
        table = measurements(rows, task, metrics)
    except ScalinglabError as error:
        return _failed(str(error))
    last = table.iloc[-1]
    before = [r.tokens for r in rows if r.line <= launch_start]
    trained = float(last["tokens"]) - max(before, default=0.0)
    finals = table.loc[table["final"], "loss"]
    finite = bool(finals.map(math.isfinite).all())
    return RunRecord(
        status="done" if finite else "diverged", measurements=table,
        params=float(last["params"]), params_nonembedding=float(last["params_nonembedding"]),
        flops_per_token=float(last["flops"]) / float(last["tokens"]) if last["tokens"] else None,
        tokens_per_second=trained / seconds if seconds > 0 and trained > 0 else None,
        seconds=seconds, host=socket.gethostname())
