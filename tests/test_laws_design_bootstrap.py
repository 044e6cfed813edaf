"""The bootstrap keeps the design, measures seed noise, and says what the data cannot identify."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab import laws
from scalinglab.errors import ScalinglabError
from scalinglab.laws.identifiability import identify, not_identified_sentence
from scalinglab.laws.uncertainty import (
    NoiseModel,
    choose_method,
    seed_noise,
    seed_resamples,
)

TRUE = {"E": 1.0, "A": 40.0, "B": 90.0, "alpha": 0.35, "beta": 0.3}


def _sweep(run_sd: float, row_sd: float, seeds: int = 1, sizes: int = 6,
           seed: int = 0) -> pd.DataFrame:
    """A demo-like design: sizes x 5 branch token counts, `seeds` seeds of every size."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in np.geomspace(3e3, 3e5, sizes):
        for s in range(seeds):
            offset = rng.normal(0, run_sd)
            for d in 6e6 * np.array([0.25, 0.375, 0.5, 0.75, 1.0]):
                mean = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
                rows.append({"run": f"n{n:.0f}-s{s}", "family": "transformer", "seed": s,
                             "params": n, "params_nonembedding": n, "tokens": d,
                             "loss": mean * np.exp(offset + rng.normal(0, row_sd))})
    return pd.DataFrame(rows)


def test_seed_noise_recovers_run_and_row_spread() -> None:
    table = _sweep(run_sd=0.02, row_sd=0.005, seeds=4, sizes=8, seed=1)
    noise = seed_noise(table)
    assert noise is not None and noise.source == "seeds" and noise.n_replicated == 8
    assert noise.run_sd == pytest.approx(0.02, rel=0.35)
    assert noise.row_sd == pytest.approx(0.005, rel=0.25)
    # One seed per configuration: nothing to measure it from.
    assert seed_noise(_sweep(0.02, 0.005, seeds=1)) is None


def test_auto_method_keeps_the_design() -> None:
    curves = _sweep(0.01, 0.003)
    assert choose_method(curves) == "parametric"  # 6 runs of 5 rows: resampling runs loses sizes
    single = curves.assign(run=[f"r{i}" for i in range(len(curves))])
    assert choose_method(single) == "cases"  # 30 independent single-row runs
    with pytest.raises(ScalinglabError, match="2 seeds of every configuration"):
        choose_method(curves, "seeds")


def test_seed_resamples_keep_every_size() -> None:
    table = _sweep(0.01, 0.003, seeds=3)
    sizes = set(table["params"])
    for rows in seed_resamples(table, 30, np.random.default_rng(0)):
        drawn = table.iloc[rows]
        assert set(drawn["params"]) == sizes
        assert len(drawn) == len(table)


def test_parametric_bootstrap_keeps_rows_and_reports_noise() -> None:
    table = _sweep(0.01, 0.003, seeds=1)
    law = laws.get_law("chinchilla").fit(table)
    boot = laws.bootstrap(law, table, n_resamples=40, seed=3)
    assert boot.method == "parametric"
    assert boot.noise is not None and not boot.noise.includes_seed_noise
    assert "exclude" in boot.noise.describe()
    assert boot.n_failed == 0
    assert boot.summary()["n_resamples"] == 40
    # The mean prediction's interval is narrower than a new run's (which adds noise).
    point = {"params": [1e6], "tokens": [2.4e7]}
    lo, hi = boot.predict_interval(point)
    lo_n, hi_n = boot.predict_interval(point, include_noise=True)
    assert lo_n[0] < lo[0] and hi[0] < hi_n[0]
    assert lo[0] < law.predict(point)[0] < hi[0]


def test_seed_noise_widens_the_interval_and_is_reported() -> None:
    table = _sweep(0.02, 0.003, seeds=3)
    law = laws.get_law("chinchilla").fit(table)
    boot = laws.bootstrap(law, table, n_resamples=30, seed=0)
    assert boot.noise.includes_seed_noise
    assert boot.noise.run_sd > 0.005


def test_failed_resamples_are_counted_not_hidden() -> None:
    table = _sweep(0.01, 0.003)
    law = laws.get_law("chinchilla").fit(table)
    boot = laws.bootstrap(law, table, n_resamples=10, seed=0)
    boot.samples.iloc[0, 0] = np.nan
    assert boot.n_failed == 1 and boot.n_converged == 9
    assert all(np.isfinite(v).all() for v in boot.intervals().values())


def test_basic_interval_reflects_around_the_point() -> None:
    table = _sweep(0.01, 0.003)
    law = laws.get_law("chinchilla").fit(table)
    pct = laws.bootstrap(law, table, n_resamples=30, seed=0, interval="percentile")
    basic = laws.bootstrap(law, table, n_resamples=30, seed=0)
    assert basic.interval == "basic"  # the parametric default
    lo_p, hi_p = pct.intervals()["alpha"]
    lo_b, hi_b = basic.intervals()["alpha"]
    point = law.params_["alpha"]
    assert lo_b == pytest.approx(2 * point - hi_p) and hi_b == pytest.approx(2 * point - lo_p)


def test_unidentified_parameters_are_named() -> None:
    law = laws.get_law("chinchilla")
    law.params_ = dict(TRUE)
    result = identify(law, {"E": (1e-11, 1.3), "A": (4.0, 2e7), "B": (80.0, 100.0),
                            "alpha": (0.12, 1.7), "beta": (0.28, 0.32)})
    assert not result["E"].identified and "decades" in result["E"].reason
    assert not result["A"].identified
    assert result["B"].identified and result["beta"].identified
    assert not result["alpha"].identified and "wide" in result["alpha"].reason
    assert not_identified_sentence(result).startswith("E, A, alpha not identified by this data")


def test_a_fit_with_e_at_the_floor_says_so() -> None:
    # Losses with no irreducible part: a pure power law in N and D.
    table = _sweep(0.0, 0.002).assign(
        loss=lambda t: 40.0 / t["params"] ** 0.35 + 90.0 / t["tokens"] ** 0.3)
    law = laws.get_law("chinchilla").fit(table)
    assert any("floor" in w for w in law.result_.warnings)
    assert not identify(law)["E"].identified
    assert isinstance(law.result_.warnings, tuple)


def test_noise_model_total() -> None:
    noise = NoiseModel(0.03, 0.04, "seeds", 3)
    assert noise.total_sd == pytest.approx(0.05)
    assert noise.to_dict()["includes_seed_noise"]


def test_law_auto_picks_the_form_that_extrapolates() -> None:
    # Data from a tied-exponent law: all candidates fit, the choice is made on the largest size.
    table = _sweep(0.0, 0.002, sizes=6).assign(
        loss=lambda t: (1.0 + 40.0 / t["params"] ** 0.3 + 90.0 / t["tokens"] ** 0.3)
        * np.exp(np.random.default_rng(0).normal(0, 0.002, len(t))))
    selection = laws.select_law(table)
    assert set(selection.scores) == {"chinchilla", "kaplan-nd", "chinchilla-tied"}
    assert selection.scores[selection.winner] == min(selection.scores.values())
    assert selection.scores[selection.winner] < 0.01
    assert selection.law.params_ is not None and selection.law.result_.n_points == len(table)
    assert "chosen" in selection.sentence() and selection.winner in selection.sentence()
    with pytest.raises(ScalinglabError, match="at least 4 model sizes"):
        laws.select_law(table[table["params"] < 2e4])
    # Holding out the top compute budget instead (an IsoFLOP design: budgets 2x apart).
    n = np.tile(np.geomspace(1e4, 1e6, 7), 4)
    c = np.repeat([1e13, 2e13, 4e13, 8e13], 7)
    iso = pd.DataFrame({"run": [f"r{i}" for i in range(len(n))], "params": n,
                        "tokens": c / (6 * n), "flops": c})
    iso["loss"] = (1.0 + 40.0 / iso["params"] ** 0.3 + 90.0 / iso["tokens"] ** 0.3) * np.exp(
        np.random.default_rng(1).normal(0, 0.002, len(iso)))
    by_compute = laws.select_law(iso, holdout="compute")
    assert by_compute.scores[by_compute.winner] < 0.01
    assert by_compute.n_check_rows == 7 and by_compute.held_out_flops == pytest.approx(8e13 / 1.5)
    assert "FLOPs from the rest" in by_compute.sentence()
    with pytest.raises(ScalinglabError, match="holds 2 of 30 rows"):
        laws.select_law(table.assign(flops=6.0 * table["params"] * table["tokens"]),
                        holdout="compute")
    with pytest.raises(ScalinglabError, match="unknown hold-out"):
        laws.select_law(table, holdout="tokens")


def test_profile_likelihood_covers_the_truth_on_independent_rows() -> None:
    from scalinglab.laws.profile import profile_intervals

    rng = np.random.default_rng(4)
    n = np.repeat(np.geomspace(1e4, 1e6, 8), 6)
    d = np.tile(np.geomspace(1e6, 1e8, 6), 8)
    loss = (TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]) * np.exp(
        rng.normal(0, 0.003, n.size))
    table = pd.DataFrame({"run": np.arange(n.size).astype(str), "params": n, "tokens": d,
                          "loss": loss})
    law = laws.get_law("chinchilla").fit(table)
    intervals = profile_intervals(law, table)
    for name in ("E", "alpha", "beta"):
        span = intervals[name]
        assert span.closed and span.lo < TRUE[name] < span.hi, name
        assert span.lo < law.params_[name] < span.hi


def test_profile_is_too_narrow_when_rows_share_a_seed() -> None:
    # The rows of one run share its seed offset; the profile takes them as independent, so its
    # interval for the size exponent is narrower than the parametric bootstrap's.
    from scalinglab.laws.profile import profile_intervals

    table = _sweep(run_sd=0.01, row_sd=0.002, seeds=3, sizes=6, seed=2)
    law = laws.get_law("chinchilla").fit(table)
    profile = profile_intervals(law, table)["alpha"]
    lo, hi = laws.bootstrap(law, table, n_resamples=60, seed=0).intervals()["alpha"]
    assert profile.hi - profile.lo < hi - lo
