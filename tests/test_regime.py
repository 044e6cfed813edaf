"""The fit-regime rule on synthetic learning curves with known plateaus and warmups."""

import numpy as np
import pandas as pd

from scalinglab.regime import NOT_FINISHED, PLATEAU, WARMUP, fit_regime, plateau_end

TOKENS = np.geomspace(1e3, 1e6, 16)


def power_law(d):
    return 1.5 + 40.0 / d**0.3


def plateau_then_power_law(d):
    # A bigram-like plateau, then a drop around 2e4 tokens faster than any power law.
    return power_law(d) + 1.2 / (1.0 + (d / 2e4) ** 3)


def run_rows(run, curve, finished_at, warmup_tokens=None):
    """One run: its trunk's evaluations (not final) and finished rows at `finished_at`."""
    trunk = pd.DataFrame({"tokens": TOKENS, "loss": curve(TOKENS), "final": False,
                          "phase": "train"})
    ends = pd.DataFrame({"tokens": finished_at, "loss": 0.98 * curve(np.asarray(finished_at)),
                         "final": True, "phase": "cooldown"})
    rows = pd.concat([trunk, ends], ignore_index=True).assign(run=run, params=1e5, family="t")
    rows["flops"] = 6e5 * rows["tokens"]
    if warmup_tokens is not None:
        rows["warmup_tokens"] = warmup_tokens
    return rows


def test_rows_before_the_steepest_point_are_early_plateau():
    table = run_rows("a", plateau_then_power_law, [5e3, 1e4, 2e5, 5e5, 1e6])
    end = plateau_end(table[~table["final"]])
    assert end is not None and 1.5e4 < end < 1e5
    regime = fit_regime(table)
    plateau = regime.excluded[regime.excluded["reason"] == PLATEAU]
    assert sorted(plateau["tokens"]) == [5e3, 1e4]
    assert sorted(regime.rows["tokens"]) == [2e5, 5e5, 1e6]
    assert "steepest log-log descent" in regime.rule


def test_a_pure_power_law_loses_nothing_to_the_plateau_clause():
    rng = np.random.default_rng(0)
    table = run_rows("a", lambda d: power_law(d) * np.exp(rng.normal(0, 0.003, np.size(d))),
                     [2e3, 1e4, 1e5, 1e6])
    assert plateau_end(table[~table["final"]]) is None
    regime = fit_regime(table)
    assert PLATEAU not in set(regime.excluded["reason"])
    assert len(regime.rows) == 4
    assert "none is cut" in regime.rule


def test_unfinished_rows_are_excluded_and_counted():
    table = run_rows("a", power_law, [1e5, 1e6])
    regime = fit_regime(table)
    assert regime.counts() == {NOT_FINISHED: len(TOKENS)}
    assert regime.to_dict()["excluded"] == {NOT_FINISHED: len(TOKENS)}
    assert regime.to_dict()["n_rows"] == 2


def test_rows_inside_four_warmups_are_excluded():
    table = run_rows("a", power_law, [1e4, 3e4, 5e4, 1e6], warmup_tokens=1e4)
    regime = fit_regime(table)
    assert sorted(regime.excluded.loc[regime.excluded["reason"] == WARMUP, "tokens"]) == [1e4, 3e4]
    assert sorted(regime.rows["tokens"]) == [5e4, 1e6]
    assert regime.thresholds["min_tokens"].iloc[0] == 4e4
    assert "4x their run's warmup tokens (4.0e4 tokens)" in regime.rule


def test_a_run_that_loses_every_finished_row_is_named():
    table = pd.concat([run_rows("small", plateau_then_power_law, [5e3]),
                       run_rows("big", plateau_then_power_law, [5e5])], ignore_index=True)
    regime = fit_regime(table)
    assert regime.lost_runs == ("small",)
    lost = regime.excluded[regime.excluded["final"]]
    assert list(lost["reason"]) == [PLATEAU + " (all of the run's finished rows)"]
    assert list(regime.rows["run"]) == ["big"]


def test_a_table_of_final_losses_is_kept_whole():
    table = pd.DataFrame({"run": ["r0", "r1", "r2"], "tokens": [1e9, 2e9, 4e9],
                          "loss": [3.0, 2.8, 2.7], "params": 1e8, "flops": 1e18})
    regime = fit_regime(table)
    assert len(regime.rows) == 3 and regime.excluded.empty and regime.lost_runs == ()
