"""`scalinglab train`: JSON output for machines, one-line errors for bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from scalinglab.cli import app

TINY = [
    "--params",
    "2e4",
    "--tokens",
    "2e4",
    "--n-ctx",
    "32",
    "--eval-tokens",
    "2048",
    "--threads",
    "1",
]


def test_train_json_prints_one_object(tmp_path):
    result = CliRunner().invoke(app, ["train", *TINY, "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in (
        "params",
        "params_nonembedding",
        "flops_per_token",
        "tokens",
        "final_loss",
        "tokens_per_second",
        "seconds",
        "measurements",
    ):
        assert key in data
    assert data["status"] == "done"
    rows = data["measurements"]
    assert rows[-1]["final"] and rows[-1]["loss"] == data["final_loss"]
    assert {"run", "family", "params", "params_nonembedding", "tokens", "flops", "loss"} <= set(
        rows[0]
    )
    assert (tmp_path / "measurements.csv").exists()


def test_train_table_output_for_people():
    result = CliRunner().invoke(app, ["train", *TINY, "--corpus", "digits", "--n-ctx", "64"])
    assert result.exit_code == 0, result.output
    assert "final loss" in result.stdout and "measurements" in result.stdout


def test_train_bad_inputs_exit_2_with_one_line(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    cases = [
        ["--corpus", "text", "--corpus-path", str(tmp_path / "missing.txt")],
        ["--corpus", "text", "--corpus-path", str(empty)],
        ["--corpus", "nope"],
        ["--family", "rnn"],
    ]
    for extra in cases:
        result = CliRunner().invoke(app, ["train", *TINY, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert "Traceback" not in result.output
        assert result.output.strip().startswith("error:") and result.output.strip().count("\n") == 0


def test_train_diverged_run_exits_1():
    result = CliRunner().invoke(app, ["train", *TINY, "--lr", "1e3", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "diverged"
