"""`scalinglab import` on bad input: one line on stderr, exit code 2, nothing written.

Each case runs the command in-process on files of the `world` fixture and checks what the lab
promises for bad input (docs/reliability.md): exit 2, exactly one `error: ...` line naming the
problem (the file, line, run, step or value), nothing on stdout, no output file, every file
unchanged. `{root}` in an argument is the world's folder; `-o {out}` is a table that must not
appear. The fuzz tests at the end feed every format raw and near-miss bytes: each imports or is
refused in one line, never another exception (`SCALINGLAB_FUZZ_EXAMPLES`, as in
test_fuzz_readers.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from imported_logs import grid, llama_config, trainer_state, write_mlflow, write_nanogpt
from scalinglab.cli import app
from scalinglab.errors import ScalinglabError
from scalinglab.importers import ImportOptions, import_runs

runner = CliRunner()
GOOD_JSONL = ['{"step": 100, "val_loss": 3.2, "n_params": 1e6}',
              '{"step": 200, "val_loss": 3.0, "n_params": 1e6}']


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every file the cases read (and must leave unchanged)."""
    from torch.utils.tensorboard import SummaryWriter

    root = tmp_path_factory.mktemp("world")
    writer = SummaryWriter(str(root / "tb-good" / "run"))
    for step in range(10, 200, 10):
        writer.add_scalar("val/loss", 3.0 - step / 1000, step)
    writer.close()
    good = next((root / "tb-good" / "run").iterdir())
    data = good.read_bytes()
    (root / "tb-truncated" / "run").mkdir(parents=True)
    (root / "tb-truncated" / "run" / good.name).write_bytes(data[: len(data) - 7])
    (root / "tb-corrupt" / "run").mkdir(parents=True)
    (root / "tb-corrupt" / "run" / "events.out.tfevents.1.host").write_bytes(b"not events" * 9)
    (root / "tb-two" / "run").mkdir(parents=True)
    for name in ("events.out.tfevents.1.a", "events.out.tfevents.2.b", "events.out.tfevents.3.c"):
        (root / "tb-two" / "run" / name).write_bytes(data)
    (root / "empty").mkdir()

    (root / "good.jsonl").write_text("\n".join(GOOD_JSONL) + "\n")
    (root / "no-params.jsonl").write_text('{"step": 100, "val_loss": 3.2}\n')
    (root / "word.jsonl").write_text(GOOD_JSONL[0] + "\n" + GOOD_JSONL[1] + "\n"
                                     '{"step": 300, "val_loss": "abc", "n_params": 1e6}\n')
    (root / "broken.jsonl").write_text(GOOD_JSONL[0] + "\n{step: 200}\n")
    (root / "negative.jsonl").write_text('{"step": 100, "val_loss": -3.2, "n_params": 1e6}\n')
    (root / "only-step0.jsonl").write_text('{"step": 0, "val_loss": 10.8, "n_params": 1e6}\n')
    (root / "backwards.csv").write_text(
        "run,step,loss,n_params\na,100,3.2,1e6\na,300,3.0,1e6\nb,100,3.3,2e6\nb,300,3.1,2e6\n"
        "b,200,3.05,2e6\n")
    (root / "repeat.csv").write_text("run,step,loss,n_params\na,100,3.2,1e6\na,100,3.1,1e6\n")
    (root / "twins").mkdir()
    for name in ("one.jsonl", "two.jsonl"):
        (root / "twins" / name).write_text('{"run": "same", "step": 10, "loss": 3.0}\n')

    lines = write_nanogpt(root, grid()[:1])[0].read_text().splitlines()
    (root / "quiet.log").write_text("\n".join(line for line in lines
                                              if not line.startswith(("step", "iter"))) + "\n")
    (root / "garbled.log").write_text("step 100: train loss abc, val loss 2.9\n")

    mlruns = write_mlflow(root, grid()[:2])
    metric = next(p for p in mlruns.glob("0/*/metrics/val/loss") if p.stat().st_size > 30)
    values = metric.read_text().splitlines()
    metric.write_text("\n".join([values[0], values[2], values[1], *values[3:]]) + "\n")
    bad = write_mlflow(root / "bad-mlflow", grid()[:1])
    bad_metric = next(p for p in bad.glob("0/*/metrics/val/loss") if p.stat().st_size > 30)
    bad_metric.write_text("1714557600000 3.0\n1714557600001 2.9 20 extra\n")

    hf = root / "hf"
    hf.mkdir()
    (hf / "trainer_state.json").write_text(json.dumps(trainer_state(grid()[0])))
    (hf / "config.json").write_text(json.dumps({**llama_config((64, 2, 128, 2, 2)),
                                                "model_type": "bert"}))
    (root / "hf-good").mkdir()
    (root / "hf-good" / "trainer_state.json").write_text(json.dumps(trainer_state(grid()[0])))
    (root / "hf-good" / "config.json").write_text(json.dumps(llama_config((64, 2, 128, 2, 2))))
    (root / "hf-broken").mkdir()
    (root / "hf-broken" / "trainer_state.json").write_text("{\"log_history\": [")

    (root / "chart.csv").write_text('"Step","r1 - val/loss","r1 - val/loss__MIN",'
                                    '"r1 - val/loss__MAX"\n"10","3.1","3.1","3.1"\n'
                                    '"20","n/a","",""\n')
    return root


CASES = [
    # (id, arguments, fragment of the one line)
    ("tb-truncated", ["tensorboard", "{root}/tb-truncated", "--params", "1e6"],
     "tb-truncated/run/events.out.tfevents"),
    ("tb-truncated-says-so", ["tensorboard", "{root}/tb-truncated", "--params", "1e6"],
     "truncated or corrupt event file"),
    ("tb-corrupt", ["tensorboard", "{root}/tb-corrupt/run/events.out.tfevents.1.host"],
     "events.out.tfevents.1.host: truncated or corrupt event file"),
    ("tb-no-events", ["tensorboard", "{root}/empty"], "has no TensorBoard event files"),
    ("tb-not-events", ["tensorboard", "{root}/good.jsonl"], "not a TensorBoard event file"),
    ("tb-some-files-of-a-folder", ["tensorboard", "{root}/tb-two/run/events.out.tfevents.1.a",
                                   "{root}/tb-two/run/events.out.tfevents.2.b"],
     "give the folder"),
    ("tb-map", ["tensorboard", "{root}/tb-good", "--map", "a=b"],
     "--map applies to the csv and jsonl formats"),
    ("nanogpt-no-loss-lines", ["nanogpt-log", "{root}/quiet.log"], "quiet.log: no nanoGPT loss"),
    ("nanogpt-loss-not-a-number", ["nanogpt-log", "{root}/garbled.log"],
     "garbled.log:1: loss 'abc' is not a number"),
    ("nanogpt-no-logs", ["nanogpt-log", "{root}/empty"], "has no nanoGPT logs"),
    ("jsonl-loss-not-a-number", ["jsonl", "{root}/word.jsonl", "--tokens-per-step", "10"],
     "word.jsonl:3: val_loss 'abc' is not a number"),
    ("jsonl-not-json", ["jsonl", "{root}/broken.jsonl"], "broken.jsonl:2: not JSON"),
    ("jsonl-negative-loss", ["jsonl", "{root}/negative.jsonl", "--tokens-per-step", "10"],
     "negative.jsonl:1: loss -3.2 is not positive"),
    ("jsonl-only-step-0", ["jsonl", "{root}/only-step0.jsonl", "--tokens-per-step", "10"],
     "no evaluation past step 0"),
    ("jsonl-no-params", ["jsonl", "{root}/no-params.jsonl", "--tokens-per-step", "10"],
     "no parameter count; give --params N, --params-from-config PATH or --params-from-name"),
    ("jsonl-no-tokens", ["jsonl", "{root}/good.jsonl"],
     "no token count; give --tokens-per-step K or --tokens-column C"),
    ("jsonl-no-such-metric", ["jsonl", "{root}/good.jsonl", "--metric", "eval/loss",
                              "--tokens-per-step", "10"],
     "no metric 'eval/loss'; it logs 'n_params', 'val_loss'"),
    ("jsonl-no-such-tokens-column", ["jsonl", "{root}/good.jsonl", "--tokens-column", "seen"],
     "no tokens column 'seen'"),
    ("jsonl-two-runs-one-name", ["jsonl", "{root}/twins", "--params", "1e6",
                                 "--tokens-per-step", "1"], "two runs are named 'same'"),
    ("jsonl-no-files", ["jsonl", "{root}/empty"], "has no *.jsonl files"),
    ("csv-steps-go-backwards", ["csv", "{root}/backwards.csv", "--tokens-per-step", "10"],
     "run b: steps go backwards at step 200"),
    ("csv-steps-repeat", ["csv", "{root}/repeat.csv", "--tokens-per-step", "10"],
     "run a: steps repeat at step 100"),
    ("csv-map-unknown-column", ["csv", "{root}/backwards.csv", "--map", "Loss=loss"],
     "--map names column 'Loss', which is not in the file (did you mean 'loss'?)"),
    ("mlflow-steps-go-backwards", ["mlflow", "{root}/mlruns"], "steps go backwards at step"),
    ("mlflow-malformed-line", ["mlflow", "{root}/bad-mlflow/mlruns"],
     "metrics/val/loss:2: expected 'TIMESTAMP VALUE STEP'"),
    ("mlflow-no-runs", ["mlflow", "{root}/empty"], "no MLflow runs"),
    ("hf-unknown-model", ["hf-trainer-state", "{root}/hf", "--tokens-per-step", "1"],
     "cannot count the parameters of model_type 'bert'"),
    ("hf-not-json", ["hf-trainer-state", "{root}/hf-broken"], "trainer_state.json: not JSON"),
    ("hf-no-state", ["hf-trainer-state", "{root}/empty"], "has no trainer_state.json"),
    ("hf-no-tokens", ["hf-trainer-state", "{root}/hf-good"],
     "give --tokens-per-step K or --tokens-column C"),
    ("wandb-cell-not-a-number", ["wandb-csv", "{root}/chart.csv", "--params", "1e6",
                                 "--tokens-per-step", "1"],
     "chart.csv:3:r1 - val/loss: val/loss 'n/a' is not a number"),
    ("wandb-no-exports", ["wandb-csv", "{root}/empty"], "has no W&B exports"),
    ("unknown-format", ["comet", "{root}/good.jsonl"], "unknown format 'comet'"),
    ("no-such-path", ["jsonl", "{root}/missing.jsonl"], "missing.jsonl: no such file or folder"),
    ("output-suffix", ["jsonl", "{root}/good.jsonl", "-o", "{root}/runs.txt"],
     "-o {root}/runs.txt: expected a file name ending in .csv or .parquet or .pq"),
    ("output-folder-missing", ["jsonl", "{root}/good.jsonl", "-o", "{root}/nowhere/runs.csv"],
     "does not exist"),
    ("params-regex-without-group", ["jsonl", "{root}/good.jsonl", "--params-from-name", "N1"],
     "needs a group around the number"),
    ("params-regex-no-match", ["jsonl", "{root}/good.jsonl", "--tokens-per-step", "1",
                               "--params-from-name", "N([0-9]+)"],
     "run good: --params-from-name 'N([0-9]+)' does not match the run's name"),
    ("params-two-ways", ["jsonl", "{root}/good.jsonl", "--params", "1e6",
                         "--params-from-name", "N([0-9]+)"], "not several"),
    ("params-not-positive", ["jsonl", "{root}/good.jsonl", "--params", "0"],
     "--params must be a positive number"),
    ("params-config-missing", ["jsonl", "{root}/good.jsonl", "--tokens-per-step", "1",
                               "--params-from-config", "{root}/nope.json"],
     "--params-from-config {root}/nope.json: no such file"),
    ("tokens-two-ways", ["jsonl", "{root}/good.jsonl", "--tokens-per-step", "1",
                         "--tokens-column", "tokens"], "not both"),
    ("tokens-per-step-negative", ["jsonl", "{root}/good.jsonl", "--tokens-per-step", "-5"],
     "--tokens-per-step must be a positive number"),
]


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("case_id", "args", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    world: Path, case_id: str, args: list[str], fragment: str
) -> None:
    before = _snapshot(world)
    argv = ["import", *(a.format(root=world) for a in args)]
    if "-o" not in argv:
        argv += ["-o", str(world / "out.csv")]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, (argv, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment.format(root=world) in lines[0], lines[0]
    assert "Traceback" not in result.output and result.stdout == ""
    assert _snapshot(world) == before  # no output file, no temporary file, nothing changed


def test_output_that_is_one_of_the_inputs_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    table.write_text("run,step,loss,n_params\na,100,3.2,1e6\na,200,3.1,1e6\n")
    before = table.read_bytes()
    for argv in (["import", "csv", str(table)], ["import", "csv", str(tmp_path)]):
        result = runner.invoke(app, [*argv, "--tokens-per-step", "1", "-o", str(table)])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1
        assert f"-o {table}: is one of the input files" in result.stderr
    assert table.read_bytes() == before


def test_missing_tensorboard_is_one_line(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing", None)
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing.event_accumulator",
                        None)
    result = runner.invoke(app, ["import", "tensorboard", str(world / "tb-good"), "-o",
                                 str(world / "out.csv")])
    assert result.exit_code == 2
    assert result.stderr == ("error: tensorboard is not installed: pip install "
                             "'scalinglab[import]'\n")
    assert not (world / "out.csv").exists()


# --- Fuzzing: any bytes in any format's file either import or are one line ----------------------

EXAMPLES = int(os.environ.get("SCALINGLAB_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
OPTIONS = ImportOptions(tokens_per_step=1000, params=1e6)
VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6),
                   st.sampled_from(["", "abc", "3,14", "491,520", None, True, [], {}]),
                   st.text(max_size=5))
KEYS = st.sampled_from(["step", "_step", "loss", "val/loss", "eval_loss", "tokens", "run",
                        "n_params", "family", "epoch", "train_runtime", "x"])


def _imports_or_refuses(fmt: str, paths: list[Path]) -> None:
    try:
        result = import_runs(fmt, paths, OPTIONS)
    except ScalinglabError as error:
        assert str(error).strip() and "\n" not in str(error).strip()
        return
    table = result.table
    assert table["final"].sum() == table["run"].nunique() and (table["loss"] > 0).all()
    assert (table["tokens"] > 0).all() and np.isfinite(table[["loss", "tokens"]]).all().all()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.binary(max_size=600), fmt=st.sampled_from(["jsonl", "csv", "nanogpt-log",
                                                           "wandb-csv", "hf-trainer-state"]))
def test_raw_bytes_import_or_refuse(data: bytes, fmt: str) -> None:
    name = {"jsonl": "run.jsonl", "csv": "run.csv", "nanogpt-log": "run.log",
            "wandb-csv": "export.csv", "hf-trainer-state": "trainer_state.json"}[fmt]
    with tempfile.TemporaryDirectory() as folder:
        _imports_or_refuses(fmt, [_write(Path(folder), name, data)])


@FUZZ
@given(rows=st.lists(st.dictionaries(KEYS, VALUES, max_size=6), max_size=8))
def test_shaped_json_lines_and_trainer_states_import_or_refuse(rows: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lines = "".join(json.dumps(row) + "\n" for row in rows).encode()
        _imports_or_refuses("jsonl", [_write(Path(folder), "run.jsonl", lines)])
        state = json.dumps({"log_history": rows, "global_step": 5, "max_steps": 10}).encode()
        _imports_or_refuses("hf-trainer-state",
                            [_write(Path(folder), "trainer_state.json", state)])


CSV_COLUMNS = st.sampled_from(["Step", "r - val/loss", "r - val/loss__MIN", "s - val/loss",
                               "Name", "_step", "step", "loss", "val_loss", "run", "n_params",
                               "tokens", "tokens_per_step", ""])
CELLS = st.one_of(VALUES.map(lambda v: "" if v is None else str(v)),
                  st.sampled_from(['"', "1e400", "-0", "0"]))


@FUZZ
@given(header=st.lists(CSV_COLUMNS, min_size=1, max_size=5, unique=True),
       cells=st.lists(st.lists(CELLS, min_size=0, max_size=6), max_size=6))
def test_shaped_csv_exports_import_or_refuse(header: list[str], cells: list[list[str]]) -> None:
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(cells)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), "export.csv", text.getvalue().encode())
        for fmt in ("csv", "wandb-csv"):
            _imports_or_refuses(fmt, [path])


NANOGPT_LINES = st.one_of(
    st.builds("step {}: train loss {}, val loss {}".format, st.integers(-5, 10**6), VALUES,
              VALUES),
    st.builds("iter {}: loss {}, time 1.0ms, mfu 1.00%".format, st.integers(-5, 10**6), VALUES),
    st.builds("tokens per iteration will be: {}".format, st.integers(0, 10**7)),
    st.builds("number of parameters: {}M".format, VALUES),
    st.text(max_size=30))


@FUZZ
@given(lines=st.lists(NANOGPT_LINES, max_size=10))
def test_shaped_nanogpt_logs_import_or_refuse(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        log = _write(Path(folder), "run.log", "\n".join(lines).encode("utf-8", "replace"))
        _imports_or_refuses("nanogpt-log", [log])


@FUZZ
@given(lines=st.lists(st.one_of(
    st.builds("{} {} {}".format, st.integers(0, 10**13), VALUES, st.integers(-3, 10**6)),
    st.text(max_size=20)), max_size=8))
def test_shaped_mlflow_metric_files_import_or_refuse(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "0" / ("a" * 32)
        _write(run, "meta.yaml", b"run_id: aaaa\nrun_name: r\nlifecycle_stage: active\n")
        _write(run, "metrics/val/loss", "\n".join(lines).encode("utf-8", "replace"))
        _imports_or_refuses("mlflow", [Path(folder)])


@pytest.fixture(scope="module")
def event_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from torch.utils.tensorboard import SummaryWriter

    folder = tmp_path_factory.mktemp("events")
    writer = SummaryWriter(str(folder))
    for step in range(10, 60, 10):
        writer.add_scalar("val/loss", 3.0 - step / 100, step)
    writer.close()
    return next(folder.iterdir()).read_bytes()


@FUZZ
@given(cut=st.integers(0, 10**4), flips=st.lists(st.tuples(st.integers(0, 10**4),
                                                            st.integers(1, 255)), max_size=3))
def test_cut_or_flipped_event_files_import_or_refuse(event_file: bytes, cut: int,
                                                     flips: list[tuple[int, int]]) -> None:
    data = bytearray(event_file[: cut % (len(event_file) + 1)])
    for position, mask in flips:
        if data:
            data[position % len(data)] ^= mask
    with tempfile.TemporaryDirectory() as folder:
        _imports_or_refuses("tensorboard", [_write(Path(folder), "run/events.out.tfevents.1.h",
                                                   bytes(data))])
