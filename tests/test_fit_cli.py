"""`scalinglab fit` and `scalinglab backtest` from the command line, good and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app

runner = CliRunner()


def _chinchilla_csv(path: Path, seed: int = 0) -> Path:
    """A published-style table: 'Model Size', 'Training FLOP', 'loss' (tokens derived)."""
    rng = np.random.default_rng(seed)
    n, d = np.meshgrid(np.geomspace(1e7, 1e10, 6), np.geomspace(1e8, 1e12, 6), indexing="ij")
    n, d = n.ravel(), d.ravel()
    loss = (1.8 + 480.0 / n**0.35 + 2100.0 / d**0.37) * np.exp(rng.normal(0, 0.005, n.size))
    pd.DataFrame({"Model Size": n, "Training FLOP": 6 * n * d, "loss": loss}).to_csv(
        path, index=False)
    return path


MAP = ["--map", "Model Size=params", "--map", "Training FLOP=flops"]


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_fit_json_has_the_documented_keys(tmp_path: Path) -> None:
    data = _chinchilla_csv(tmp_path / "runs.csv")
    out = _json(["fit", str(data), "--law", "chinchilla", *MAP, "--json"])
    assert set(out) >= {"law", "params", "objective", "converged", "n_points", "n_starts",
                        "n_starts_at_best", "options"}
    assert out["law"] == "chinchilla" and out["converged"] is True and out["n_points"] == 36
    assert out["params"]["alpha"] == pytest.approx(0.35, abs=0.03)
    assert "intervals" not in out


def test_fit_bootstrap_writes_fit_json(tmp_path: Path) -> None:
    data = _chinchilla_csv(tmp_path / "runs.csv")
    fit_path = tmp_path / "FIT.json"
    out = _json(["fit", str(data), *MAP, "--drop-highest-loss", "2", "--bootstrap", "20",
                 "--seed", "1", "--out", str(fit_path), "--json"])
    assert out["n_points"] == 34
    assert set(out["intervals"]) == {"E", "A", "B", "alpha", "beta"}
    saved = json.loads(fit_path.read_text())
    assert len(saved["bootstrap_params"]) == 20
    assert saved["intervals"] == out["intervals"]


def test_fit_one_variable_law_and_approaches(tmp_path: Path) -> None:
    data = _chinchilla_csv(tmp_path / "runs.csv")
    out = _json(["fit", str(data), "--law", "power", "--x", "tokens", *MAP, "--json"])
    assert out["options"] == {"x": "tokens"} and set(out["params"]) == {"X0", "a"}
    envelope = _json(["fit", str(data), *MAP, "--approach", "1", "--json"])
    assert envelope["approach"] == 1 and envelope["n_opt_exponent"] > 0
    people = runner.invoke(app, ["fit", str(data), *MAP])
    assert people.exit_code == 0 and "converged" in people.stdout


def test_backtest_json(tmp_path: Path) -> None:
    data = _chinchilla_csv(tmp_path / "runs.csv")
    out = _json(["backtest", str(data), *MAP, "--train-max", "1e19", "--bootstrap", "20",
                 "--json"])
    assert out["median_are"] < 0.05 and out["n_test"] == len(out["rows"]) > 0
    assert set(out["rows"][0]) == {"run", "x", "measured", "predicted", "lo", "hi", "are",
                                   "params", "tokens"}
    people = runner.invoke(app, ["backtest", str(data), *MAP, "--train-max", "1e19",
                                 "--bootstrap", "0"])
    assert people.exit_code == 0 and "median ARE" in people.stdout


def _bad_tables(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, a fragment the one-line error must contain)."""
    good = pd.read_csv(_chinchilla_csv(tmp / "good.csv"))
    cases: dict[str, tuple[list[str], str]] = {
        "missing file": ([str(tmp / "nope.csv")], "no such file"),
        "unknown law": ([str(tmp / "good.csv"), "--law", "chinchila"], "did you mean 'chinchilla'"),
    }

    def write(name: str, frame: pd.DataFrame) -> str:
        frame.to_csv(tmp / f"{name}.csv", index=False)
        return str(tmp / f"{name}.csv")

    misspelled = good.rename(columns={"loss": "los"})
    cases["misspelled column"] = ([write("misspelled", misspelled)], "did you mean 'los'")
    text = good.astype(object)
    text.loc[3, "loss"] = "abc"
    cases["non-numeric"] = ([write("text", text)], "row 4, column 'loss': 'abc' is not a number")
    nan = good.copy()
    nan.loc[5, "Model Size"] = np.nan
    cases["NaN"] = ([write("nan", nan)], "row 6, column 'params'")
    negative = good.copy()
    negative.loc[2, "loss"] = -1.0
    cases["negative"] = ([write("negative", negative)], "row 3, column 'loss'")
    zero = good.copy()
    zero.loc[0, "Training FLOP"] = 0
    cases["zero"] = ([write("zero", zero)], "row 1, column 'flops'")
    cases["too few points"] = ([write("few", good.head(3))], "need at least 5 rows")
    (tmp / "empty.csv").write_text("")
    cases["empty file"] = ([str(tmp / "empty.csv")], "empty")
    return cases


BAD = ["missing file", "unknown law", "misspelled column", "non-numeric", "NaN", "negative",
       "zero", "too few points", "empty file"]


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("command", ["fit", "backtest"])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, case: str, command: str) -> None:
    args, fragment = _bad_tables(tmp_path)[case]
    extra = ["--train-max", "1e19", "--bootstrap", "0"] if command == "backtest" else []
    if command == "backtest" and case == "too few points":
        fragment = "rows"  # too few rows below the threshold, or none above it
    result = runner.invoke(app, [command, args[0], *MAP, *args[1:], *extra])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_bad_options_are_one_line(tmp_path: Path) -> None:
    data = str(_chinchilla_csv(tmp_path / "runs.csv"))
    for args, fragment in (
        (["--approach", "4"], "--approach must be 1, 2 or 3"),
        (["--x", "tokens"], "--x applies to one-variable laws"),
        (["--law", "power", "--x", "loss"], "--x must be one of"),
        (["--drop-highest-loss", "99"], "would drop all"),
        (["--map", "Model Sise=params"], "did you mean 'Model Size'"),
        (["--bootstrap", "20", "--jobs", "0"], "--jobs must be -1 (all cores) or at least 1"),
    ):
        result = runner.invoke(app, ["fit", data, *MAP, *args])
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.stderr and "Traceback" not in result.output


def test_backtest_law_auto_selects_on_the_training_rows_only(tmp_path: Path) -> None:
    data = _chinchilla_csv(tmp_path / "runs.csv")
    out = _json(["backtest", str(data), *MAP, "--law", "auto", "--train-max", "1e19",
                 "--bootstrap", "20", "--json"])
    assert out["law"] in ("chinchilla", "kaplan-nd", "chinchilla-tied")
    # The selection's rows are the training rows: it never saw a held-out run.
    assert out["selection"]["n_train_rows"] + out["selection"]["n_check_rows"] <= out["n_train"]
    # Each held-out row says where it sits (N, D), and how many fell inside is counted.
    assert {"params", "tokens"} <= set(out["rows"][0])
    assert 0.0 <= out["inside_fraction"] <= 1.0
    people = runner.invoke(app, ["backtest", str(data), *MAP, "--law", "auto", "--train-max",
                                 "1e19", "--bootstrap", "20"])
    assert people.exit_code == 0, people.output
    assert "held-out rows inside their 95% intervals" in people.stdout


def test_approach_2_takes_a_bootstrap(tmp_path: Path) -> None:
    from test_laws_approaches import _isoflop_table

    path = tmp_path / "isoflop.csv"
    _isoflop_table().to_csv(path, index=False)
    out = _json(["fit", str(path), "--approach", "2", "--bootstrap", "50", "--json"])
    lo, hi = out["bootstrap"]["intervals"]["n_opt_exponent"]
    assert lo < out["n_opt_exponent"] < hi
    assert out["bootstrap"]["n_resamples"] == 50
    people = runner.invoke(app, ["fit", str(path), "--approach", "2", "--bootstrap", "50"])
    assert people.exit_code == 0 and "95% intervals: n opt exponent" in people.stdout


def test_backtest_says_how_far_its_held_out_rows_reach(tmp_path: Path) -> None:
    data = _chinchilla_csv(tmp_path / "runs.csv")
    result = runner.invoke(app, ["backtest", str(data), *MAP, "--train-max", "1e19",
                                 "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    reach = json.loads(result.stdout)["extrapolation"]
    assert reach["compute_factor"] > 1
    assert "the held-out rows: extrapolating" in result.stderr
    far = runner.invoke(app, ["backtest", str(data), *MAP, "--train-max", "5e17",
                              "--bootstrap", "0"])
    assert far.exit_code == 2 and "over the 1e+04x limit" in far.stderr
    allowed = runner.invoke(app, ["backtest", str(data), *MAP, "--train-max", "5e17",
                                  "--bootstrap", "0", "--allow-extrapolation"])
    assert allowed.exit_code == 0, allowed.output
