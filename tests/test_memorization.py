"""Memorization: a synthetic bimodal per-sequence loss distribution is split correctly."""

import numpy as np
import pytest

from scalinglab.analyses.memorization import fit_mixture, memorization


def losses(n, log_mean, log_sd, rng):
    return np.exp(rng.normal(log_mean, log_sd, n))


def test_em_recovers_two_known_gaussians():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3.0, 0.3, 300), rng.normal(0.2, 0.2, 700)])
    mix = fit_mixture(x, 2)
    assert mix.weights == pytest.approx([0.3, 0.7], abs=0.03)
    assert mix.means == pytest.approx([-3.0, 0.2], abs=0.05)
    assert mix.sds == pytest.approx([0.3, 0.2], abs=0.05)
    assert fit_mixture(x, 2).bic < fit_mixture(x, 1).bic


def test_a_memorized_mode_is_split_off_with_its_fraction():
    rng = np.random.default_rng(1)
    fresh = losses(1000, 0.2, 0.15, rng)  # ~1.2 nats per token
    repeated = np.concatenate([losses(120, -3.0, 0.4, rng), losses(280, 0.1, 0.15, rng)])
    result = memorization(repeated, fresh, n_resamples=200)
    assert result.bimodal
    assert result.fraction == pytest.approx(0.3, abs=0.02)
    assert result.interval[0] <= 0.3 <= result.interval[1]
    assert result.threshold < result.fresh_floor
    assert "memorized" in result.verdict


def test_one_distribution_has_no_memorized_mode():
    rng = np.random.default_rng(2)
    fresh = losses(500, 0.2, 0.15, rng)
    result = memorization(losses(400, 0.15, 0.15, rng), fresh)
    assert not result.bimodal and result.fraction == 0.0
    assert "no memorized mode" in result.verdict


def test_a_low_mode_inside_the_fresh_distribution_is_not_memorization():
    rng = np.random.default_rng(3)
    fresh = losses(1000, 0.0, 0.5, rng)  # broad: its lowest 1% reaches ~0.3 nats
    repeated = np.concatenate([losses(150, -0.2, 0.05, rng), losses(250, 0.6, 0.05, rng)])
    assert not memorization(repeated, fresh).bimodal
