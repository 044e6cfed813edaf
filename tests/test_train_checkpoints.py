"""The checkpoint interval follows the run's cost: a kill loses little, saving costs little."""

from __future__ import annotations

import pytest

from scalinglab.train import CheckpointPolicy, RunConfig, train_run


def test_the_interval_is_a_share_of_the_run_bounded_by_the_save_cost() -> None:
    policy = CheckpointPolicy()
    # A 10-second run (1000 steps of 10 ms) with cheap saves: every 0.2 s.
    assert policy.interval(0.01, 1000) == pytest.approx(0.2)
    # A 10-hour run: capped, so a kill loses at most two minutes.
    assert policy.interval(36.0, 1000) == 120.0
    # A save of 3 s is made at most every 150 s, so saving stays at 2% of the time.
    policy.record(3.0)
    assert policy.interval(0.01, 1000) == pytest.approx(150.0)
    assert policy.saves == 1 and policy.seconds_saving == 3.0


def test_never_more_often_than_min_steps_and_the_fixed_clock() -> None:
    policy = CheckpointPolicy(min_steps=10)
    assert not policy.due(5, 100.0, 0.01, 1000)
    assert policy.due(10, 0.3, 0.01, 1000)
    fixed = CheckpointPolicy(fixed_seconds=300.0)
    assert not fixed.due(10**6, 299.0, 0.01, 1000) and fixed.due(1, 300.0, 0.01, 1000)


def test_a_run_with_a_folder_checkpoints_on_its_own_without_changing_its_loss(tmp_path) -> None:
    cfg = RunConfig(params=2e4, tokens=4e4, n_ctx=32, eval_tokens=2048, batch_tokens=128,
                    threads=1)
    policy = CheckpointPolicy(run_fraction=0.0, max_overhead=1.0, min_steps=50)
    result = train_run(cfg, out_dir=tmp_path / "a", checkpoints=policy)
    assert result.info["checkpoints"] >= 3  # 312 steps, at most every 50
    assert policy.saves == 0  # the run counted on its own copy
    reference = train_run(cfg)
    assert result.final_loss == pytest.approx(reference.final_loss, abs=1e-6)
