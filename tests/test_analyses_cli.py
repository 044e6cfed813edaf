"""The analysis commands: `--json` output, `--sweep` from a store, one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from synthetic_analyses import curves

runner = CliRunner()


@pytest.fixture(scope="module")
def csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "runs.csv"
    pd.concat([curves("transformer", step_decades=0.25, seed=1),
               curves("lstm", 4.0, step_decades=0.25, seed=2),
               curves("transformer", corpus="digits", law={"E": 1.2}, step_decades=0.25,
                      seed=3)]).to_csv(path, index=False)
    return path


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_compare_json(csv: Path) -> None:
    out = _json(["compare", "transformer", "lstm", "--data", str(csv), "--bootstrap", "20",
                 "--json"])
    assert out["a"] == "transformer" and out["b"] == "lstm" and out["by"] == "family"
    assert out["verdict"] in ("constant", "grows with scale", "shrinks with scale")
    assert 2.0 < out["multipliers"][0]["multiplier"] < 8.0
    assert any("corpus 'stdlib'" in n for n in out["notes"])  # digits set aside
    by_corpus = _json(["compare", "stdlib", "digits", "--by", "corpus", "--data", str(csv),
                       "--bootstrap", "0", "--json"])
    assert by_corpus["verdict"] == "unknown (no bootstrap)"


def test_compare_for_people_prints_a_table(csv: Path) -> None:
    result = runner.invoke(app, ["compare", "transformer", "lstm", "--data", str(csv),
                                 "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "Multiplier" in result.stdout and "lstm needs" in result.stdout


def test_modalities_json(csv: Path) -> None:
    out = _json(["modalities", "--data", str(csv), "--bootstrap", "0", "--json"])
    assert set(out["corpora"]) == {"digits", "stdlib"} and out["markov"] is None


@pytest.mark.parametrize(("args", "fragment"), [
    (["compare", "transformer", "gru"], "family 'gru' is not in the table; allowed: lstm, "
                                        "transformer"),
    (["compare", "a", "b", "--by", "lr_rule"], "no column 'lr_rule'"),
    (["compare", "transformer", "lstm", "--bootstrap", "-1"], "--bootstrap must be 0 (no"),
    (["positions"], "needs --positions"),
    (["capabilities"], "no accuracies"),
    (["modalities", "--family", "gru"], "family 'gru'"),
])
def test_bad_inputs_are_one_line_and_exit_2(csv: Path, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, [*args, "--data", str(csv)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert result.stdout == ""


def test_data_or_sweep_exactly_one(csv: Path, tmp_path: Path) -> None:
    for args in (["compare", "a", "b"],
                 ["compare", "a", "b", "--data", str(csv), "--sweep", "s"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "exactly one of --data" in result.stderr
    result = runner.invoke(app, ["compare", "a", "b", "--sweep", "s",
                                 "--store", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no such results store" in result.stderr


def test_sweep_tables_join_positions_and_accuracies_to_their_runs(tmp_path: Path) -> None:
    """A store keeps positions and accuracies under the design's run name, measurements under
    the engine's; the commands must match them."""
    from scalinglab.sweep import store as sweep_store

    db = tmp_path / "lab.db"
    sizes = 10 ** np.arange(4.0, 6.01, 0.5)
    with sweep_store.Store(db) as opened:
        opened.register_sweep("arith", "grid", {}, [
            sweep_store.PlannedRun(hash=f"h{i}", name=f"design-{i}", config={
                "family": "transformer", "corpus": "arithmetic"}, planned_flops=1e12)
            for i in range(len(sizes))])
        for i, n in enumerate(sizes):
            rows = pd.DataFrame([{"run": f"engine-{i}", "family": "transformer",
                                  "params": n, "params_nonembedding": n, "tokens": 1e7,
                                  "flops": 6e7 * n, "loss": 0.3 + (3e3 / n) ** 0.3,
                                  "final": True, "corpus": "arithmetic"}])
            t = np.arange(1, 65)
            opened.record_result(f"h{i}", sweep_store.RunRecord(
                status="done", measurements=rows,
                position_losses=pd.DataFrame({"position": t, "loss": 1.0 + (5 / t) ** 0.5}),
                accuracy={"exact_match": 0.02 if n < 3e5 else 0.9}))
    out = _json(["capabilities", "--sweep", "arith", "--store", str(db), "--bootstrap", "0",
                 "--json"])
    assert out["verdict"] == "sudden" and len(out["points"]) == len(sizes)
    out = _json(["positions", "--sweep", "arith", "--store", str(db), "--bootstrap", "0",
                 "--json"])
    assert set(out["runs"]) == {f"engine-{i}" for i in range(len(sizes))}
    assert out["families"]["transformer"]["verdict"] == "keeps improving"
