"""Planning: exact FLOPs from the engine, the thread rule, queue order, wall-time simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalinglab.errors import ScalinglabError
from scalinglab.sweep import plan as planning
from scalinglab.sweep.design import parse_design


def test_plans_carry_the_engines_exact_flops_and_the_thread_rule() -> None:
    from scalinglab.train import RunConfig, plan_run

    design = parse_design({"name": "p", "kind": "grid", "params": [1e4, 2e6],
                           "tokens": [1e6, 2e6]})
    plans = planning.plan_sweep(design, big_run_threads=8)
    assert len(plans) == 4
    for plan in plans:
        engine = plan_run(RunConfig(**plan.config))
        tokens = engine.steps * engine.batch_tokens
        assert plan.tokens == tokens
        assert math.isclose(plan.flops, engine.model_config.flops_per_token() * tokens)
        assert plan.hash == RunConfig(**plan.config).config_hash()
        assert plan.threads == (1 if plan.params_nonembedding < 1e6 else 8)
    order = planning.queue_order(plans)
    assert [p.threads for p in order] == [8, 8, 1, 1]
    assert order[0].flops > order[1].flops and order[2].flops > order[3].flops


def test_wsd_cooldown_branches_are_counted_in_tokens_and_flops() -> None:
    plain = parse_design({"name": "a", "kind": "curves", "params": [1e4], "tokens": 1e6,
                          "cooldowns": []})
    branched = parse_design({"name": "b", "kind": "curves", "params": [1e4], "tokens": 1e6,
                             "cooldowns": [0.25, 0.5]})
    (a,), (b,) = planning.plan_sweep(plain, 2), planning.plan_sweep(branched, 2)
    # Each branch decays over 20% of its own D: 0.2 * (2.5e5 + 5e5) = 1.5e5 extra tokens.
    assert b.tokens - a.tokens == pytest.approx(1.5e5, rel=0.02)


def test_simulated_wall_time_packs_small_runs_and_runs_big_ones_alone() -> None:
    design = parse_design({"name": "p", "kind": "grid", "params": [1e4, 2e6], "tokens": [1e6]})
    small, big = sorted(planning.plan_sweep(design, 2), key=lambda p: p.threads)
    seconds = {small.hash: 10.0, big.hash: 30.0}
    assert planning.simulate_wall_seconds([small, big], seconds, capacity=2) == 40.0
    design = parse_design({"name": "q", "kind": "grid", "params": [1e4, 2e4],
                           "tokens": [1e6, 2e6]})
    plans = planning.plan_sweep(design, 2)
    seconds = {p.hash: 10.0 for p in plans}
    assert planning.simulate_wall_seconds(plans, seconds, capacity=2) == 20.0  # two at a time


def test_throughput_interpolates_in_log_and_budget_refuses_long_sweeps() -> None:
    probe = planning.Throughput("transformer", 1, "cpu", ((1e4, 1e9), (1e6, 1e11)), 0.5)
    assert probe.flops_per_second(1e5) == pytest.approx(1e10)
    assert probe.flops_per_second(1e3) == pytest.approx(1e9)
    assert probe.flops_per_second(1e8) == pytest.approx(1e11)
    planning.check_budget(0.5, 1.0)
    planning.check_budget(5.0, None)
    with pytest.raises(ScalinglabError, match=r"estimated 2.00 h .* over --max-hours 1"):
        planning.check_budget(2.0, 1.0)


def test_gpu_runs_take_two_threads_and_one_gpu_each() -> None:
    design = parse_design({"name": "g", "kind": "grid", "device": "cuda",
                           "params": [1e4, 1e7], "tokens": [1e6]})
    plans = planning.plan_sweep(design, big_run_threads=16)
    assert [(p.threads, p.gpus) for p in plans] == [(2, 1.0), (2, 1.0)]
    seconds = {p.hash: 10.0 for p in plans}
    assert planning.simulate_wall_seconds(plans, seconds, capacity=16, gpus=1.0) == 20.0
    assert planning.simulate_wall_seconds(plans, seconds, capacity=16, gpus=2.0) == 10.0


def test_isoflop_runs_of_a_budget_record_that_budget_in_exact_flops() -> None:
    design = parse_design({"name": "i", "kind": "isoflop", "budgets": [1e11, 1e12], "sizes": 3})
    plans = planning.plan_sweep(design, 2)
    assert len(plans) == 6
    for plan in plans:
        assert plan.flops == pytest.approx(plan.spec.budget, rel=0.03)
        assert 6 * plan.params_nonembedding * plan.tokens < plan.spec.budget  # exact, not 6ND


def test_an_impossible_max_hours_is_refused_from_the_accounting_without_a_probe() -> None:
    design = parse_design({"name": "huge", "kind": "grid", "params": [5e7], "seeds": [0, 1],
                           "tokens": {"min": 1e7, "max": 3e7, "count": 4}})
    plans = planning.plan_sweep(design, 2)
    floor = planning.fastest_seconds(plans, 2)
    assert floor == pytest.approx(sum(p.flops for p in plans) / (2 * 2.5e11))
    planning.check_lower_bound(plans, 2, 0.0, floor / 3600 * 1.01)
    with pytest.raises(ScalinglabError, match="even at 2.5e\\+11 FLOP/s each"):
        planning.check_lower_bound(plans, 2, 0.0, floor / 3600 * 0.99)


def test_curves_with_budgets_branch_at_exact_compute_and_form_isoflop_profiles() -> None:
    from scalinglab.train import RunConfig, plan_run

    budgets = [2e11, 6e11, 1.8e12]
    design = parse_design({"name": "iso-curves", "kind": "curves", "corpus": "stdlib",
                           "params": [3120, 12384, 27792, 55536], "budgets": budgets,
                           "min_tokens": 1e6, "max_tokens": 2e7,
                           "overrides": {"batch_tokens": 1024}})
    plans = planning.plan_sweep(design, 2)
    spent = {}
    for plan in plans:
        config = plan.spec.config
        per_token = plan_run(RunConfig(**config)).model_config.flops_per_token()
        ends = [*config["cooldown_tokens"], config["tokens"]]
        assert all(1e6 <= d <= 2e7 for d in ends)
        for d in ends:
            budget = min(budgets, key=lambda b, d=d: abs(np.log(b / (d * per_token))))
            assert d * per_token == pytest.approx(budget, rel=0.005)
            spent.setdefault(budget, []).append(plan.params_nonembedding)
    # The smallest budget is spent by the small sizes, the largest by the big ones.
    assert min(spent[budgets[0]]) == 3120 and max(spent[budgets[-1]]) == 55536
    assert len(spent[budgets[1]]) >= 3


def test_curves_budgets_exclude_tokens_and_need_a_branch_in_the_window() -> None:
    with pytest.raises(ScalinglabError, match="budgets replace tokens"):
        parse_design({"name": "x", "kind": "curves", "params": [3120], "tokens": 1e6,
                      "budgets": [1e11]}).runs()
    design = parse_design({"name": "y", "kind": "curves", "params": [3120],
                           "budgets": [1e9], "min_tokens": 1e6})
    with pytest.raises(ScalinglabError, match="no compute budget puts its branch"):
        planning.plan_sweep(design, 2)
