"""Decisions from laws: compute-optimal, inference-aware and data-limited plans, with intervals."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab import decide, laws
from scalinglab.cli import app
from scalinglab.constants import PF_DAY_FLOPS
from scalinglab.errors import ScalinglabError


@pytest.fixture
def epoch_law():
    return laws.published_law("chinchilla-epoch")


@pytest.mark.parametrize(("compute", "ratio"), [(1e21, 21.4), (5.76e23, 17.9), (1e25, 16.5)])
def test_epoch_fit_gives_published_tokens_per_param(epoch_law, compute, ratio):
    # SOURCE.md of the shared data: about 21, 18 and 17 tokens per parameter.
    plan = decide.compute_optimal(epoch_law, compute)
    assert plan["tokens_per_param"] == pytest.approx(ratio, rel=0.01)
    assert 6 * plan["n_params"] * plan["tokens"] == pytest.approx(compute)


def test_closed_form_matches_a_numeric_search(epoch_law):
    compute = 1e22

    def loss_at(log_n):
        n = 10.0**log_n
        return float(decide.predict_loss(epoch_law, n, compute / (6 * n))[0])

    numeric = 10.0 ** decide._minimise_over_log_n(loss_at)
    closed_form = decide.compute_optimal(epoch_law, compute)["n_params"]
    assert closed_form == pytest.approx(numeric, rel=1e-4)


def test_kaplan_allocation_follows_the_published_rule():
    law = laws.published_law("kaplan")
    law.published_name = "kaplan"
    plan = decide.compute_optimal(law, PF_DAY_FLOPS)
    assert plan["n_params"] == pytest.approx(1.3e9)
    bigger = decide.compute_optimal(law, 10 * PF_DAY_FLOPS)
    assert bigger["n_params"] / plan["n_params"] == pytest.approx(10**0.73)


def test_inference_aware_plan_trades_size_for_tokens(epoch_law):
    compute = 1e22
    none_served = decide.inference_optimal(epoch_law, compute, inference_tokens=0.0)
    optimal = decide.compute_optimal(epoch_law, compute)
    assert none_served["n_params"] == pytest.approx(optimal["n_params"], rel=1e-3)
    assert none_served["savings_fraction"] == pytest.approx(0.0, abs=1e-6)

    heavy = decide.inference_optimal(epoch_law, compute, inference_tokens=1e13)
    assert heavy["n_params"] < 0.7 * optimal["n_params"]
    assert heavy["tokens_per_param"] > optimal["tokens_per_param"]
    assert heavy["savings_fraction"] > 0.05
    # The same loss is reached, by construction.
    reached = decide.predict_loss(epoch_law, heavy["n_params"], heavy["tokens"])[0]
    assert reached == pytest.approx(optimal["loss"], rel=1e-6)


def test_effective_data_is_exact_for_one_epoch_and_saturates():
    assert decide.effective_data(1e9, 1e9) == pytest.approx(1e9)
    # Many repeats are worth at most U * (1 + R*_D) unique tokens.
    assert decide.effective_data(1e15, 1e9) == pytest.approx(1e9 * (1 + 15.4), rel=1e-6)
    assert decide.effective_params(1e6, 1e6) == pytest.approx(1e6)


def test_data_limited_plan(epoch_law):
    compute = 1e23
    optimal = decide.compute_optimal(epoch_law, compute)
    plenty = decide.data_limited_optimal(epoch_law, compute, unique_tokens=1e15)
    assert plenty["loss"] == pytest.approx(optimal["loss"], rel=1e-6)
    scarce = decide.data_limited_optimal(epoch_law, compute, unique_tokens=optimal["tokens"] / 10)
    assert scarce["loss"] > optimal["loss"]
    assert scarce["epochs"] > 1
    with pytest.raises(ScalinglabError, match="unique-tokens"):
        decide.data_limited_optimal(epoch_law, compute, unique_tokens=0)


def test_intervals_from_parameter_samples(epoch_law):
    rng = np.random.default_rng(0)
    samples = [
        {**epoch_law.params_, "alpha": epoch_law.params_["alpha"] * s}
        for s in rng.normal(1.0, 0.03, size=50)
    ]
    result = decide.with_intervals(lambda lw: decide.compute_optimal(lw, 1e21), epoch_law, samples)
    lo, hi = result["intervals"]["n_params"]
    assert lo < result["n_params"] < hi


def test_plan_cli(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["plan", "--compute", "5.76e23", "--law", "chinchilla-epoch",
                              "--inference-tokens", "1e12", "--unique-tokens", "1e12",
                              "--gpu", "h100", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["n_params"] == pytest.approx(7.33e10, rel=0.01)
    assert {"inference_aware", "data_limited", "hardware"} <= data.keys()

    for args, message in [
        (["plan", "--compute", "1e21"], "exactly one of --law"),
        (["plan", "--compute", "1e21", "--law", "gpt5"], "unknown law 'gpt5'"),
        (["plan", "--compute", "-1", "--law", "kaplan"], "positive number of FLOPs"),
        (["plan", "--compute", "1e21", "--fit", str(tmp_path / "missing.json")], "missing.json"),
    ]:
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.stderr
        assert "Traceback" not in bad.output
