"""Property-based fuzzing of every reader of user files: any bytes either read or raise
`ScalinglabError` (one line for the user), never another exception. Readers: measurements
CSV and Parquet, the side tables (`--positions`, `--accuracies`), sweep TOML, FIT.json and
token files.

CI runs `SCALINGLAB_FUZZ_EXAMPLES` examples per strategy (100 by default); a deeper run is
`SCALINGLAB_FUZZ_EXAMPLES=1000 pytest tests/test_fuzz_readers.py` (see docs/reliability.md).
Each reader gets raw bytes and bytes shaped like its format (a near-miss is where bugs hide).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalinglab.data.tokens import load_tokens
from scalinglab.errors import ScalinglabError
from scalinglab.laws import load_fit
from scalinglab.measurements import check_side_table, parse_column_map, read_measurements
from scalinglab.sweep.design import load_design

EXAMPLES = int(os.environ.get("SCALINGLAB_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _reads_or_refuses(data: bytes, suffix: str, read: Callable[[Path], Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        try:
            read(path)
        except ScalinglabError as error:
            assert str(error).strip() and "\n" not in str(error).strip()


# --- shaped inputs ------------------------------------------------------------------------
COLUMNS = ["run", "family", "params", "params_nonembedding", "tokens", "flops", "loss", "seed",
           "final", "split", "Model Size", "los", "loss.1", "", " loss", "[/]"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", "abc", "[/]", "True", '"', "1,2", "é"]),
    st.text(max_size=6),
)


@st.composite
def csv_bytes(draw: Any) -> bytes:
    header = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=8))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=8))
    text = "\n".join([",".join(header), *(",".join(r) for r in rows)])
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@st.composite
def parquet_bytes(draw: Any) -> bytes:
    columns = draw(st.lists(st.sampled_from(COLUMNS[:10]), min_size=1, max_size=6, unique=True))
    n = draw(st.integers(0, 6))
    values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**12),
                       st.text(max_size=4), st.booleans(), st.none())
    frame = pd.DataFrame({c: draw(st.lists(values, min_size=n, max_size=n)) for c in columns})
    buffer = io.BytesIO()
    try:
        frame.astype({c: object for c in columns}).to_parquet(buffer)
    except Exception:  # noqa: BLE001 - mixed types pyarrow will not write: use strings
        buffer = io.BytesIO()
        frame.astype(str).to_parquet(buffer)
    data = buffer.getvalue()
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return data if cut is None else data[:cut]


TOML_KEYS = ["name", "kind", "corpus", "corpora", "families", "seeds", "device", "threads",
             "params", "tokens", "budgets", "sizes", "spread", "tokens_per_param", "cooldowns",
             "hyperparameter", "values", "nope"]
TOML_VALUES = st.one_of(
    st.integers(-3, 10**7).map(str), st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(f), repr(f))),
    st.sampled_from(['"grid"', '"isoflop"', '"curves"', '"scan"', '"stdlib"', '"lr"',
                     '["transformer"]', '["rnn"]', "[0, 1]", "[-1]", "[1e4, 3e4]", "[]",
                     "{min = 1e4, max = 4e4, count = 3}", "{min = 5, max = 1}", "true",
                     '"a b"', '"[/]"', "{count = 0}"]),
)
OVERRIDE_KEYS = ["n_ctx", "lr", "eval_tokens", "batch_tokens", "n_layer", "n_ctxx", "seed",
                 "positions", "vocab_size", "warmup_tokens", "compile", "corpus_path"]


@st.composite
def toml_bytes(draw: Any) -> bytes:
    lines = [f"{k} = {draw(TOML_VALUES)}"
             for k in draw(st.lists(st.sampled_from(TOML_KEYS), max_size=7, unique=True))]
    if draw(st.booleans()):
        lines.append("[overrides]")
        lines += [f"{k} = {draw(TOML_VALUES)}"
                  for k in draw(st.lists(st.sampled_from(OVERRIDE_KEYS), max_size=4, unique=True))]
    return "\n".join(lines).encode()


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5))
LAW_NAMES = st.sampled_from(["chinchilla", "power", "saturating", "kaplan-nd", "broken-power",
                             "gpt", ""])
PARAMS = ["E", "A", "B", "alpha", "beta", "X0", "a", "aN", "aD", "Nc", "Dc", "c0", "c1"]


@st.composite
def fit_bytes(draw: Any) -> bytes:
    document: dict[str, Any] = {}
    if draw(st.booleans()):
        document["law"] = draw(st.one_of(LAW_NAMES, JSON_SCALARS))
    if draw(st.booleans()):
        document["params"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(PARAMS), JSON_SCALARS, max_size=6), JSON_SCALARS))
    if draw(st.booleans()):
        document["options"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(["x", "params_column", "y"]),
                            st.sampled_from(["tokens", "flops", "params", "loss", 3]),
                            max_size=2), JSON_SCALARS))
    for key in ("objective", "converged", "n_starts", "n_points", "message", "published"):
        if draw(st.booleans()):
            document[key] = draw(JSON_SCALARS)
    if draw(st.booleans()):
        document["bootstrap_params"] = draw(st.one_of(
            st.lists(st.dictionaries(st.sampled_from(PARAMS), JSON_SCALARS, max_size=5),
                     max_size=3), JSON_SCALARS))
    return json.dumps(document).encode()


@st.composite
def token_bytes(draw: Any) -> tuple[bytes, int, str | None]:
    dtype = draw(st.sampled_from([None, "uint16", "uint32"]))
    n = draw(st.integers(0, 300))
    ids = draw(st.lists(st.integers(0, 2**16 - 1), min_size=n, max_size=n))
    data = np.array(ids, dtype=np.dtype(dtype or "uint16")).tobytes()
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    vocab = draw(st.integers(-2, 2**17))
    return (data if cut is None else data[:cut]), vocab, dtype


# --- the properties -------------------------------------------------------------------------
MAPS = st.sampled_from([[], ["Model Size=params"], ["los=loss"], ["flops=loss"], ["tokens=x"]])


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), csv_bytes()), column_map=MAPS)
def test_measurements_csv_reads_or_refuses(data: bytes, column_map: list[str]) -> None:
    _reads_or_refuses(data, ".csv",
                      lambda p: read_measurements(p, parse_column_map(column_map)))


@FUZZ
@given(data=st.one_of(st.binary(max_size=1000), csv_bytes()))
def test_side_tables_read_or_refuse(data: bytes) -> None:
    _reads_or_refuses(data, ".csv", lambda p: check_side_table(
        p, "--positions", ("run", "params", "loss"), numeric=("params", "loss")))


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), parquet_bytes()))
def test_measurements_parquet_reads_or_refuses(data: bytes) -> None:
    _reads_or_refuses(data, ".parquet", read_measurements)


@FUZZ
@given(data=st.one_of(st.binary(max_size=1000), toml_bytes()))
def test_sweep_toml_reads_or_refuses(data: bytes) -> None:
    _reads_or_refuses(data, ".toml", load_design)


@FUZZ
@given(data=st.one_of(st.binary(max_size=1000), fit_bytes()))
def test_fit_json_reads_or_refuses(data: bytes) -> None:
    _reads_or_refuses(data, ".json", load_fit)


@FUZZ
@given(case=st.one_of(
    st.tuples(st.binary(max_size=600), st.integers(-2, 2**17), st.just(None)), token_bytes()))
def test_token_files_read_or_refuse(case: tuple[bytes, int, str | None]) -> None:
    data, vocab, dtype = case
    _reads_or_refuses(data, ".bin", lambda p: load_tokens(p, vocab, dtype))
