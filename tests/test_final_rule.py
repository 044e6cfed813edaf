"""One learning-curve rule everywhere: unmarked curves are never fitted as annealed models.

A table with several evaluations per run and no `final` marks stands for each run by its last
evaluation (`--final last`, the default, with a note); `--final all` keeps every row with a
warning; `--final COLUMN` names a boolean column. One run's curve fits with `--x tokens` or
`--x step`, and its bootstrap keeps the curve together.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.errors import ScalinglabError
from scalinglab.measurements import apply_final_rule, parse_booleans
from scalinglab.regime import UNMARKED_EVALUATION, fit_regime

runner = CliRunner()
TRUTH = {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 2000.0, "beta": 0.28}
# A checkpoint mid-schedule sits above the annealed law at its tokens (no cooldown yet).
UNANNEALED = 1.06


def _curves(seed: int = 0, unannealed: float = UNANNEALED) -> pd.DataFrame:
    """20 runs on an (N, D) grid, 8 evaluations each; only the last is annealed."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in np.geomspace(1e7, 1e9, 5):
        for d_end in np.geomspace(2e8, 2e10, 4):
            for i, d in enumerate(np.geomspace(d_end / 30, d_end, 8)):
                law = (TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"]
                       + TRUTH["B"] / d ** TRUTH["beta"])
                factor = 1.0 if i == 7 else unannealed
                rows.append({"run": f"N{n:.3g}-D{d_end:.3g}", "params": n, "tokens": d,
                             "loss": law * factor * np.exp(rng.normal(0, 0.002))})
    return pd.DataFrame(rows)


def _fit(args: list[str]) -> tuple[dict, str]:
    result = runner.invoke(app, ["fit", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def test_unmarked_curves_are_fitted_on_each_runs_last_evaluation(tmp_path: Path) -> None:
    path = tmp_path / "curves.csv"
    _curves().to_csv(path, index=False)
    fit, stderr = _fit([str(path), "--law", "chinchilla"])
    assert fit["n_points"] == 20  # one row per run, not 160
    assert "140 unmarked intermediate evaluations of 20 runs are left out" in stderr
    assert "--final all keeps every row" in " ".join(stderr.split())
    assert abs(fit["params"]["alpha"] - TRUTH["alpha"]) < 0.03
    assert abs(fit["params"]["beta"] - TRUTH["beta"]) < 0.03


def test_final_all_keeps_every_row_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "curves.csv"
    _curves(unannealed=1.0).to_csv(path, index=False)  # every evaluation on the law
    fit, stderr = _fit([str(path), "--law", "chinchilla", "--final", "all"])
    # Every row is final; the regime's plateau clause (noise on a flat curve) may cut a few.
    assert fit["n_points"] >= 140
    assert "warning: --final all fits every one of the 160 evaluations" in " ".join(
        stderr.split())


def test_final_column_names_the_marks(tmp_path: Path) -> None:
    table = _curves()
    last = table.groupby("run")["tokens"].transform("max") == table["tokens"]
    path = tmp_path / "curves.csv"
    table.assign(annealed=np.where(last, "yes", "no")).to_csv(path, index=False)
    fit, stderr = _fit([str(path), "--law", "chinchilla", "--final", "annealed"])
    assert fit["n_points"] == 20
    assert "final rows from column 'annealed': 20 of 160" in stderr


def test_bad_final_values_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "curves.csv"
    _curves().assign(final="maybe").to_csv(path, index=False)
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "row 1, column 'final': 'maybe' is not a boolean" in result.stderr
    result = runner.invoke(app, ["fit", str(path), "--final", "finale"])
    assert result.exit_code == 2
    assert "--final 'finale' is neither 'last', 'all' nor a column" in result.stderr
    assert "did you mean 'final'?" in result.stderr


def test_booleans_are_parsed_strictly() -> None:
    values = pd.Series(["yes", "No", "TRUE", "0", 1, 0.0, True, None])
    parsed = parse_booleans(values, "final", "t.csv", missing=False)
    assert parsed.tolist() == [True, False, True, False, True, False, True, False]
    with pytest.raises(ScalinglabError, match="row 8, column 'final': value is missing"):
        parse_booleans(values, "final", "t.csv")
    with pytest.raises(ScalinglabError, match="'2' is not a boolean"):
        parse_booleans(pd.Series(["1", "2"]), "final", "t.csv")


def test_marks_a_table_has_are_kept() -> None:
    table = pd.DataFrame({"run": ["a", "a", "b"], "tokens": [1.0, 2.0, 3.0], "loss": [3, 2, 1],
                          "final": [True, False, True]})  # a cooldown branch ends mid-run
    marked, notes = apply_final_rule(table)
    assert marked["final"].tolist() == [True, False, True]
    assert notes == []


def test_the_regime_names_unmarked_evaluations() -> None:
    table, _ = apply_final_rule(_curves().assign(flops=lambda t: 6 * t.params * t.tokens))
    regime = fit_regime(table)
    assert set(regime.excluded["reason"]) == {UNMARKED_EVALUATION}
    assert regime.rule.startswith("each run's last evaluation")
    # A table of final losses (one row per run) is not worded as curves.
    single = fit_regime(apply_final_rule(table[table["final"]])[0])
    assert single.rule.startswith("finished (annealed) rows")


def test_backtest_and_report_take_the_same_rule(tmp_path: Path) -> None:
    path = tmp_path / "curves.csv"
    _curves().to_csv(path, index=False)
    result = runner.invoke(app, ["backtest", str(path), "--law", "chinchilla", "--x", "params",
                                 "--train-max", "3e8", "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n_train"] + out["n_test"] == 20
    assert "unmarked intermediate evaluations" in result.stderr
    result = runner.invoke(app, ["report", "--sweep", "s", "--final", "all",
                                 "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "--final go with --data" in result.stderr


def _one_curve(path: Path, with_run: bool) -> None:
    steps = np.arange(1, 41) * 250
    tokens = steps * 65536.0
    loss = 2.1 + (3e7 / tokens) ** 0.4 * np.exp(np.random.default_rng(1).normal(0, 0.003, 40))
    table = pd.DataFrame({"step": steps, "tokens": tokens, "loss": loss})
    if with_run:
        table.insert(0, "run", "r")
    table.to_csv(path, index=False)


@pytest.mark.parametrize("x", ["tokens", "step"])
def test_one_runs_curve_fits_with_x_tokens_or_step(tmp_path: Path, x: str) -> None:
    path = tmp_path / "curve.csv"
    _one_curve(path, with_run=False)
    result = runner.invoke(app, ["fit", str(path), "--law", "saturating", "--x", x,
                                 "--bootstrap", "30", "--json"])
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    assert fit["n_points"] == 40  # every evaluation of the curve
    assert abs(fit["params"]["E"] - 2.1) < 0.05
    assert abs(fit["params"]["a"] - 0.4) < 0.05
    # The rows are one run, so the bootstrap keeps the curve together: never cases of rows.
    assert "one run's learning curve" in result.stderr
    assert fit["bootstrap"]["method"] == "parametric"


def test_a_curve_csv_with_a_two_variable_law_says_which_law_to_use(tmp_path: Path) -> None:
    path = tmp_path / "curve.csv"
    pd.DataFrame({"step": [1, 2, 3], "loss": [3.0, 2.5, 2.2]}).to_csv(path, index=False)
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    assert "--law saturating --x step" in result.stderr
