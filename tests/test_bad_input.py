"""The bad-input suite: every command, every class of malformed input, one clean line.

Each case runs the CLI in-process and asserts what the lab promises for bad input: exit code 2,
exactly one line on stderr (`error: ...`) naming the problem, no traceback, nothing on stdout,
and every file already on disk unchanged (hashed before and after; no file added either).
Cases are `(id, arguments, fragment the line must contain)`; `{name}` in an argument is a file
from the `world` fixture.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.sweep import store as s
from scalinglab.train import RunConfig

runner = CliRunner()

GOOD_TOML = """
kind = "grid"
params = [3e3]
tokens = [1e4]
[overrides]
n_ctx = 32
"""
MARKOV = ["--corpus", "markov", "--params", "2e3", "--tokens", "4e3", "--n-ctx", "16",
          "--eval-tokens", "256", "--threads", "1"]
TRAIN = ["train", "--params", "2e4", "--tokens", "2e4", "--n-ctx", "32", "--threads", "1"]


def _good_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n, d = np.meshgrid(np.geomspace(1e7, 1e10, 5), np.geomspace(1e8, 1e12, 5), indexing="ij")
    n, d = n.ravel(), d.ravel()
    loss = (1.8 + 480.0 / n**0.35 + 2100.0 / d**0.37) * np.exp(rng.normal(0, 0.005, n.size))
    return pd.DataFrame({"run": [f"r{i}" for i in range(n.size)], "family": "transformer",
                         "params": n, "params_nonembedding": n, "tokens": d, "flops": 6 * n * d,
                         "loss": loss})


def _edit(table: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    table = table.astype({column: object})
    table.loc[row, column] = value
    return table


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, str]:
    """Every file the cases read (and must leave unchanged)."""
    root = tmp_path_factory.mktemp("world")
    paths: dict[str, Path] = {}

    def put(name: str, content: str | bytes | pd.DataFrame) -> None:
        path = root / name
        if isinstance(content, pd.DataFrame):
            content.to_csv(path, index=False)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        paths[name.replace(".", "_").replace("-", "_")] = path

    good = _good_table()
    put("good.csv", good)
    put("empty.csv", "")
    put("header.csv", "run,family,params,tokens,flops,loss\n")
    put("binary.csv", bytes(range(256)) * 4)
    put("utf16.csv", "params,tokens,loss\n1,2,3\n".encode("utf-16"))
    put("dup.csv", "run,family,params,loss,flops,loss\na,t,1e6,3.0,1e15,2e9\n")
    put("markup.csv", _edit(good, 2, "loss", "[/]"))
    put("text.csv", _edit(good, 3, "loss", "abc"))
    put("nan.csv", _edit(good, 5, "params", np.nan))
    put("negative.csv", _edit(good, 2, "loss", -1.0))
    put("zero.csv", _edit(good, 0, "flops", 0))
    put("inf.csv", _edit(good, 4, "tokens", np.inf))
    put("misspelled.csv", good.rename(columns={"loss": "los"}))
    put("onesize.csv", good.drop(columns=["tokens", "flops"]))
    put("few.csv", good.head(3))
    put("ragged.csv", "params,tokens,loss\n1,2,3\n4,5,6,7,8\n")
    put("fake.parquet", "this is not parquet")
    (root / "data_dir.csv").mkdir()  # a folder named like a CSV
    paths["data_dir_csv"] = root / "data_dir.csv"
    # FIT.json files
    good_fit = {"law": "chinchilla", "params": {"E": 1.8, "A": 480.0, "B": 2100.0,
                                                "alpha": 0.35, "beta": 0.37}}
    put("fit.json", json.dumps(good_fit))
    for name, change in (("negexp", {"alpha": -0.3}), ("strexp", {"beta": "x"}),
                         ("negscale", {"A": -3.0}), ("nullexp", {"alpha": None})):
        put(f"{name}.json", json.dumps({**good_fit, "params": {**good_fit["params"], **change}}))
    put("list.json", "[1, 2, 3]")
    put("garbage.json", "{not json")
    put("nolaw.json", json.dumps({"params": good_fit["params"]}))
    put("unknownlaw.json", json.dumps({**good_fit, "law": "gpt"}))
    put("missingparam.json", json.dumps({"law": "chinchilla", "params": {"E": 1.8}}))
    put("badsamples.json", json.dumps({**good_fit, "bootstrap_params": ["x"]}))
    # sweep files
    put("good.toml", GOOD_TOML)
    put("notoml.toml", "kind = [unclosed")
    put("binary.toml", b"\xff\xfe\x00kind")
    put("nokind.toml", "params = [1e3]\ntokens = [1e4]\n")
    put("badkind.toml", 'kind = "gird"\nparams = [1e3]\ntokens = [1e4]\n')
    put("unknownkey.toml", GOOD_TOML.replace("[overrides]", "paramz = [1]\n[overrides]"))
    put("overridekey.toml", GOOD_TOML.replace("n_ctx = 32", "n_ctxx = 32"))
    put("overridetype.toml", GOOD_TOML.replace("n_ctx = 32", 'n_ctx = "abc"'))
    put("overridevalue.toml", GOOD_TOML.replace("n_ctx = 32", "lr = -1"))
    put("overridedesign.toml", GOOD_TOML.replace("n_ctx = 32", "seed = 3"))
    put("negseed.toml", GOOD_TOML.replace("[overrides]", "seeds = [-1]\n[overrides]"))
    put("negparams.toml", GOOD_TOML.replace("params = [3e3]", "params = [-3e3]"))
    put("badladder.toml", GOOD_TOML.replace("params = [3e3]", "params = {min = 1e4}"))
    put("badfamily.toml", GOOD_TOML.replace("[overrides]", 'families = ["rnn"]\n[overrides]'))
    put("duplicate.toml", GOOD_TOML.replace("params = [3e3]", "params = [3e3, 3e3]"))
    put("badname.toml", GOOD_TOML.replace("[overrides]", 'name = "a b"\n[overrides]'))
    put("badcorpus.toml", GOOD_TOML.replace("[overrides]", 'corpus = "nope"\n[overrides]'))
    put("huge.toml", 'kind = "grid"\nseeds = [0, 1, 2, 3, 4]\nparams = [5e7]\n'
        "tokens = {min = 1e7, max = 3e7, count = 10}\n")
    # side tables
    put("positions.csv", pd.DataFrame({"run": ["r0"] * 3, "position": [1, 2, 3],
                                       "loss": [3.0, 2.5, 2.2]}))
    put("positions_garbage.csv", bytes(range(128, 256)) * 8)
    put("positions_columns.csv", pd.DataFrame({"run": ["r0"], "pos": [1], "loss": [3.0]}))
    runs = good["run"].astype(str).unique()
    put("accuracies.csv", pd.DataFrame({"run": runs, "task": "qa",
                                        "accuracy": np.linspace(0.3, 0.8, len(runs))}))
    put("accuracies_percent.csv", pd.DataFrame({"run": runs, "task": "qa",
                                                "accuracy": np.linspace(30, 80, len(runs))}))
    put("accuracies_stranger.csv", pd.DataFrame({"run": ["stranger"], "task": ["qa"],
                                                 "accuracy": [0.5]}))
    put("points_text.csv", pd.DataFrame({"params": ["big"], "tokens": [1e9]}))
    put("positions_text.csv", pd.DataFrame({"run": ["r0"], "position": ["first"],
                                            "loss": [3.0]}))
    put("accuracies_columns.csv", pd.DataFrame({"run": ["r0"], "value": [0.5]}))
    put("accuracies_text.csv", pd.DataFrame({"run": ["r0"], "name": ["em"], "value": ["high"]}))
    # token files
    np.array([1, 2, 150, 3, 900, 4] * 200, dtype=np.uint16).tofile(root / "ids.bin")
    paths["ids_bin"] = root / "ids.bin"
    put("odd.bin", b"\x01\x02\x03")
    put("empty.bin", b"")
    # stores
    store = root / "lab.db"
    with s.Store(store) as db:
        db.register_sweep("pending", "grid", {}, [
            s.PlannedRun(hash="h0", name="run0", config={"family": "transformer"},
                         planned_flops=1e9)])
    paths["store"] = store
    put("garbage.db", "not a database at all")
    put("empty.db", "")
    # run folders
    for name, payload in (("other_run", {"summary": {"config_hash": "0" * 64, "status": "done",
                                                     "run": "old"}}),
                          ("wrong_shape", [1, 2, 3]),
                          ("no_hash", {"summary": {"status": "done"}})):
        folder = root / name
        folder.mkdir()
        (folder / "result.json").write_text(json.dumps(payload))
        paths[name] = folder
    markov_cfg = RunConfig(corpus="markov", params=2e3, tokens=4e3, n_ctx=16, eval_tokens=256,
                           threads=1)
    truncated = root / "truncated_run"
    truncated.mkdir()
    checkpoint = truncated / f"checkpoint-{markov_cfg.config_hash()[:16]}.pt"
    torch.save({"model": {}, "step": 3}, checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:40])
    paths["truncated_run"] = truncated
    put("a_file", "keep me")
    paths["missing_dir"] = root / "missing"
    paths["root"] = root
    return {k: str(v) for k, v in paths.items()}


def _cases() -> list[tuple[str, list[str], str]]:
    cases: list[tuple[str, list[str], str]] = []

    def add(case_id: str, args: list[str], fragment: str) -> None:
        cases.append((case_id, args, fragment))

    # --- measurements files, read by fit, backtest, report and the analyses ---------------
    tables = [
        ("missing", "{root}/nope.csv", "no such file"),
        ("folder", "{data_dir_csv}", "is a directory"),
        ("empty", "{empty_csv}", "the file is empty"),
        ("header-only", "{header_csv}", "no rows"),
        ("binary", "{binary_csv}", "cannot be read as a table"),
        ("utf16", "{utf16_csv}", "cannot be read as a table"),
        ("repeated-column", "{dup_csv}", "column 'loss' appears twice"),
        ("markup-cell", "{markup_csv}", "row 3, column 'loss': '[/]' is not a number"),
        ("text-cell", "{text_csv}", "row 4, column 'loss': 'abc' is not a number"),
        ("nan-cell", "{nan_csv}", "row 6, column 'params': value is missing"),
        ("negative-cell", "{negative_csv}", "row 3, column 'loss'"),
        ("zero-cell", "{zero_csv}", "row 1, column 'flops'"),
        ("inf-cell", "{inf_csv}", "row 5, column 'tokens'"),
        ("misspelled", "{misspelled_csv}", "missing column 'loss' (did you mean 'los'?)"),
        ("one-size-column", "{onesize_csv}", "need two of the columns"),
        ("ragged", "{ragged_csv}", "cannot be read as a table"),
        ("fake-parquet", "{fake_parquet}", "cannot be read as a table"),
    ]
    for name, path, fragment in tables:
        add(f"fit-{name}", ["fit", path], fragment)
        add(f"backtest-{name}", ["backtest", path, "--train-max", "1e19"], fragment)
        add(f"report-{name}", ["report", "--data", path, "-o", "{root}/r.html"], fragment)
    for name, path, fragment in tables[:8]:
        add(f"compare-{name}", ["compare", "transformer", "lstm", "--data", path], fragment)
        add(f"modalities-{name}", ["modalities", "--data", path], fragment)
        add(f"capabilities-{name}", ["capabilities", "--data", path], fragment)
    add("fit-too-few-points", ["fit", "{few_csv}"], "need at least 5 rows")

    # --- fit and backtest options ----------------------------------------------------------
    fit = ["fit", "{good_csv}"]
    for args, fragment in (
        (["--bootstrap", "-1"], "--bootstrap must be 0 (no"),
        (["--bootstrap", "1"], "--bootstrap must be 0 (no intervals) or at least 20, got 1"),
        (["--jobs", "-5"], "--jobs must be -1 (all cores) or at least 1, got -5"),
        (["--jobs", "0", "--bootstrap", "20"], "--jobs must be"),
        (["--seed", "-1"], "--seed must be in [0, 4.29497e+09], got -1"),
        (["--drop-highest-loss", "-1"], "--drop-highest-loss must be 0 or more"),
        (["--drop-highest-loss", "99"], "would drop all"),
        (["--approach", "4"], "--approach must be 1, 2 or 3"),
        (["--approach", "1", "--bootstrap", "20"], "--bootstrap applies to --approach 2"),
        (["--law", "chinchila"], "did you mean 'chinchilla'"),
        (["--law", "power", "--x", "loss"], "--x must be one of"),
        (["--x", "tokens"], "--x applies to one-variable laws"),
        (["--map", "noequals"], "--map expects 'SOURCE=COLUMN'"),
        (["--map", "=params"], "--map expects 'SOURCE=COLUMN'"),
        (["--map", "flops=loss"], "would make a second 'loss' column"),
        (["--map", "tokens=params", "--map", "flops=params"], "--map makes two columns named"),
        (["--map", "Model Size=params"], "--map names column 'Model Size', which is not in"),
        (["--map", "a=b", "--map", "a=c"], "--map renames 'a' twice"),
        (["--out", "{root}"], "is a folder; give a file name"),
        (["--out", "{missing_dir}/FIT.json"], "does not exist"),
        (["--out", "{a_file}/FIT.json"], "is not a folder"),
        (["--bootstrap", "abc"], "Invalid value for '--bootstrap'"),
        (["--seed", "1.5"], "Invalid value for '--seed'"),
        (["--no-such-option"], "No such option"),
    ):
        add(f"fit-option{args}", [*fit, *args], fragment)
    backtest = ["backtest", "{good_csv}"]
    for args, fragment in (
        (["--train-max", "-1"], "--train-max must be a positive number"),
        (["--train-max", "0"], "--train-max must be a positive number"),
        (["--train-max", "inf"], "--train-max must be a positive number"),
        (["--train-max", "nan"], "--train-max must be a positive number"),
        (["--train-max", "1e19", "--bootstrap", "-1"], "--bootstrap must be 0 (no"),
        (["--train-max", "1e19", "--jobs", "-5"], "--jobs must be"),
        (["--train-max", "1e19", "--seed", "-3"], "--seed must be"),
        (["--train-max", "1e19", "--x", "loss"], "--x must be one of"),
        (["--train-max", "1e19", "--map", "flops=loss"], "would make a second 'loss' column"),
        (["--train-max", "1e19", "--drop-highest-loss", "-2"], "--drop-highest-loss must be"),
        ([], "Missing option '--train-max'"),
    ):
        add(f"backtest-option{args}", [*backtest, *args], fragment)

    # --- plan and fermi --------------------------------------------------------------------
    plan = ["plan", "--law", "chinchilla-epoch"]
    for args, fragment in (
        (["--compute", "-1"], "--compute must be a positive number of FLOPs"),
        (["--compute", "0"], "--compute must be a positive number of FLOPs"),
        (["--compute", "inf"], "--compute must be a positive number of FLOPs (finite), got inf"),
        (["--compute", "nan"], "--compute must be"),
        (["--compute", "lots"], "Invalid value for '--compute'"),
        (["--compute", "1e23", "--inference-tokens", "-1"], "--inference-tokens must be 0"),
        (["--compute", "1e23", "--unique-tokens", "0"], "--unique-tokens must be a positive"),
        (["--compute", "1e23", "--unique-tokens", "1"], "--unique-tokens 1 is below"),
        (["--compute", "1e23", "--unique-tokens", "1e40"], "data does not limit any plan"),
        (["--compute", "1e23", "--gpu", "tpu"], "unknown GPU 'tpu'"),
        (["--compute", "1e23", "--gpu", "h100", "--mfu", "0"], "--mfu must be in (0, 1]"),
        (["--compute", "1e23", "--gpu", "h100", "--mfu", "1.5"], "--mfu must be in (0, 1]"),
        (["--compute", "1e23", "--gpu", "h100", "--n-gpus", "0"], "--n-gpus must be at least 1"),
        (["--compute", "1e23", "--gpu", "h100", "--price-per-hour", "-5"],
         "--price-per-hour must be 0 or more"),
        (["--gpu-hours", "-1", "--gpu", "h100"], "--gpu-hours must be a positive number"),
        (["--gpu-hours", "100"], "give --gpu NAME or --peak-flops"),
        (["--budget-usd", "1e6", "--gpu", "h100"], "--budget-usd needs --price-per-hour"),
        (["--gpu-hours", "100", "--peak-flops", "0"], "--peak-flops must be a positive"),
        (["--compute", "1e23", "--budget-usd", "5"], "exactly one of --compute"),
    ):
        add(f"plan-option{args}", [*plan, *args], fragment)
    for args, fragment in (
        (["--law", "gpt5"], "unknown law 'gpt5'"),
        ([], "give exactly one of --law NAME or --fit FIT.json"),
        (["--law", "kaplan", "--fit", "{fit_json}"], "give exactly one of"),
        (["--fit", "{root}/nope.json"], "nope.json: no such file"),
        (["--fit", "{negexp_json}"], "exponent 'alpha' must be above 0, got -0.3"),
        (["--fit", "{strexp_json}"], "could not convert string to float: 'x'"),
        (["--fit", "{negscale_json}"], "parameter 'A' is a scale, must be positive"),
        (["--fit", "{nullexp_json}"], "not a valid fit file"),
        (["--fit", "{list_json}"], "not a fit file"),
        (["--fit", "{garbage_json}"], "not a JSON fit file"),
        (["--fit", "{nolaw_json}"], "no 'law' key"),
        (["--fit", "{unknownlaw_json}"], "gpt"),
        (["--fit", "{missingparam_json}"], "missing parameter(s)"),
        (["--fit", "{badsamples_json}"], "'bootstrap_params' must be a list"),
        (["--fit", "{good_csv}"], "not a JSON fit file"),
    ):
        add(f"plan-law{args}", ["plan", "--compute", "1e23", *args], fragment)
    fermi = ["fermi", "--n-layer", "2", "--d-model", "64"]
    for args, fragment in (
        (["--n-layer", "0"], "--n-layer must be at least 1, got 0"),
        (["--n-layer", "-3"], "--n-layer must be at least 1"),
        (["--d-model", "0"], "--d-model must be at least 1"),
        (["--n-ctx", "0"], "--n-ctx must be at least 1"),
        (["--vocab", "0"], "--vocab must be at least 1"),
        (["--tokens", "inf"], "--tokens must be a positive number of tokens (finite), got inf"),
        (["--tokens", "0"], "--tokens must be a positive"),
        (["--tokens", "-1"], "--tokens must be a positive"),
        (["--gpu", "v100"], "unknown GPU 'v100'"),
        (["--gpu", "a100", "--mfu", "2"], "--mfu must be in (0, 1]"),
        (["--gpu", "a100", "--n-gpus", "0"], "--n-gpus must be at least 1"),
        (["--d-model", "wide"], "Invalid value for '--d-model'"),
    ):
        add(f"fermi-option{args}", [*fermi, *args], fragment)
    add("fermi-missing-d-model", ["fermi", "--n-layer", "2"], "Missing option '--d-model'")

    # --- train ---------------------------------------------------------------------------
    for args, fragment in (
        (["--params", "0"], "--params must be a positive number of parameters"),
        (["--params", "-1"], "--params must be a positive"),
        (["--params", "inf"], "--params must be a positive"),
        (["--params", "1e15"], "needs about"),
        (["--tokens", "0"], "--tokens must be a positive"),
        (["--tokens", "inf"], "--tokens must be a positive"),
        (["--n-layer", "0"], "--n-layer must be at least 1, got 0"),
        (["--d-model", "0"], "--d-model must be at least 1"),
        (["--n-head", "0"], "--n-head must be at least 1"),
        (["--n-ctx", "0"], "--n-ctx must be at least 1"),
        (["--seed", "-1"], "--seed must be in [0, 4.29497e+09], got -1"),
        (["--warmup-tokens", "-5"], "--warmup-tokens must be 0 or more"),
        (["--lr", "0"], "--lr must be a positive"),
        (["--lr", "-1e-3"], "--lr must be a positive"),
        (["--lr", "inf"], "--lr must be a positive"),
        (["--eval-tokens", "0"], "--eval-tokens must be at least 1"),
        (["--batch-tokens", "0"], "--batch-tokens must be at least 1"),
        (["--threads", "-1"], "--threads must be 0 or more"),
        (["--min-digits", "0"], "--min-digits must be at least 1"),
        (["--max-digits", "0"], "--max-digits must be at least 1"),
        (["--min-digits", "5", "--max-digits", "2"], "min_digits=5 exceeds max_digits=2"),
        (["--markov-order", "0"], "--markov-order must be at least 1"),
        (["--vocab-size", "1"], "--vocab-size must be at least 2"),
        (["--family", "rnn"], "unknown family 'rnn'"),
        (["--corpus", "nope"], "unknown corpus 'nope'"),
        (["--schedule", "linear"], "unknown schedule 'linear'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--positions", "alibi"], "positions must be 'learned' or 'rotary'"),
        (["--cooldown-tokens", "1e4"], "--cooldown-tokens needs --schedule wsd"),
        (["--cooldown-tokens", "-1", "--schedule", "wsd"], "--cooldown-tokens must be a positive"),
        (["--schedule", "wsd", "--cooldown-tokens", "1e9"], "--cooldown-tokens must lie in"),
        (["--corpus", "text", "--corpus-path", "{root}/missing.txt"], "missing.txt"),
        (["--corpus", "text", "--corpus-path", "{empty_csv}"], "empty"),
        (["--corpus", "tokens", "--corpus-path", "{ids_bin}"], "needs --vocab-size"),
        (["--corpus", "tokens", "--corpus-path", "{ids_bin}", "--vocab-size", "100"],
         "token id 150 at position 2"),
        (["--corpus", "tokens", "--corpus-path", "{odd_bin}", "--vocab-size", "100"],
         "not a whole number of uint16"),
        (["--corpus", "tokens", "--corpus-path", "{empty_bin}", "--vocab-size", "100"],
         "is empty"),
        (["--out", "{root}/new_run", "--corpus", "tokens", "--corpus-path", "{ids_bin}",
          "--vocab-size", "100"], "token id 150 at position 2"),
        (["--out", "{root}/new_run", "--params", "1e15"], "needs about"),
        (["--out", "{a_file}"], "is a file; give a folder"),
        (["--out", "{a_file}/run"], "is a file, not a folder"),
        (["--out", "{other_run}"], "holds a done run of another configuration (old)"),
        (["--out", "{wrong_shape}"], "not a result.json written by scalinglab"),
        (["--out", "{no_hash}"], "not a result.json written by scalinglab"),
        (["--params", "many"], "Invalid value for '--params'"),
        (["--n-layer", "2.5"], "Invalid value for '--n-layer'"),
    ):
        add(f"train-option{args}", [*TRAIN, *args], fragment)
    add("train-truncated-checkpoint", ["train", *MARKOV, "--out", "{truncated_run}"],
        "checkpoint is damaged")
    add("train-n-head-lstm", [*TRAIN, "--family", "lstm", "--n-head", "2"],
        "--n-head does not apply to the lstm family")
    add("train-missing-params", ["train", "--tokens", "1e4"], "Missing option '--params'")

    # --- sweep plan and sweep run ----------------------------------------------------------
    designs = [
        ("missing", "{root}/nope.toml", "nope.toml: no such file"),
        ("not-toml", "{notoml_toml}", "not valid TOML"),
        ("binary", "{binary_toml}", "not valid TOML"),
        ("no-kind", "{nokind_toml}", "key 'kind' is missing"),
        ("bad-kind", "{badkind_toml}", "key 'kind' is 'gird'"),
        ("unknown-key", "{unknownkey_toml}", "unknown key 'paramz'"),
        ("override-key", "{overridekey_toml}",
         "unknown key 'overrides.n_ctxx' (did you mean 'n_ctx'? allowed keys: corpus_path"),
        ("override-type", "{overridetype_toml}", "key 'overrides.n_ctx': Input should be a valid"),
        ("override-value", "{overridevalue_toml}", "key 'overrides.lr': --lr must be positive"),
        ("override-design-key", "{overridedesign_toml}", "overrides may not set seed"),
        ("negative-seed", "{negseed_toml}", "key 'seeds.0': Input should be greater than"),
        ("negative-params", "{negparams_toml}", "key 'params.0'"),
        ("bad-ladder", "{badladder_toml}", "a ladder table needs keys min, max"),
        ("bad-family", "{badfamily_toml}", "'rnn' is not allowed"),
        ("duplicate-runs", "{duplicate_toml}", "two runs would both be"),
        ("bad-name", "{badname_toml}", "key 'name'"),
        ("bad-corpus", "{badcorpus_toml}", "unknown corpus 'nope'"),
        ("a-folder", "{root}", "no such file"),
    ]
    for name, path, fragment in designs:
        add(f"sweep-plan-{name}", ["sweep", "plan", path, "--no-probe"], fragment)
        add(f"sweep-run-{name}", ["sweep", "run", path, "--store", "{root}/new.db"], fragment)
    for args, fragment in (
        ([], "give a sweep TOML file or --preset NAME"),
        (["{good_toml}", "--preset", "cpu-tiny"], "give a sweep TOML file or --preset NAME"),
        (["--preset", "cpu-huge"], "unknown preset 'cpu-huge'"),
        (["{good_toml}", "--workers", "0"], "--workers must be at least 1"),
        (["{good_toml}", "--max-hours", "-1"], "--max-hours must be a positive"),
        (["{good_toml}", "--max-hours", "inf"], "--max-hours must be a positive"),
        (["{huge_toml}", "--max-hours", "1", "--workers", "1", "--probe"],
         "need at least 316 h on 1 thread even at 2.5e+11 FLOP/s each"),
    ):
        add(f"sweep-plan{args}", ["sweep", "plan", *args]
            + ([] if "--probe" in args else ["--no-probe"]), fragment)
    new_store = ["--store", "{root}/new.db"]
    for args, fragment in (
        (["{good_toml}", *new_store, "--executor", "pbs"], "unknown executor 'pbs'"),
        (["{good_toml}", *new_store, "--address", "x:1"], "--address applies to --executor ray"),
        (["{good_toml}", *new_store, "--workers", "0"], "--workers must be at least 1"),
        (["{good_toml}", *new_store, "--max-hours", "0"], "--max-hours must be a positive"),
        (["{good_toml}", "--store", "{missing_dir}/x.db"], "does not exist"),
        (["{good_toml}", "--store", "{garbage_db}"], "not a readable scalinglab store"),
        (["{good_toml}", *new_store, "--runs-dir", "{a_file}"], "is a file; give a folder"),
        (["--preset", "nope", *new_store], "unknown preset 'nope'"),
        (["{huge_toml}", *new_store, "--max-hours", "1"], "even at 2.5e+11 FLOP/s each"),
    ):
        add(f"sweep-run{args}", ["sweep", "run", *args], fragment)

    # --- status and export ---------------------------------------------------------------
    for args, fragment in (
        (["--store", "{root}/nope.db"], "no such store"),
        (["--store", "{garbage_db}"], "not a readable scalinglab store"),
        (["--store", "{empty_db}"], "an empty file, not a scalinglab store"),
        (["--store", "{good_csv}"], "not a readable scalinglab store"),
        (["--store", "{store}", "--sweep", "nope"], "no sweep named 'nope'; known: pending"),
        (["--store", "{store}", "--sweep", "[/]"], "no sweep named '[/]'"),
    ):
        add(f"status{args}", ["status", *args], fragment)
    for args, fragment in (
        (["--sweep", "pending", "--store", "{store}", "--format", "xlsx"],
         "--format must be csv or parquet"),
        (["--sweep", "nope", "--store", "{store}", "-o", "{root}/x.csv"], "no sweep named"),
        (["--sweep", "pending", "--store", "{store}", "-o", "{root}/x.csv"], "no finished runs"),
        (["--sweep", "pending", "--store", "{store}", "-o", "{root}"], "is a folder"),
        (["--sweep", "pending", "--store", "{store}", "-o", "{missing_dir}/x.csv"],
         "does not exist"),
        (["--sweep", "pending", "--store", "{root}/nope.db", "-o", "{root}/x.csv"],
         "no such store"),
        (["--sweep", "pending", "--store", "{garbage_db}", "-o", "{root}/x.csv"],
         "not a readable scalinglab store"),
        (["--sweep", "pending", "--store", "{empty_db}", "-o", "{root}/x.csv"],
         "an empty file, not a scalinglab store"),
        (["--store", "{store}"], "Missing option '--sweep'"),
    ):
        add(f"export{args}", ["export", *args], fragment)

    # --- the analyses ----------------------------------------------------------------------
    for command in ("compare", "modalities", "capabilities", "positions", "conventions",
                    "basin", "critical-batch"):
        head = [command, "transformer", "lstm"] if command == "compare" else [command]
        if command == "basin":  # no bootstrap: its seed noise is an option instead
            add("basin-noise", [*head, "--data", "{good_csv}", "--noise", "1.5"],
                "--noise must be in [0, 1)")
            add("basin-column", [*head, "--data", "{good_csv}", "--hyperparameter", "beta"],
                "no column 'beta'")
        add(f"{command}-neither", head, "give exactly one of --data FILE or --sweep NAME"
            if command != "positions" else "give exactly one of")
        add(f"{command}-both", [*head, "--data", "{good_csv}", "--sweep", "x"]
            + (["--positions", "{positions_csv}"] if command == "positions" else []),
            "give exactly one of")
        if command != "basin":
            add(f"{command}-bootstrap", [*head, "--data", "{good_csv}", "--bootstrap", "-1"],
                "--bootstrap must be 0 (no intervals) or at least 20")
            add(f"{command}-seed", [*head, "--data", "{good_csv}", "--seed", "-1"],
                "--seed must be")
        add(f"{command}-store", [*head, "--sweep", "x", "--store", "{root}/nope.db"],
            "no such results store")
    add("positions-no-file", ["positions", "--data", "{good_csv}"], "--data needs --positions")
    for name, fragment in (("positions_garbage_csv", "--positions"),
                           ("positions_columns_csv", "missing column(s) 'position'"),
                           ("positions_text_csv", "row 1, column 'position': 'first' is not a")):
        add(f"positions-{name}", ["positions", "--data", "{good_csv}", "--positions",
                                  f"{{{name}}}"], fragment)
        add(f"report-{name}", ["report", "--data", "{good_csv}", "--positions", f"{{{name}}}",
                               "-o", "{root}/r.html"], fragment)
    for name, fragment in (("accuracies_columns_csv", "missing column(s) 'name'"),
                           ("positions_garbage_csv", "--accuracies"),
                           ("accuracies_text_csv", "row 1, column 'value': 'high' is not a")):
        add(f"capabilities-{name}", ["capabilities", "--data", "{good_csv}", "--accuracies",
                                     f"{{{name}}}"], fragment)
    add("fit-convention", ["fit", "{good_csv}", "--convention", "chinchilla"],
        "unknown convention 'chinchilla'")
    add("fit-method", ["fit", "{good_csv}", "--bootstrap", "20", "--method", "rows"],
        "unknown bootstrap method 'rows'")
    add("plan-vocab", ["plan", "--law", "chinchilla-epoch", "--compute", "1e20",
                       "--vocab-size", "0"], "--vocab-size")
    accuracy = ["fit-accuracy", "{accuracies_csv}", "--data", "{good_csv}"]
    for name, args, fragment in (
        ("percent", ["fit-accuracy", "{accuracies_percent_csv}", "--data", "{good_csv}"],
         "give fractions, not percentages"),
        ("unknown-run", ["fit-accuracy", "{accuracies_stranger_csv}", "--data", "{good_csv}"],
         "run 'stranger' has an accuracy but no finished row"),
        ("no-task-column", ["fit-accuracy", "{positions_text_csv}", "--data", "{good_csv}"],
         "missing column(s) 'task', 'accuracy'"),
        ("task", [*accuracy, "--task", "math"], "no task 'math'"),
        ("form", [*accuracy, "--form", "linear"], "unknown accuracy law 'linear'"),
        ("chance", [*accuracy, "--chance", "1.5"], "--chance must be in [0, 1)"),
        ("out", [*accuracy, "--out", "{missing_dir}/acc.json"], "does not exist"),
    ):
        add(f"fit-accuracy-{name}", args, fragment)
    add("plan-buys-nothing", ["plan", "--law", "chinchilla-epoch", "--compute", "10"],
        "buys a model of 0.147 parameters")
    for name, args, fragment in (
        ("nothing", ["--law", "chinchilla-epoch"], "give exactly one of --params with"),
        ("lone-params", ["--law", "chinchilla-epoch", "--params", "1e9"],
         "--params and --tokens go together"),
        ("buys-nothing", ["--law", "chinchilla-epoch", "--compute", "10"], "less than one"),
        ("bad-fit", ["--fit", "{negexp_json}", "--params", "1e9", "--tokens", "1e10"],
         "exponent 'alpha' must be above 0"),
        ("points-text", ["--law", "chinchilla-epoch", "--points", "{points_text_csv}"],
         "--points"),
        ("negative", ["--law", "kaplan", "--params", "1e9", "--tokens", "0"],
         "--tokens must be a positive number"),
    ):
        add(f"predict-{name}", ["predict", *args], fragment)
    add("critical-batch-no-batches", ["critical-batch", "--data", "{good_csv}"],
        "no 'batch_tokens' column")
    add("compare-same-group", ["compare", "a", "a", "--data", "{good_csv}"],
        "compare needs two different family values")
    add("modalities-markov-vocab", ["modalities", "--data", "{good_csv}", "--markov-vocab", "1"],
        "--markov-vocab must be at least 2")
    add("modalities-markov-order", ["modalities", "--data", "{good_csv}", "--markov-order", "0"],
        "--markov-order must be at least 1")

    # --- report ----------------------------------------------------------------------------
    report = ["report", "--data", "{good_csv}"]
    for args, fragment in (
        (["-o", "{root}/r.txt"], "name it *.html"),
        (["-o", "{missing_dir}/r.html"], "does not exist"),
        (["-o", "{a_file}/r.html"], "is not a folder"),
        (["-o", "{root}/r.html", "--bootstrap", "-1"], "--bootstrap must be 0 (no"),
        (["-o", "{root}/r.html", "--seed", "-1"], "--seed must be"),
        (["-o", "{root}/r.html", "--drop-highest-loss", "-1"], "--drop-highest-loss must be"),
        (["-o", "{root}/r.html", "--drop-highest-loss", "999"], "would drop all"),
        (["-o", "{root}/r.html", "--map", "flops=loss"], "would make a second 'loss' column"),
        (["-o", "{root}/r.html", "--sweep", "x"], "give exactly one of --sweep NAME or --data"),
    ):
        add(f"report{args}", [*report, *args], fragment)
    add("report-neither", ["report", "-o", "{root}/r.html"], "give exactly one of")
    add("report-map-with-sweep", ["report", "--sweep", "pending", "--store", "{store}",
                                  "--map", "a=b", "-o", "{root}/r.html"],
        "--map, --positions and --final go with --data")

    # --- demo --------------------------------------------------------------------------------
    for args, fragment in (
        (["--workers", "0"], "--workers must be at least 1"),
        (["--seed", "-1"], "--seed must be"),
        (["--quick", "--full"], "choose at most one of --quick and --full"),
        (["--out", "{a_file}"], "is a file; give a folder"),
    ):
        add(f"demo{args}", ["demo", *args], fragment)

    # --- reproduce ---------------------------------------------------------------------------
    for args, fragment in (
        (["telepathy"], "unknown experiment 'telepathy'; choose one of context"),
        (["basins", "--scale", "0"], "--scale must be a positive number"),
        (["basins", "--scale", "nan"], "--scale must be"),
        (["basins", "--workers", "0"], "--workers must be at least 1"),
        (["basins", "--bootstrap", "-2"], "--bootstrap must be 0 (no intervals) or at least 20"),
        (["basins", "--seed", "-1"], "--seed must be"),
        (["basins", "--out", "{a_file}"], "is a file; give a folder"),
    ):
        add(f"reproduce{args}", ["reproduce", *args], fragment)

    # --- import (every format's cases: tests/test_importers_bad_input.py) ------------------
    for args, fragment in (
        (["comet", "{good_csv}", "-o", "{root}/imported.csv"], "unknown format 'comet'"),
        (["csv", "{text_csv}", "-o", "{root}/imported.csv"], "loss 'abc' is not a number"),
        (["nanogpt-log", "{good_csv}", "-o", "{root}/imported.csv"], "no nanoGPT loss lines"),
        (["csv", "{good_csv}", "-o", "{good_csv}"], "is one of the input files"),
        (["csv", "{good_csv}", "-o", "{root}/imported.txt"], "expected a file name ending"),
    ):
        add(f"import{args}", ["import", *args], fragment)

    # --- the top level -----------------------------------------------------------------------
    add("unknown-command", ["fitt"], "No such command 'fitt'")
    add("sweep-unknown-command", ["sweep", "walk"], "No such command 'walk'")
    return cases


CASES = _cases()


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_suite_covers_every_command_with_enough_cases() -> None:
    import typer.main

    ids = [case_id for case_id, _, _ in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 150
    group = typer.main.get_command(app)
    commands = set(group.commands) - {"sweep"} | {"sweep-plan", "sweep-run"}  # type: ignore
    covered = {c for c in commands if any(i.startswith(c) for i in ids)}
    assert covered == commands


@pytest.mark.parametrize(("case_id", "args", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    world: dict[str, str], case_id: str, args: list[str], fragment: str
) -> None:
    root = Path(world["root"])
    before = _snapshot(root)
    argv = [a.format(**world) for a in args]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, (argv, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment.format(**world) in lines[0], lines[0]
    assert "Traceback" not in result.output and result.stdout == ""
    assert _snapshot(root) == before
