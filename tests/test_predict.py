"""`scalinglab predict` and the extrapolation guards of `predict` and `plan`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab import decide, laws
from scalinglab.cli import app
from scalinglab.predictions import COLUMNS, predict

runner = CliRunner()
TRUTH = {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 2000.0, "beta": 0.28}
NOISE = 0.005


def _true_loss(n: float, d: float) -> float:
    return TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]


@pytest.fixture(scope="module")
def fit_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bootstrapped Chinchilla fit of a 5 x 5 grid with two seeds per cell (seed noise)."""
    folder = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    rows = [{"run": f"N{n:.3g}-D{d:.3g}-s{s}", "seed": s, "params": n, "tokens": d,
             "loss": _true_loss(n, d) * np.exp(rng.normal(0, NOISE))}
            for n in np.geomspace(1e7, 1e9, 5) for d in np.geomspace(2e8, 2e10, 5)
            for s in (0, 1)]
    pd.DataFrame(rows).to_csv(folder / "grid.csv", index=False)
    result = runner.invoke(app, ["fit", str(folder / "grid.csv"), "--law", "chinchilla",
                                 "--bootstrap", "200", "--out", str(folder / "fit.json")])
    assert result.exit_code == 0, result.output
    return folder / "fit.json"


def _predict(args: list[str]) -> tuple[dict, str]:
    result = runner.invoke(app, ["predict", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def test_fit_json_records_the_range_it_was_fitted_on(fit_json: Path) -> None:
    fitted = json.loads(fit_json.read_text())["fitted_range"]
    assert fitted["params"] == [1e7, 1e9] and fitted["tokens"] == [2e8, 2e10]
    assert fitted["flops"] == [pytest.approx(1.2e16), pytest.approx(1.2e20)]
    assert fitted["tokens_per_param"] == [pytest.approx(0.2), pytest.approx(2000.0)]
    assert fitted["n_rows"] == 50


def test_predict_returns_the_true_loss_inside_both_intervals(fit_json: Path) -> None:
    n, d = 3e8, 6e9  # inside the grid
    out, stderr = _predict(["--fit", str(fit_json), "--params", str(n), "--tokens", str(d)])
    point = out["points"][0]
    truth = _true_loss(n, d)
    assert abs(point["loss"] / truth - 1) < 0.01
    assert point["mean_lo"] <= truth <= point["mean_hi"]
    assert point["run_lo"] <= truth <= point["run_hi"]
    # A new run also carries its seed noise: its interval is the wider one.
    assert point["run_hi"] - point["run_lo"] > point["mean_hi"] - point["mean_lo"]
    assert point["compute_factor"] < 1 and point["extrapolation"] == ""
    assert "seed noise" in out["noise"] and "extrapolating" not in stderr


def test_predict_warns_beyond_the_data_and_refuses_past_the_limit(fit_json: Path) -> None:
    far = ["--fit", str(fit_json), "--params", "3e10", "--tokens", "6e11"]  # 900x the compute
    out, stderr = _predict(far)
    assert "extrapolating 900x beyond the largest fitted compute (N x 30, D x 30)" in stderr
    assert out["points"][0]["compute_factor"] == pytest.approx(900)
    farther = ["--fit", str(fit_json), "--params", "1e12", "--tokens", "2e12"]  # 1e5x
    result = runner.invoke(app, ["predict", *farther])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "extrapolating 1e+05x" in result.stderr and "--allow-extrapolation" in result.stderr
    out, stderr = _predict([*farther, "--allow-extrapolation"])
    assert "extrapolating 1e+05x" in stderr and np.isfinite(out["points"][0]["loss"])


def test_predict_at_a_budgets_optimum_and_at_many_points(fit_json: Path, tmp_path: Path) -> None:
    law = laws.load_fit(fit_json)[0]
    out, _ = _predict(["--fit", str(fit_json), "--compute", "1e20"])
    optimum = decide.compute_optimal(law, 1e20)
    assert out["points"][0]["params"] == pytest.approx(optimum["n_params"])
    assert out["points"][0]["loss"] == pytest.approx(optimum["loss"])
    points = tmp_path / "points.csv"
    pd.DataFrame({"params": [1e8, 2e8, 4e8], "tokens": [1e9, 2e9, 4e9]}).to_csv(points,
                                                                                 index=False)
    out, _ = _predict(["--fit", str(fit_json), "--points", str(points)])
    assert [p["params"] for p in out["points"]] == [1e8, 2e8, 4e8]
    assert np.all(np.diff([p["loss"] for p in out["points"]]) < 0)


def test_the_python_api_returns_a_frame_with_interval_columns(fit_json: Path) -> None:
    saved = laws.read_fit(fit_json)
    frame = predict(saved.law, [1e8, 1e9], [1e9, 1e10], saved.boot, saved.fitted_range)
    assert tuple(frame.columns) == COLUMNS and len(frame) == 2
    assert (frame["mean_lo"] < frame["loss"]).all() and (frame["loss"] < frame["mean_hi"]).all()
    assert (frame["compute_factor"] > 0).all()  # the law's own range by default
    bare = predict(laws.published_law("chinchilla-epoch"), 1e8, 1e9)  # no samples, no range
    assert bare["mean_lo"].isna().all() and bare["compute_factor"].isna().all()


def test_a_published_law_predicts_without_intervals_or_range() -> None:
    out, stderr = _predict(["--law", "chinchilla-epoch", "--params", "7e10", "--tokens",
                            "1.4e12"])
    assert 1.9 < out["points"][0]["loss"] < 2.0  # Chinchilla's own (N, D)
    assert out["points"][0]["mean_lo"] is None
    assert "no bootstrap in the fit" in stderr and "records no fitted range" in stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (["--law", "chinchilla-epoch", "--compute", "10"], "buys a model of 0.147 parameters"),
    (["--law", "chinchilla-epoch", "--params", "1e9"], "--params and --tokens go together"),
    (["--law", "chinchilla-epoch"], "give exactly one of --params with --tokens"),
    (["--params", "1e9", "--tokens", "1e10"], "give exactly one of --law NAME or --fit"),
    (["--law", "chinchilla-epoch", "--params", "-1", "--tokens", "1e10"],
     "--params must be a positive number"),
])
def test_bad_predict_input_is_one_line(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["predict", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr


def test_bad_points_file_is_one_line(tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    pd.DataFrame({"params": [1e8, "big"], "tokens": [1e9, 2e9]}).to_csv(points, index=False)
    result = runner.invoke(app, ["predict", "--law", "chinchilla-epoch", "--points", str(points)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "row 2, column 'params': 'big' is not a finite number" in result.stderr


def test_plan_refuses_a_budget_that_buys_nothing_and_guards_its_reach(fit_json: Path) -> None:
    result = runner.invoke(app, ["plan", "--compute", "10", "--law", "chinchilla-epoch"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "less than one of each" in result.stderr
    result = runner.invoke(app, ["plan", "--compute", "1e22", "--fit", str(fit_json), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["extrapolation"]["compute_factor"] == pytest.approx(83.33,
                                                                                         rel=1e-3)
    assert "extrapolating 83.3x beyond the largest fitted compute" in result.stderr
    result = runner.invoke(app, ["plan", "--compute", "1e26", "--fit", str(fit_json)])
    assert result.exit_code == 2 and "over the 1e+04x limit" in result.stderr
    result = runner.invoke(app, ["plan", "--compute", "1e10", "--fit", str(fit_json)])
    assert result.exit_code == 2 and "below the smallest fitted compute" in result.stderr
