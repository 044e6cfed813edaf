"""The gradient noise scale: the estimator, the pooled B_noise(L) law, and a real run."""

import numpy as np
import pandas as pd
import pytest

from scalinglab.analyses.noise_scale import noise_scale
from scalinglab.errors import ScalinglabError
from scalinglab.train import RunConfig, noise_estimates, train_run


def test_estimator_recovers_a_known_gradient_and_noise():
    # Per-token gradients g = G + e with Cov(e) = Sigma; a batch of b tokens averages b of them.
    rng = np.random.default_rng(0)
    dim, b, k = 200, 64, 8
    true_g = rng.normal(0, 0.05, dim)
    sigma_diag = rng.uniform(0.5, 1.5, dim)
    estimates = []
    for _ in range(400):
        grads = true_g + rng.normal(0, 1, (k, dim)) * np.sqrt(sigma_diag / b)
        small = float(np.mean(np.sum(grads**2, axis=1)))
        big = float(np.sum(grads.mean(0) ** 2))
        estimates.append(noise_estimates(small, big, b, k))
    grad_sq = np.mean([e["grad_sq"] for e in estimates])
    trace = np.mean([e["grad_trace"] for e in estimates])
    assert grad_sq == pytest.approx(np.sum(true_g**2), rel=0.1)
    assert trace == pytest.approx(np.sum(sigma_diag), rel=0.03)
    # Pooled before dividing: B_simple = tr(Sigma) / |G|^2.
    assert trace / grad_sq == pytest.approx(np.sum(sigma_diag) / np.sum(true_g**2), rel=0.12)


def _synthetic(alpha: float, b_n: float, n: int = 40, noise: float = 0.15,
               seed: int = 0) -> pd.DataFrame:
    """Evaluations whose tr(Sigma) and |G|^2 follow power laws in L, so that
    B_noise = b_n / L^(1/alpha), each part with multiplicative noise."""
    rng = np.random.default_rng(seed)
    loss = np.geomspace(3.0, 1.5, n)
    grad_sq = 0.5 * loss**6
    trace = grad_sq * b_n / loss ** (1 / alpha)
    return pd.DataFrame({
        "run": "r", "phase": "train", "tokens": np.geomspace(1e5, 1e7, n),
        "warmup_tokens": 5e4, "loss": loss,
        "grad_sq": grad_sq * np.exp(rng.normal(0, noise, n)),
        "grad_trace": trace * np.exp(rng.normal(0, noise, n)),
    })


def test_pooled_law_recovers_a_known_noise_scale():
    result = noise_scale(_synthetic(alpha=0.21, b_n=2e5), n_resamples=200, seed=1)
    assert result.alpha == pytest.approx(0.21, rel=0.1)
    truth = 2e5 / 2.0 ** (1 / 0.21)
    assert result.b_noise(2.0) == pytest.approx(truth, rel=0.1)
    lo, hi = result.interval(np.array([2.0]))
    assert lo[0] < truth < hi[0]
    assert hi[0] / lo[0] < 2.0


def test_non_positive_estimates_and_warmup_are_left_out_and_said():
    table = _synthetic(alpha=0.3, b_n=1e5)
    table.loc[3, "grad_sq"] = -1.0
    table.loc[0, "tokens"] = 1e4  # inside the warmup
    result = noise_scale(table, n_resamples=20)
    assert len(result.points) == len(table) - 2
    assert result.dropped == 1 and "left out" in result.notes[0]


def test_a_table_without_noise_columns_is_one_clear_error():
    with pytest.raises(ScalinglabError, match="noise_scale_batches"):
        noise_scale(pd.DataFrame({"loss": [1.0], "tokens": [1.0]}))
    with pytest.raises(ValueError, match="noise_scale_batches must be 0"):
        RunConfig(params=1e3, tokens=1e4, noise_scale_batches=1)


def test_a_real_run_measures_the_noise_scale_without_changing_its_training():
    cfg = RunConfig(params=3000, tokens=6e4, batch_tokens=1024, warmup_tokens=4096,
                    eval_count=4, threads=1, noise_scale_batches=4)
    measured = train_run(cfg).measurements
    plain = train_run(cfg.replace(noise_scale_batches=0)).measurements
    np.testing.assert_allclose(measured["loss"], plain["loss"], atol=1e-6)
    assert {"grad_sq", "grad_trace", "noise_scale"} <= set(measured.columns)
    assert "grad_sq" not in plain.columns
    assert (measured["grad_trace"] > 0).all()
    # Measuring is a separate field of the config, off by default: stored runs keep their hash.
    assert cfg.replace(noise_scale_batches=0).config_hash() != cfg.config_hash()
    assert RunConfig(params=3000, tokens=6e4).config_hash() == \
        RunConfig(params=3000, tokens=6e4, noise_scale_batches=0).config_hash()
