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


# --- the design: a repeated subset mixed into fresh text --------------------------------------
def test_mixed_batches_repeat_the_subset_among_fresh_text():
    from scalinglab.data import Corpus, MixedSampler

    train = np.arange(10_000, dtype=np.int64)  # a token's value is its position
    corpus = Corpus("t", train, train[:500], 10_000, "fp")
    sampler = MixedSampler(corpus, n_ctx=9, batch_size=8, seed=0, subset_tokens=100, repeated=2)
    again = MixedSampler(corpus, n_ctx=9, batch_size=8, seed=0, subset_tokens=100, repeated=2)
    seen_subset = set()
    for step in range(40):
        batch = sampler.batch(step)
        np.testing.assert_array_equal(batch, again.batch(step))  # deterministic per step
        assert batch.shape == (8, 10)
        assert (np.diff(batch, axis=1) == 1).all()  # whole windows of the stream
        # The first two windows lie inside the first 100 tokens, the others after them.
        assert (batch[:2, -1] < 100).all() and (batch[2:, 0] >= 100).all()
        seen_subset.update(batch[:2, 0].tolist())
    assert len(seen_subset) >= sampler.subset_windows - 1  # every pass covers the subset
    assert sampler.passes(40) == pytest.approx(40 * 2 / sampler.subset_windows)


def test_a_run_with_a_repeated_subset_records_its_passes_and_seen_windows():
    from scalinglab.errors import ScalinglabError
    from scalinglab.train import RunConfig, plan_run, train_run

    cfg = RunConfig(params=3000, tokens=3e4, batch_tokens=1024, warmup_tokens=2048,
                    eval_count=2, threads=1, repeated_tokens=1290, repeated_fraction=0.25,
                    sequence_losses=8)
    result = train_run(cfg)
    rows = result.measurements
    end = rows[rows["final"]].iloc[-1]
    # 29 steps x 2 windows of the subset's 10 windows of 129 tokens.
    assert end["repeated_passes"] == pytest.approx(29 * 2 / 10)
    seen = result.sequence_losses[result.sequence_losses["split"] == "train"]
    assert len(seen) == 8  # 8 windows of the subset (it holds 10)
    assert cfg.config_hash() != cfg.replace(repeated_tokens=None, repeated_fraction=0.0)\
        .config_hash()
    with pytest.raises(ScalinglabError, match="go together"):
        RunConfig(params=3000, tokens=3e4, repeated_tokens=1290)
    with pytest.raises(ScalinglabError, match="no room for fresh text"):
        plan_run(cfg.replace(repeated_fraction=0.95))
