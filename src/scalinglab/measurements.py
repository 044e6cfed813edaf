"""The measurements table: one row per evaluation of one run, the seam of the whole lab.

Columns: `run, family, params, params_nonembedding, tokens, flops, loss` (loss in nats per
token), optionally `seed, lr, final, split` and anything else a source carries. Training writes
it, users' CSV/Parquet files and published data are read into it, and every fit, bootstrap,
backtest and report reads only it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError

COLUMNS = ("run", "family", "params", "params_nonembedding", "tokens", "flops", "loss")
NUMERIC_COLUMNS = ("params", "params_nonembedding", "tokens", "flops", "loss")
OPTIONAL_COLUMNS = ("seed", "lr", "final", "split")
# Inputs of a learning curve (loss against training progress): every evaluation is the data.
CURVE_INPUTS = ("tokens", "step")


def parse_column_map(pairs: Iterable[str]) -> dict[str, str]:
    """Parse `--map 'Source Name=ours'` options into {source: ours}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ScalinglabError(f"--map expects 'SOURCE=COLUMN', got {pair!r}")
        if source.strip() in mapping:
            raise ScalinglabError(f"--map renames {source.strip()!r} twice")
        mapping[source.strip()] = target.strip()
    return mapping


def read_measurements(
    path: str | Path, column_map: Mapping[str, str] | None = None,
    x: str | None = None, final: str | None = "last",
) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV or Parquet file into the measurements table.

    `x` names the one input of a one-variable law (e.g. a learning curve's `tokens`): then
    only `x` and `loss` are required and the other size columns stay empty when absent.
    `final` is the rule that marks finished rows (`apply_final_rule`; None leaves the table's
    own column as it is). It does not apply to a learning curve's law (`x` in `CURVE_INPUTS`),
    whose every evaluation is the data.
    Returns the validated table and notes about what was derived (e.g. tokens from flops), which
    the caller should show the user. Raises `ScalinglabError` naming the file, column, row and
    value for any bad input.
    """
    raw = read_table(path)
    table, notes = to_measurements(raw, column_map, source=str(path), x=x)
    if final is not None and x not in CURVE_INPUTS:
        table, more = apply_final_rule(table, final, str(path))
        notes += more
    return table, notes


def read_table(path: str | Path) -> pd.DataFrame:
    """Any CSV or Parquet file as a DataFrame, or one `ScalinglabError` line saying why not."""
    path = Path(path)
    if not path.exists():
        raise ScalinglabError(f"{path}: no such file")
    if path.is_dir():
        raise ScalinglabError(f"{path}: is a directory, expected a CSV or Parquet file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        else:
            _check_header(path)
            raw = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ScalinglabError(f"{path}: the file is empty") from None
    except ScalinglabError:
        raise
    except Exception as error:  # pyarrow, pandas and the codecs raise many kinds
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = first_line[:200] or type(error).__name__
        raise ScalinglabError(f"{path}: cannot be read as a table ({reason})") from None
    if raw.columns.duplicated().any():
        duplicate = raw.columns[raw.columns.duplicated()][0]
        raise ScalinglabError(f"{path}: column {str(duplicate)!r} appears twice in the header")
    return raw


def check_side_table(path: str | Path, option: str, columns: Iterable[str],
                     numeric: Iterable[str] = ()) -> pd.DataFrame:
    """A small table beside the measurements (`--positions`, `--accuracies`): readable, with
    the named columns, the `numeric` ones numbers. Returns it."""
    try:
        table = read_table(path)
    except ScalinglabError as error:
        raise ScalinglabError(f"{option} {error}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ScalinglabError(
            f"{option} {path}: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(expected {', '.join(columns)})" + _suggestion(missing[0], table.columns))
    if table.empty:
        raise ScalinglabError(f"{option} {path}: the table has no rows")
    for column in numeric:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.fillna(0).astype(float))
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise ScalinglabError(f"{option} {path}: row {row + 1}, column {column!r}: "
                                  f"{table[column].iloc[row]!r} is not a finite number")
    return table


def _check_header(path: Path) -> None:
    """Refuse a CSV header that repeats a column (pandas would rename it `loss.1` silently)."""
    import csv

    # utf-8-sig: a byte-order mark must not hide a repeated first column ("\ufeffloss").
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    seen: set[str] = set()
    for name in (h.strip() for h in header):
        if name and name in seen:
            raise ScalinglabError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)


def to_measurements(
    raw: pd.DataFrame, column_map: Mapping[str, str] | None = None, source: str = "table",
    x: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Rename, derive and validate a raw table into the measurements table (see module doc)."""
    if raw.empty:
        raise ScalinglabError(f"{source}: the table has no rows")
    column_map = dict(column_map or {})
    for name in column_map:
        if name not in raw.columns:
            raise ScalinglabError(
                f"{source}: --map names column {name!r}, which is not in the file"
                + _suggestion(name, raw.columns)
            )
    for name, target in column_map.items():
        if list(column_map.values()).count(target) > 1:
            raise ScalinglabError(f"{source}: --map makes two columns named {target!r}")
        if target in raw.columns and target not in column_map:
            raise ScalinglabError(
                f"{source}: --map '{name}={target}' would make a second {target!r} column; the "
                f"file already has one (map it away too, e.g. --map '{target}=old_{target}')"
            )
    table = raw.rename(columns=column_map).copy()
    notes: list[str] = []

    if "loss" not in table.columns:
        hint = _suggestion("loss", table.columns)
        raise ScalinglabError(f"{source}: missing column 'loss'{hint}")
    known = [c for c in ("params", "tokens", "flops") if c in table.columns]
    others = [c for c in table.columns if c not in COLUMNS]  # what a misspelling could be
    if x is not None and len(known) < 2:
        return _one_variable(table, x, source, others)
    if len(known) < 2:
        missing = [c for c in ("params", "tokens", "flops") if c not in table.columns]
        hint = "".join(_suggestion(c, others) for c in missing)
        curve = next((c for c in CURVE_INPUTS if c in table.columns), None)
        if curve is not None and not hint:
            hint = (f"; for one run's learning curve fit a one-variable law, e.g. "
                    f"--law saturating --x {curve}")
        raise ScalinglabError(
            f"{source}: need two of the columns 'params', 'tokens', 'flops'; "
            f"missing {', '.join(repr(c) for c in missing)}{hint}"
        )
    for column in ("params", "tokens", "flops", "loss", "params_nonembedding"):
        if column in table.columns:
            table[column] = _numeric_column(table[column], column, source)

    if "tokens" not in table.columns:
        table["tokens"] = table["flops"] / (6.0 * table["params"])
        notes.append("no 'tokens' column: derived tokens = flops / (6 * params)")
    if "flops" not in table.columns:
        table["flops"] = 6.0 * table["params"] * table["tokens"]
        notes.append("no 'flops' column: derived flops = 6 * params * tokens")
    if "params" not in table.columns:
        table["params"] = table["flops"] / (6.0 * table["tokens"])
        notes.append("no 'params' column: derived params = flops / (6 * tokens)")
    if "params_nonembedding" not in table.columns:
        table["params_nonembedding"] = table["params"]
        notes.append("no 'params_nonembedding' column: using 'params' (embeddings included)")
    return _with_ids(table, source), notes


def _one_variable(
    table: pd.DataFrame, x: str, source: str, others: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """A table for a one-variable law: `x` and `loss` required, other sizes left empty."""
    if x not in table.columns:
        hint = _suggestion(x, others)
        raise ScalinglabError(f"{source}: missing column {x!r}, the law's x{hint}")
    for column in (x, "loss"):
        table[column] = _numeric_column(table[column], column, source)
    notes = []
    if x in CURVE_INPUTS and "run" not in table.columns:
        table["run"] = Path(source).stem if source != "table" else "curve"
        notes.append(f"no 'run' column: the {len(table)} rows are one run's learning curve, so "
                     "the bootstrap keeps them together (add a 'run' column for several)")
    for column in ("params", "params_nonembedding", "tokens", "flops"):
        if column not in table.columns:
            table[column] = np.nan
    blank = [c for c in ("params", "tokens", "flops") if table[c].isna().all()]
    if blank:
        notes.append(f"one-variable law on {x!r}: no {', '.join(repr(c) for c in blank)} column "
                     "needed, none derived")
    return _with_ids(table, source), notes


def _with_ids(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """`run` and `family` as strings (each row its own run and the file its family where
    absent, as in published tables of final losses), the table's columns first."""
    if "family" not in table.columns:
        table["family"] = Path(source).stem if source != "table" else "runs"
    if "run" not in table.columns:
        table["run"] = [f"row{i}" for i in range(len(table))]
    table["run"] = table["run"].astype(str)
    table["family"] = table["family"].astype(str)
    ordered = list(COLUMNS) + [c for c in table.columns if c not in COLUMNS]
    return table[ordered].reset_index(drop=True)


def validate(table: pd.DataFrame, source: str = "table") -> pd.DataFrame:
    """Check an in-memory measurements table (e.g. from training) has the required columns."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ScalinglabError(
            f"{source}: missing column(s) {', '.join(missing)}"
            + _suggestion(missing[0], table.columns)
        )
    if table.empty:
        raise ScalinglabError(f"{source}: the table has no rows")
    for column in NUMERIC_COLUMNS:
        _numeric_column(table[column], column, source)
    return table


def is_finished(table: pd.DataFrame) -> pd.Series:
    """Which rows are finished (annealed) models, as a boolean Series on `table`'s index.

    A row is finished when marked `final`: the end of a run or of a cooldown branch.
    Intermediate evaluations of a run still at high learning rate are not finished models and
    would bias L(N, D) and the IsoFLOP minima upwards (Porian et al. 2024). A NaN mark (a CSV
    round trip) is not final. Without a `final` column, or with one that marks no row either
    way (all NaN), each run's last evaluation (most tokens) stands for it: a table of final
    losses keeps every row, and unmarked learning curves are never taken as annealed models
    (`apply_final_rule` says so, and `--final all` keeps every row on purpose). A column of
    explicit False marks nothing as finished.
    """
    if "final" not in table.columns or table["final"].isna().all():
        return _last_of_each_run(table)
    return table["final"].fillna(False).astype(bool)  # NaN would cast to True


def _last_of_each_run(table: pd.DataFrame) -> pd.Series:
    """True on each run's evaluation with the most tokens (the later row on a tie)."""
    if "run" not in table.columns or "tokens" not in table.columns:
        return pd.Series(True, index=table.index)
    tokens = pd.to_numeric(table["tokens"], errors="coerce")
    if tokens.isna().all():  # a one-variable table without tokens: nothing to order by
        return pd.Series(True, index=table.index)
    order = pd.DataFrame({"run": table["run"].astype(str), "tokens": tokens,
                          "row": np.arange(len(table))}, index=table.index)
    last = order.sort_values(["tokens", "row"]).groupby("run", sort=False).tail(1).index
    return pd.Series(table.index.isin(last), index=table.index)


FINAL_RULES = ("last", "all")  # or the name of a boolean column
FINAL_FROM = "final_from"  # where each row's `final` mark came from, for the regime sentence
UNMARKED = "last evaluation"  # ... from the last-evaluation rule (the table marked no row)


def apply_final_rule(table: pd.DataFrame, rule: str = "last",
                     source: str = "table") -> tuple[pd.DataFrame, list[str]]:
    """Set the `final` column by one stated rule (`--final`); return the table and notes.

    - `last` (the default): marks the table has are kept (parsed strictly as booleans); where
      it has none and a run has several evaluations, only each run's last evaluation (most
      tokens) is final, and a note says how many intermediate rows that leaves out.
    - `all`: every row is final (learning curves the user vouches for), with a warning.
    - any other value names a boolean column (true/false, 1/0, yes/no) that marks them.
    The rows stay; fits take the final ones through `is_finished` and the fit regime.
    """
    table = table.copy()
    notes: list[str] = []
    runs = table["run"].astype(str) if "run" in table.columns else pd.Series(
        [f"row{i}" for i in range(len(table))], index=table.index)
    n_runs = runs.nunique()
    if rule == "all":
        table["final"] = True
        table[FINAL_FROM] = "all"
        if n_runs < len(table):
            notes.append(f"warning: --final all fits every one of the {len(table)} evaluations "
                         f"of {n_runs} runs as a finished (annealed) model; a checkpoint taken "
                         "mid-schedule is not one, and biases L(N, D) upward")
        return table, notes
    if rule != "last":
        if rule not in table.columns:
            raise ScalinglabError(
                f"{source}: --final {rule!r} is neither 'last', 'all' nor a column of the table"
                + _suggestion(rule, table.columns))
        table["final"] = parse_booleans(table[rule], rule, source)
        table[FINAL_FROM] = f"column {rule}"
        notes.append(f"final rows from column {rule!r}: {int(table['final'].sum())} of "
                     f"{len(table)}")
        return table, notes
    if "final" in table.columns and not table["final"].isna().all():
        table["final"] = parse_booleans(table["final"], "final", source, missing=False)
        if FINAL_FROM not in table.columns:  # an importer's marks say where they came from
            table[FINAL_FROM] = "marked"
        table[FINAL_FROM] = table[FINAL_FROM].fillna("marked").astype(str)
        return table, notes
    table["final"] = _last_of_each_run(table).to_numpy()
    table[FINAL_FROM] = UNMARKED
    left_out = int((~table["final"]).sum())
    if left_out:
        notes.append(
            f"no 'final' marks: each run's last evaluation (most tokens) stands for it, so "
            f"{left_out} unmarked intermediate evaluations of {n_runs} runs are left out of "
            "fits (--final all keeps every row; --final COLUMN names a column that marks them)")
    return table, notes


_TRUE = frozenset({"true", "1", "yes", "y", "t", "1.0"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "0.0"})


def parse_booleans(values: pd.Series, column: str, source: str,
                   missing: bool | None = None) -> pd.Series:
    """A column of true/false, 1/0 or yes/no (any case) as bools; anything else is refused.

    `missing` is what an empty cell means (None: an empty cell is refused too).
    """
    parsed = []
    for position, raw in enumerate(values):
        if isinstance(raw, bool | np.bool_):
            parsed.append(bool(raw))
            continue
        if raw is None or (not isinstance(raw, str) and pd.isna(raw)) or (
                isinstance(raw, str) and not raw.strip()):
            if missing is None:
                raise ScalinglabError(f"{source}: row {position + 1}, column {column!r}: "
                                      "value is missing (expected true or false)")
            parsed.append(missing)
            continue
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            parsed.append(text in _TRUE)
            continue
        raise ScalinglabError(f"{source}: row {position + 1}, column {column!r}: {raw!r} is not "
                              "a boolean (use true/false, 1/0 or yes/no)")
    return pd.Series(parsed, index=values.index, dtype=bool)


def finished_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of finished (annealed) models, all of them (see `is_finished`)."""
    return table[is_finished(table)].reset_index(drop=True)


def final_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The finished rows where the table marks any (`finished_rows`); else each run's last.

    Unlike `finished_rows`, unmarked learning curves are not taken whole: where no row is
    marked final, the last evaluation (most tokens) of each run stands in for its finished
    model. Where rows are marked, all of them are returned, cooldown branches included.
    """
    if "final" in table.columns and table["final"].fillna(False).astype(bool).any():
        return finished_rows(table)
    idx = table.groupby("run", sort=False)["tokens"].idxmax()
    return table.loc[idx].reset_index(drop=True)


def drop_highest_loss(table: pd.DataFrame, k: int, source: str = "table") -> pd.DataFrame:
    """`table` without its `k` highest-loss rows (Epoch's Chinchilla refit drops 5 outliers).

    Raises `ScalinglabError` unless 0 <= k < len(table): a negative count is a typo, and
    dropping every row leaves nothing to fit.
    """
    if k < 0:
        raise ScalinglabError(
            f"{source}: the number of highest-loss rows to drop must be 0 or more, got {k}"
        )
    if k >= len(table):
        raise ScalinglabError(
            f"{source}: dropping the {k} highest-loss rows would drop all {len(table)} rows"
        )
    table = table.reset_index(drop=True)
    return table.drop(index=table["loss"].nlargest(k).index).reset_index(drop=True)


def _numeric_column(values: pd.Series, column: str, source: str) -> pd.Series:
    """Numbers only, finite and strictly positive; else name the first offending row."""
    numeric = pd.to_numeric(values, errors="coerce")
    for position, (raw, number) in enumerate(zip(values, numeric, strict=True)):
        row = f"row {position + 1}"
        if pd.isna(number):
            if pd.isna(raw) or (isinstance(raw, str) and not raw.strip()):
                raise ScalinglabError(f"{source}: {row}, column {column!r}: value is missing (NaN)")
            raise ScalinglabError(f"{source}: {row}, column {column!r}: {raw!r} is not a number")
        if not np.isfinite(number):
            raise ScalinglabError(f"{source}: {row}, column {column!r}: {raw} is not finite")
        if number <= 0:
            raise ScalinglabError(f"{source}: {row}, column {column!r}: {raw} must be positive")
    return numeric.astype(float)


def _suggestion(name: str, candidates: Iterable[object]) -> str:
    """` (did you mean 'X'?)` for the closest column name, or nothing."""
    names = [str(c) for c in candidates]
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""
