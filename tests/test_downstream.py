"""Loss to downstream accuracy: both stages recovered from a synthetic truth, and chained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.errors import ScalinglabError
from scalinglab.laws.downstream import AccuracyLaw, task_points

runner = CliRunner()
STAGE1 = {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 400.0, "beta": 0.28}
SIGMOID = {"floor": 0.25, "ceiling": 0.9, "L0": 3.6, "s": 0.3}
EXPONENTIAL = {"eps": 0.9, "k": 20.0, "gamma": 1.4}


def _loss(n: float, d: float) -> float:
    return STAGE1["E"] + STAGE1["A"] / n ** STAGE1["alpha"] + STAGE1["B"] / d ** STAGE1["beta"]


def _sigmoid(loss: np.ndarray) -> np.ndarray:
    t = SIGMOID
    return t["floor"] + (t["ceiling"] - t["floor"]) * expit(-(loss - t["L0"]) / t["s"])


def test_each_form_recovers_its_parameters() -> None:
    loss = np.linspace(2.5, 5.0, 25)
    law = AccuracyLaw("sigmoid").fit(loss, _sigmoid(loss))
    assert law.result_.converged and law.result_.n_starts_at_best > 1
    for name, value in SIGMOID.items():
        assert law.params_[name] == pytest.approx(value, rel=1e-4)
    truth = 1 - EXPONENTIAL["eps"] + EXPONENTIAL["k"] * np.exp(-EXPONENTIAL["gamma"] * loss)
    law = AccuracyLaw("exponential").fit(loss, truth)
    for name, value in EXPONENTIAL.items():
        assert law.params_[name] == pytest.approx(value, rel=1e-4)
    fixed = AccuracyLaw("sigmoid", chance=0.25).fit(loss, _sigmoid(loss))
    assert fixed.params_["floor"] == 0.25 and fixed.params_["L0"] == pytest.approx(3.6)


def test_bad_accuracies_are_refused() -> None:
    loss = np.linspace(2.5, 5.0, 10)
    with pytest.raises(ScalinglabError, match="outside \\[0, 1\\] \\(give fractions"):
        AccuracyLaw().fit(loss, 100 * _sigmoid(loss))
    with pytest.raises(ScalinglabError, match="3 distinct runs cannot fit a law of 4"):
        AccuracyLaw().fit(loss[:3], _sigmoid(loss[:3]))
    with pytest.raises(ScalinglabError, match="unknown accuracy law 'linear'"):
        AccuracyLaw("linear")
    runs = pd.DataFrame({"run": ["a"], "tokens": [1.0], "loss": [3.0]})
    with pytest.raises(ScalinglabError, match="run 'b' has an accuracy but no finished row"):
        task_points(runs, pd.DataFrame({"run": ["b"], "task": ["t"], "accuracy": [0.5]}))


@pytest.fixture(scope="module")
def two_stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Runs of a 5 x 5 grid (2 seeds) with a loss law, and a task's accuracy from its loss."""
    folder = tmp_path_factory.mktemp("downstream")
    rng = np.random.default_rng(0)
    runs, accuracies = [], []
    for n in np.geomspace(1e7, 1e9, 5):
        for d in np.geomspace(2e8, 2e10, 5):
            for seed in (0, 1):
                run = f"N{n:.3g}-D{d:.3g}-s{seed}"
                loss = _loss(n, d) * np.exp(rng.normal(0, 0.005))
                runs.append({"run": run, "seed": seed, "params": n, "tokens": d, "loss": loss})
                # The measured accuracy follows the run's own loss, plus eval noise.
                accuracy = _sigmoid(np.array(loss)) + rng.normal(0, 0.01)
                accuracies.append({"run": run, "task": "qa", "accuracy": float(accuracy)})
    pd.DataFrame(runs).to_csv(folder / "runs.csv", index=False)
    pd.DataFrame(accuracies).to_csv(folder / "acc.csv", index=False)
    for args in (["fit", str(folder / "runs.csv"), "--law", "chinchilla", "--bootstrap", "200",
                  "--out", str(folder / "fit.json")],
                 ["fit-accuracy", str(folder / "acc.csv"), "--data", str(folder / "runs.csv"),
                  "--bootstrap", "200", "--out", str(folder / "acc.json")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return {"runs": folder / "runs.csv", "acc": folder / "acc.csv",
            "fit": folder / "fit.json", "acc_fit": folder / "acc.json"}


def test_fit_accuracy_recovers_the_second_stage(two_stages: dict[str, Path]) -> None:
    result = runner.invoke(app, ["fit-accuracy", str(two_stages["acc"]), "--data",
                                 str(two_stages["runs"]), "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    (task,) = json.loads(result.stdout)["tasks"]
    assert task["task"] == "qa" and task["n_runs"] == 50 and task["fit"]["converged"]
    assert task["params"]["L0"] == pytest.approx(SIGMOID["L0"], abs=0.05)
    assert task["params"]["ceiling"] == pytest.approx(SIGMOID["ceiling"], abs=0.03)


def test_the_chained_prediction_lies_inside_its_two_stage_interval(
        two_stages: dict[str, Path]) -> None:
    n, d = 2e8, 3e9  # inside the grid, where accuracy is mid-sigmoid
    result = runner.invoke(app, ["predict", "--fit", str(two_stages["fit"]), "--accuracy",
                                 str(two_stages["acc_fit"]), "--params", str(n), "--tokens",
                                 str(d), "--json"])
    assert result.exit_code == 0, result.output
    point = json.loads(result.stdout)["points"][0]
    truth = float(_sigmoid(np.array(_loss(n, d))))
    assert 0.35 < truth < 0.8  # the steep part, where both stages matter
    assert point["accuracy"] == pytest.approx(truth, abs=0.03)
    assert point["accuracy_lo"] <= truth <= point["accuracy_hi"]
    # Both stages' uncertainty: wider than stage 2 alone at the point estimate of stage 1.
    stage2 = AccuracyLaw.from_dict(json.loads(two_stages["acc_fit"].read_text())["tasks"][0])
    alone = [stage2.with_params(p).predict(point["loss"]) for p in stage2.samples_]
    assert point["accuracy_hi"] - point["accuracy_lo"] > np.ptp(np.percentile(alone, [2.5,
                                                                                      97.5]))
    people = runner.invoke(app, ["predict", "--fit", str(two_stages["fit"]), "--accuracy",
                                 str(two_stages["acc_fit"]), "--params", str(n), "--tokens",
                                 str(d)])
    assert people.exit_code == 0 and "qa accuracy" in people.stdout


def test_bad_accuracy_input_is_one_line(two_stages: dict[str, Path], tmp_path: Path) -> None:
    percent = tmp_path / "percent.csv"
    pd.read_csv(two_stages["acc"]).assign(accuracy=lambda t: 100 * t.accuracy).to_csv(
        percent, index=False)
    for args, fragment in (
        (["fit-accuracy", str(percent), "--data", str(two_stages["runs"])], "give fractions"),
        (["fit-accuracy", str(two_stages["acc"]), "--data", str(two_stages["runs"]),
          "--task", "math"], "no task 'math'; tasks: qa"),
        (["fit-accuracy", str(two_stages["acc"]), "--data", str(two_stages["runs"]),
          "--form", "linear"], "unknown accuracy law 'linear'"),
        (["predict", "--fit", str(two_stages["fit"]), "--accuracy", str(two_stages["fit"]),
          "--params", "1e8", "--tokens", "1e9"], "not an accuracy fit"),
        (["predict", "--fit", str(two_stages["fit"]), "--task", "qa", "--params", "1e8",
          "--tokens", "1e9"], "--task goes with --accuracy"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr


def test_plan_reports_the_planned_runs_accuracy(two_stages: dict[str, Path]) -> None:
    result = runner.invoke(app, ["plan", "--compute", "1e19", "--fit", str(two_stages["fit"]),
                                 "--accuracy", str(two_stages["acc_fit"]), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    truth = float(_sigmoid(np.array(_loss(plan["n_params"], plan["tokens"]))))
    lo, hi = plan["accuracy"]["interval"]
    assert plan["accuracy"]["task"] == "qa" and lo <= truth <= hi
    assert plan["accuracy"]["accuracy"] == pytest.approx(truth, abs=0.03)
