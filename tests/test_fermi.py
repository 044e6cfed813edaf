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


def test_llama_3_8b_with_grouped_query_attention_and_a_gated_mlp():
    # Llama 3 8B: 32 layers, d 4096, 32 heads, 8 KV heads, SwiGLU 14336 wide, vocab 128256,
    # untied embeddings: 8,030,261,248 parameters, of which 266,240 are norms (not counted).
    estimate = fermi_estimate(32, 4096, n_ctx=8192, vocab_size=128256, n_head=32, n_kv_heads=8,
                              ffn_mult=14336 / 4096, gated_ffn=True, tied_embeddings=False)
    total = estimate["params_nonembedding"] + estimate["params_embedding"]
    assert total == pytest.approx(8_030_261_248 - 266_240, rel=1e-12)
    assert estimate["params_12ld2"] == 12 * 32 * 4096**2  # the lecture's rule, beside it


def test_hardware_time_is_counted_from_the_full_flops():
    estimate = fermi_estimate(12, 768, n_ctx=1024, tokens=1e10, gpu="a100")
    full, six_nd = estimate["training_flops_full"], estimate["training_flops"]
    assert full / six_nd > 1.25  # GPT-2 small: output layer and attention add ~30%
    assert estimate["hardware"]["gpu_hours"] == pytest.approx(
        full / (312e12 * 0.4) / 3600, rel=1e-12)


def test_plan_in_gpu_hours_dollars_and_a_custom_peak():
    runner = CliRunner()
    by_hours = runner.invoke(app, ["plan", "--gpu-hours", "1e6", "--gpu", "h100", "--mfu", "0.4",
                                   "--law", "chinchilla-epoch", "--json"])
    assert by_hours.exit_code == 0, by_hours.output
    data = json.loads(by_hours.stdout)
    assert data["compute"] == pytest.approx(1e6 * 3600 * 989e12 * 0.4)
    assert data["hardware"]["gpu_hours"] == pytest.approx(1e6)  # round trip
    by_usd = runner.invoke(app, ["plan", "--budget-usd", "2e6", "--price-per-hour", "2",
                                 "--peak-flops", "1e15", "--law", "chinchilla-epoch", "--json"])
    assert by_usd.exit_code == 0, by_usd.output
    data = json.loads(by_usd.stdout)
    assert data["compute"] == pytest.approx(1e6 * 3600 * 1e15 * 0.4)
    assert data["hardware"]["cost"] == pytest.approx(2e6)
    for args, fragment in ((["--gpu-hours", "10"], "give --gpu NAME or --peak-flops"),
                           (["--budget-usd", "10", "--gpu", "h100"], "needs --price-per-hour"),
                           (["--compute", "1e20", "--gpu-hours", "1"], "exactly one of"),
                           ([], "exactly one of")):
        bad = runner.invoke(app, ["plan", "--law", "chinchilla-epoch", *args])
        assert bad.exit_code == 2 and fragment in bad.stderr, bad.output
        assert bad.stderr.count("\n") == 1
