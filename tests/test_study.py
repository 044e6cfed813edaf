"""One study in front of every renderer: conventions, regime, seed noise, verdicts, plans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab import decide, laws
from scalinglab.analyses.conventions import convention_ablation
from scalinglab.analyses.study import agreement_verdict, study
from scalinglab.calibration import SyntheticDesign, synthetic_sweep
from scalinglab.cli import app
from scalinglab.laws.uncertainty import NoiseModel

TRUTH = {"E": 0.77, "A": 10.8, "B": 312.6, "alpha": 0.28, "beta": 0.45}
DESIGN = SyntheticDesign(sizes=(3120, 12384, 27792, 55536, 98624, 154000),
                         tokens=(1.5e6, 2.25e6, 3e6, 4.5e6, 6e6), n_seeds=3, replicated=3)


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    table = synthetic_sweep(TRUTH, DESIGN, NoiseModel(0.0074, 0.0026, "seeds"),
                            np.random.default_rng(0))
    return table.assign(flops_kaplan=6 * table["params_nonembedding"] * table["tokens"],
                        n_ctx=128, d_model=[_d_model(n) for n in table["params_nonembedding"]])


def _d_model(n: float) -> int:
    from scalinglab.models.ladder import transformer_shape

    return transformer_shape(n).d_model


@pytest.fixture(scope="module")
def result(sweep: pd.DataFrame):
    return study(sweep, n_resamples=40, seed=0)


def test_study_reads_the_lab_convention_measures_seed_noise_and_keeps_the_design(result):
    assert result.convention.name == "exact-nonembedding"
    assert result.noise is not None and result.noise.includes_seed_noise
    assert result.noise.run_sd == pytest.approx(0.0074, rel=0.6)
    l_nd = result.laws["l_nd"]
    assert l_nd.boot.method == "parametric" and l_nd.boot.n_failed == 0
    assert l_nd.law.accounting["exact"] and l_nd.law.accounting["vocab_size"] == 256
    allocation = l_nd.extra["allocation"]
    lo, hi = allocation["interval"]
    assert lo <= allocation["a"] <= hi
    assert "residuals" in result.verdicts and "allocation" in result.verdicts


def test_study_json_has_every_number_once(result):
    data = json.loads(json.dumps(result.to_dict()))
    assert data["convention"]["name"] == "exact-nonembedding"
    assert data["seed_noise"]["includes_seed_noise"]
    l_nd = next(f for f in data["fits"] if f["key"] == "l_nd")
    assert set(l_nd["identified"]) == {"E", "A", "B", "alpha", "beta"}
    assert l_nd["bootstrap"]["method"] == "parametric"


def test_unidentified_parameters_print_no_interval(result):
    for fitted in result.laws.values():
        text = fitted.param_text()
        for known in fitted.identification.values():
            if not known.identified:
                assert "not identified" in text


def test_convention_ablation_moves_the_exponent(sweep):
    ablation = convention_ablation(sweep, n_resamples=0)
    names = [row.name for row in ablation.rows]
    assert names == ["kaplan", "exact-nonembedding", "exact", "6nd"]
    a = {row.name: row.exponents["Approach 3"][0] for row in ablation.rows}
    # The same runs: with N non-embedding, C = 6ND and exact FLOPs give different optima.
    assert a["kaplan"] != pytest.approx(a["exact-nonembedding"], abs=1e-3)
    assert ablation.spread() > 0


def test_fit_then_plan_spends_the_budget_in_exact_flops(sweep, tmp_path: Path):
    data = tmp_path / "runs.csv"
    sweep.to_csv(data, index=False)
    fit_json = tmp_path / "fit.json"
    runner = CliRunner()
    result = runner.invoke(app, ["fit", str(data), "--law", "auto", "--bootstrap", "20",
                                 "--out", str(fit_json), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["selection"]["winner"] in ("chinchilla", "kaplan-nd", "chinchilla-tied")
    assert summary["accounting"]["convention"] == "exact-nonembedding"
    budget = 4 * sweep["flops"].max()
    result = runner.invoke(app, ["plan", "--fit", str(fit_json), "--compute", f"{budget:g}",
                                 "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["flops"] == pytest.approx(budget, rel=0.01)
    assert plan["shape"]["flops"] == pytest.approx(budget, rel=0.01)
    law, _ = laws.load_fit(fit_json)
    cost = decide.token_cost(law)
    assert cost.exact and cost.params_column == "params_nonembedding"


def test_allocation_verdict_names_which_approaches_agree_and_which_are_not_identified():
    pinned = {"Approach 1": (0.72, (0.59, 0.97)), "Approach 2": (0.68, (0.56, 0.76))}
    assert agreement_verdict(pinned).endswith("the approaches agree within their intervals.")
    # Approach 3's interval is wider than the identifiability range (0.62 > 0.5).
    verdict = agreement_verdict({**pinned, "Approach 3": (0.6, (0.3, 0.92))})
    assert "Approach 1 and Approach 2 agree within their intervals" in verdict
    assert verdict.endswith("Approach 3 cannot be compared (not identified).")
    apart = agreement_verdict({"Approach 1": (0.9, (0.85, 0.95)),
                               "Approach 2": (0.5, (0.45, 0.55))})
    assert "Approach 1 and Approach 2 disagree" in apart
