"""Form uncertainty in predictions: `--law auto` keeps the forms the data cannot tell apart, and
a prediction carries their spread (science.md, section 7)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab import laws
from scalinglab.cli import app
from scalinglab.laws.selection import MEDIAN_ABS_SE
from scalinglab.predictions import forms_sentence, predict

runner = CliRunner()
TRUTH = {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 400.0, "beta": 0.28}


def _chinchilla(**params: float) -> laws.Law:
    law = laws.get_law("chinchilla")
    law.params_ = {**TRUTH, **params}
    return law


def test_the_median_abs_standard_error_constant_is_the_half_normals() -> None:
    draws = np.abs(np.random.default_rng(0).normal(0, 1, (4000, 25)))
    assert np.median(draws, axis=1).std() * np.sqrt(25) == pytest.approx(MEDIAN_ABS_SE,
                                                                            rel=0.05)


def test_the_envelope_holds_every_form_with_the_laws_relative_interval() -> None:
    law, other = _chinchilla(), _chinchilla(beta=0.26)
    table = predict(law, [1e8, 1e10], [1e9, 1e12], boot=None, forms={"slow": other})
    assert list(table.columns[-6:]) == ["loss[slow]", "forms_lo", "forms_hi", "forms_run_lo",
                                        "forms_run_hi", "forms_spread"]
    both = table[["loss", "loss[slow]"]]
    assert (table["forms_lo"] <= both.min(axis=1)).all()
    assert (table["forms_hi"] >= both.max(axis=1)).all()
    spread = (both.max(axis=1) - both.min(axis=1)) / table["loss"]
    np.testing.assert_allclose(table["forms_spread"], spread)
    assert (spread > 0.05).all()  # a beta 0.02 lower: several percent apart at both points
    # Without a bootstrap, a spread is said, with no interval to compare it to.
    assert "no bootstrap" in forms_sentence(table.iloc[1])
    # With an interval narrower than the spread, the sentence tells which interval to trust.
    row = table.iloc[1].copy()
    row["mean_lo"], row["mean_hi"] = row["loss"] * 0.999, row["loss"] * 1.001
    assert forms_sentence(row).startswith(f"the forms disagree by {100 * spread.iloc[1]:.2g}%")
    row["mean_lo"], row["mean_hi"] = row["loss"] * 0.5, row["loss"] * 1.5
    assert forms_sentence(row) == ""


def _grid(path: Path, seed: int) -> None:
    truth = _chinchilla()
    rng = np.random.default_rng(seed)
    rows = [{"run": f"N{n:.3g}-D{d:.3g}-s{s}", "seed": s, "params": n, "tokens": d,
             "loss": float(truth.predict({"params": [n], "tokens": [d]})[0])
             * np.exp(rng.normal(0, 0.01))}
            for n in np.geomspace(1e7, 1e8, 4) for d in np.geomspace(2e8, 2e9, 4)
            for s in (0, 1)]
    pd.DataFrame(rows).to_csv(path, index=False)


def test_fit_law_auto_saves_the_tied_forms_and_predict_carries_them(tmp_path: Path) -> None:
    data, fit = tmp_path / "runs.csv", tmp_path / "fit.json"
    _grid(data, seed=1)  # a draw on which Chinchilla's sum and its tied form tie
    result = runner.invoke(app, ["fit", str(data), "--law", "auto", "--bootstrap", "60",
                                 "--out", str(fit)])
    assert result.exit_code == 0, result.output
    saved = json.loads(fit.read_text())
    tied = saved["selection"]["tied"]
    assert tied and set(saved["forms"]) == set(tied) and saved["law"] not in tied
    assert "tied with it within the held-out rows' noise" in result.stderr
    out = runner.invoke(app, ["predict", "--fit", str(fit), "--params", "1e9", "--tokens",
                              "2e10", "--json"])
    assert out.exit_code == 0, out.output
    point = json.loads(out.stdout)["points"][0]
    values = [point["loss"], *(point[f"loss[{name}]"] for name in tied)]
    assert point["forms_lo"] <= min(values) and point["forms_hi"] >= max(values)
    assert point["forms_lo"] <= point["mean_lo"] and point["forms_hi"] >= point["mean_hi"]
    truth = float(_chinchilla().predict({"params": [1e9], "tokens": [2e10]})[0])
    assert point["forms_run_lo"] <= truth <= point["forms_run_hi"]
    assert "forms the data cannot tell from" in out.stderr
    assert "conditional on the law's form" not in out.stderr
    people = runner.invoke(app, ["predict", "--fit", str(fit), "--params", "1e9", "--tokens",
                                 "2e10"])
    assert people.exit_code == 0 and "The forms the data cannot tell apart" in people.stdout


def test_a_clear_winner_keeps_no_tied_form(tmp_path: Path) -> None:
    """Kaplan's L(N, D) drawn, scored against sums it is not: nothing ties with it."""
    truth = laws.get_law("kaplan-nd")
    truth.params_ = {"Nc": 8.8e13, "Dc": 5.4e13, "aN": 0.076, "aD": 0.095}
    rng = np.random.default_rng(0)
    rows = [{"run": f"N{n:.3g}-D{d:.3g}-s{s}", "seed": s, "params": n, "tokens": d,
             "loss": float(truth.predict({"params": [n], "tokens": [d]})[0])
             * np.exp(rng.normal(0, 0.003))}
            for n in np.geomspace(1e7, 3e8, 5) for d in np.geomspace(2e8, 1e10, 5)
            for s in (0, 1)]
    table = pd.DataFrame(rows).assign(flops=lambda t: 6 * t.params * t.tokens)
    selection = laws.select_law(table)
    assert selection.winner == "kaplan-nd" and selection.tied == ()
    assert set(selection.forms) == {"kaplan-nd", "chinchilla", "chinchilla-tied"}


def test_plan_carries_the_tied_forms(tmp_path: Path) -> None:
    data, fit = tmp_path / "runs.csv", tmp_path / "fit.json"
    _grid(data, seed=1)
    assert runner.invoke(app, ["fit", str(data), "--law", "auto", "--bootstrap", "40",
                               "--out", str(fit)]).exit_code == 0
    result = runner.invoke(app, ["plan", "--fit", str(fit), "--compute", "1e19", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    forms = plan["forms"]
    assert plan["law"] in forms["loss"] and len(forms["loss"]) >= 2
    lo, hi = forms["interval"]
    assert lo <= min(forms["loss"].values()) and hi >= max(forms["loss"].values())
    assert forms["loss"][plan["law"]] == pytest.approx(plan["loss"])
