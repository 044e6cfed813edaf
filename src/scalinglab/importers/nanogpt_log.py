"""nanoGPT's stdout (karpathy/nanoGPT `train.py`), one log file per run.

The lines read, as `train.py` prints them:

    tokens per iteration will be: 491,520
    number of parameters: 123.69M
    num decayed parameter tensors: 50, with 124,354,560 parameters
    num non-decayed parameter tensors: 98, with 121,344 parameters
    step 2000: train loss 2.8231, val loss 2.8452
    iter 10: loss 4.1234, time 512.34ms, mfu 31.25%

Metrics: `val_loss` and `train_loss` from the evaluation lines (each an average over
`eval_iters` batches), `iter_loss` from the per-iteration lines (one training batch). An
evaluation at step S comes before that step's update, so it has seen S x tokens-per-iteration
tokens.

Params: "number of parameters" is `GPT.get_num_params(non_embedding=True)`, the count without
the position embeddings (the token embeddings, tied to the output layer, stay in): it is
recorded as `params_nonembedding`. The total, `params`, is the sum of the two optimizer lines
where the log has them (every trainable parameter once), else the same number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from scalinglab.accounting import ParamCount
from scalinglab.errors import ScalinglabError
from scalinglab.importers.common import (
    ImportOptions,
    RunLog,
    Sourced,
    StatedCount,
    check_paths,
    find_files,
    to_float,
    unique_names,
)

NAME = "nanogpt-log"
PREFERRED_METRICS = ("val_loss", "train_loss", "iter_loss")
SUFFIXES = (".log", ".txt", ".out")

TOKENS_PER_ITER = re.compile(r"tokens per iteration will be: ([\d,]+)")
N_PARAMS = re.compile(r"number of parameters: ([0-9.]+)M")
DECAYED = re.compile(r"num (non-)?decayed parameter tensors: \d+, with ([\d,]+) parameters")
EVAL = re.compile(r"^step (\d+): train loss (\S+?), val loss (\S+?)\s*$")
ITER = re.compile(r"^iter (\d+): loss (\S+?),")


def find_units(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    check_paths(paths)
    files = find_files(paths, lambda p: p.suffix.lower() in SUFFIXES,
                       f"nanoGPT logs ({', '.join('*' + s for s in SUFFIXES)})")
    return list(zip(files, unique_names(files), strict=True))


def read(unit: tuple[Path, str], options: ImportOptions) -> list[RunLog]:
    path, name = unit
    log = RunLog(name=name, path=str(path))
    reported: tuple[float, str] | None = None
    optimizer: dict[bool, int] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise ScalinglabError(f"{path}: cannot be read ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        where = f"{path}:{number}"
        text = line.strip()
        if match := EVAL.match(text):
            step = int(match.group(1))
            log.curve("train_loss").add(step, _loss(match.group(2), where), where)
            log.curve("val_loss").add(step, _loss(match.group(3), where), where)
        elif match := ITER.match(text):
            log.curve("iter_loss").add(int(match.group(1)), _loss(match.group(2), where), where)
        elif match := TOKENS_PER_ITER.search(text):
            log.tokens_per_step = Sourced(float(match.group(1).replace(",", "")),
                                          "nanoGPT's 'tokens per iteration'", where)
        elif match := N_PARAMS.search(text):
            reported = (float(match.group(1)) * 1e6, where)
        elif match := DECAYED.search(text):
            optimizer[match.group(1) is None] = int(match.group(2).replace(",", ""))
    if not log.curves:
        raise ScalinglabError(
            f"{path}: no nanoGPT loss lines ('step N: train loss X, val loss Y' or "
            "'iter N: loss X, ...')")
    if reported is not None:
        log.params = _count(reported, optimizer)
        if len(optimizer) < 2:
            log.notes.append(f"run {name}: the log has no optimizer lines with the total, so "
                             "params is nanoGPT's count without position embeddings too")
    return [log]


def _loss(text: str, where: str) -> float:
    try:
        value = to_float(text)
    except ValueError:
        value = None
    if value is None:
        raise ScalinglabError(f"{where}: loss {text!r} is not a number")
    return value


def _count(reported: tuple[float, str], optimizer: dict[bool, int]) -> StatedCount:
    nonembedding, where = int(round(reported[0])), reported[1]
    origin = "nanoGPT's 'number of parameters' (position embeddings excluded)"
    if len(optimizer) == 2:
        total = optimizer[True] + optimizer[False]
        return StatedCount(ParamCount(total, nonembedding),
                           origin + ", total from its optimizer lines", where)
    return StatedCount(ParamCount(nonembedding, nonembedding), origin + ", no total", where)
