"""Fermi estimates against the hand-computed GPT-3 numbers and the lecture's formulas."""

import json

import pytest
from typer.testing import CliRunner

from scalinglab.accounting import attention_flops_share, fermi_estimate, hardware_cost
from scalinglab.cli import app


def test_gpt3_params_flops_and_pf_days():
    estimate = fermi_estimate(96, 12288, n_ctx=2048, tokens=3e11)
    assert estimate["params_nonembedding"] == pytest.approx(1.74e11, rel=0.005)
    assert estimate["training_flops"] == pytest.approx(3.1e23, rel=0.02)
    assert estimate["pf_days"] == pytest.approx(3.6e3, rel=0.02)
    # Attention and the output layer add 1.4% + 0.3% at this width and context.
    assert estimate["training_flops_full"] / estimate["training_flops"] == pytest.approx(
        1 + 2048 / (12 * 12288) + 6 * 12288 * 50257 / (6 * 12 * 96 * 12288**2), rel=1e-9
    )


def test_attention_share_is_context_over_twelve_d_model():
    assert attention_flops_share(2048, 12288) == pytest.approx(2048 / (12 * 12288))
    assert attention_flops_share(1024, 64) == pytest.approx(1.333, rel=1e-3)


def test_hardware_cost_of_one_a100_day():
    # One day of an A100 at 40% MFU is 312e12 * 0.4 * 86400 FLOPs.
    cost = hardware_cost(312e12 * 0.4 * 86400, "a100", mfu=0.4, n_gpus=4, price_per_gpu_hour=2.0)
    assert cost["gpu_days"] == pytest.approx(1.0)
    assert cost["wall_days"] == pytest.approx(0.25)
    assert cost["energy_kwh"] == pytest.approx(24 * 0.4)
    assert cost["cost"] == pytest.approx(48.0)


def test_fermi_cli_json_and_bad_gpu():
    runner = CliRunner()
    result = runner.invoke(app, ["fermi", "--n-layer", "96", "--d-model", "12288",
                                 "--tokens", "3e11", "--gpu", "h100", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["hardware"]["gpu"] == "h100"
    assert data["data_stock_fractions"]["English Wikipedia"] > 1
    bad = runner.invoke(app, ["fermi", "--n-layer", "2", "--d-model", "8", "--tokens", "1e6",
                              "--gpu", "v100"])
    assert bad.exit_code == 2
    assert "unknown GPU 'v100'" in bad.stderr
    assert "Traceback" not in bad.output
