"""The demo's pieces: sweep designs, exact-compute allocation, the backtest prediction."""

import dataclasses
import html
import json
import re

import numpy as np
import pandas as pd
import pytest

from scalinglab import decide, demo, laws
from scalinglab.accounting import transformer_flops_per_token, transformer_params
from scalinglab.models.ladder import transformer_shape

TRUE = {"E": 1.2, "A": 40.0, "B": 60.0, "alpha": 0.35, "beta": 0.30}


def true_loss(n, d):
    return TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]


KAPLAN = {"Nc": 1e9, "Dc": 1e10, "aN": 0.08, "aD": 0.1}  # the backtest law's form


def kaplan_loss(n, d):
    return ((KAPLAN["Nc"] / n) ** (KAPLAN["aN"] / KAPLAN["aD"]) + KAPLAN["Dc"] / d) ** KAPLAN["aD"]


def synthetic_sweep(mode: demo.DemoMode, noise: float = 0.003, seed: int = 0,
                    loss_of=true_loss) -> pd.DataFrame:
    """Final rows of the mode's transformer design (branches at its budgets) whose losses
    follow `loss_of` (TRUE by default), with multiplicative noise."""
    rng = np.random.default_rng(seed)
    rows = []
    lo, hi = mode.token_window
    for n_target in mode.transformer_sizes:
        shape = transformer_shape(n_target)
        counts = transformer_params(shape.n_layer, shape.d_model, 256, 128)
        per_token = transformer_flops_per_token(shape.n_layer, shape.d_model, 256, 128)
        for budget in mode.budgets:
            d = budget / per_token
            if not lo <= d <= hi:
                continue
            loss = loss_of(counts.nonembedding, d) * np.exp(rng.normal(0, noise))
            rows.append({"run": f"transformer-{n_target:g}", "family": "transformer",
                         "params": counts.total, "params_nonembedding": counts.nonembedding,
                         "tokens": d, "flops": per_token * d, "loss": loss, "final": True})
    return pd.DataFrame(rows)


def test_demo_sizes_are_distinct_ladder_shapes():
    for mode in demo.MODES.values():
        shapes = [transformer_shape(n) for n in mode.transformer_sizes]
        assert [s.params_nonembedding for s in shapes] == list(mode.transformer_sizes)
    standard = demo.MODES["standard"]
    assert len(standard.transformer_sizes) >= 8 and len(standard.lstm_sizes) >= 4
    assert np.log10(max(standard.transformer_sizes) / min(standard.transformer_sizes)) >= 2


@pytest.mark.parametrize("name", ["standard", "full"])
def test_the_same_runs_form_isoflop_profiles_of_exact_budgets(name):
    """>= 4 budgets, each spent exactly (exact FLOPs) by >= 5 sizes' cooldown branches."""
    from scalinglab.sweep.plan import plan_sweep
    from scalinglab.train import RunConfig, plan_run

    mode = demo.MODES[name]
    per_budget = {b: set() for b in mode.budgets}
    for spec in plan_sweep(demo.demo_designs(mode)[0], 2):
        config = spec.spec.config
        per_token = plan_run(RunConfig(**config)).model_config.flops_per_token()
        for tokens in (*config["cooldown_tokens"], config["tokens"]):
            budget = min(mode.budgets, key=lambda b: abs(np.log(b / (tokens * per_token))))
            assert tokens * per_token == pytest.approx(budget, rel=0.01)
            per_budget[budget].add(spec.params_nonembedding)
    assert len(mode.budgets) >= 4 and all(len(s) >= 5 for s in per_budget.values()), per_budget


def test_designs_cover_both_families_with_one_batch_and_warmup():
    transformer, lstm = demo.demo_designs(demo.MODES["quick"])
    runs = transformer.runs()
    assert len(runs) == len(demo.MODES["quick"].transformer_sizes)
    assert all(r.config["schedule"] == "wsd" for r in runs + lstm.runs())
    # One batch and one warmup for all: equal tokens mean equal optimizer steps across sizes,
    # and a branch is the run of its own length whatever its trunk.
    for key in ("batch_tokens", "warmup_tokens"):
        assert {r.config[key] for r in runs + lstm.runs()} == {
            getattr(demo.MODES["quick"], key)}
    assert {r.config["family"] for r in lstm.runs()} == {"lstm"}


def test_backtest_plan_spends_exactly_the_budget_and_minimises_the_law():
    law = laws.get_law("chinchilla", params_column="params_nonembedding")
    law.params_ = dict(TRUE)
    law.accounting = {"convention": "exact-nonembedding", **demo.backtest_cost().to_dict()}
    flops = 2e12
    plan = decide.compute_optimal(law, flops, n_range=(1e3, 1e7), tokens_range=(1e5, 1e9))
    run = plan["shape"]
    per_token = transformer_flops_per_token(run["n_layer"], run["d_model"], 256, 128)
    assert run["tokens"] * per_token == pytest.approx(flops)
    assert plan["flops"] == pytest.approx(flops)
    chosen = true_loss(run["n_params"], run["tokens"])
    best = min(
        true_loss(other.params_nonembedding, d)
        for other in (transformer_shape(n) for n in np.geomspace(3e3, 3e6, 40))
        for d in [flops / transformer_flops_per_token(other.n_layer, other.d_model, 256, 128)]
        if 1e3 <= other.params_nonembedding <= 1e7 and 1e5 <= d <= 1e9
    )
    # The ladder shape nearest the continuous optimum: within 0.2% of the best ladder shape.
    assert chosen <= best * 1.002


def test_backtest_prediction_recovers_the_true_loss_of_the_bigger_run():
    mode = dataclasses.replace(demo.MODES["standard"], n_resamples=100)
    table = synthetic_sweep(mode, loss_of=kaplan_loss)
    backtest = demo.predict_backtest(table, mode)
    assert backtest.fit_max_flops == pytest.approx(table["flops"].max())
    assert backtest.flops == pytest.approx(mode.backtest_multiple * backtest.fit_max_flops)
    assert backtest.fit["n_points"] == len(table)
    truth = kaplan_loss(backtest.params_nonembedding, backtest.tokens)
    assert backtest.predicted == pytest.approx(truth, rel=0.01)
    assert backtest.lo <= truth <= backtest.hi
    backtest.measured = truth
    assert backtest.inside and backtest.are < 0.01
    frame = demo.backtest_frame(backtest)
    assert len(frame) == 1 and frame.attrs["train_max"] == backtest.fit_max_flops
    # The law is the one fixed in advance.
    assert backtest.fit["law"] == demo.BACKTEST_LAW and "fixed in advance" in backtest.fit[
        "selection"]
    # Neither axis extrapolates further than multiple ** AXIS_EXTRAPOLATION.
    reach = mode.backtest_multiple**demo.AXIS_EXTRAPOLATION
    assert backtest.params_nonembedding <= reach * table["params_nonembedding"].max()
    assert backtest.tokens <= reach * table["tokens"].max()


@pytest.mark.slow
def test_quick_demo_runs_the_whole_loop(tmp_path):
    out = tmp_path / "demo"
    result = demo.run_demo(out, mode="quick")
    data = json.loads((out / "demo.json").read_text())
    assert data["runs"] == {"lstm": 3, "transformer": 6}
    backtest = data["backtest"]
    assert backtest["compute_multiple"] == pytest.approx(4.0)
    assert backtest["measured"] > 0 and backtest["are"] == pytest.approx(
        abs(backtest["predicted"] - backtest["measured"]) / backtest["measured"])
    assert backtest["interval"][0] < backtest["interval"][1]
    assert result.report.exists() and "<svg" in result.report.read_text()
    assert {"learning_curves", "lnd_contours", "position_loss"} <= set(data["figures"])
    assert data["transformer_vs_lstm"]["multipliers"]
    # Kaplan's view (loss against N at equal tokens) is computed, or says why it cannot be.
    assert ("equal_tokens:lstm" in data["verdicts"]) != ("equal_tokens" in data["skipped"])
    # One computation, rendered twice: the report's caption and the summary say the same.
    page = result.report.read_text()
    assert data["transformer_vs_lstm"]["summary"].split(";")[0] in html.unescape(page)
    # No interval wider than the identifiability range is printed, in the summary or the page.
    for fit in data["fits"]:
        for name, known in fit["identified"].items():
            if not known["identified"]:
                assert f"{_label(name)} not identified" in data["param_text"][fit["label"]]
    for text in data["param_text"].values():
        for lo, hi in re.findall(r"\[([-0-9.e]+), ([-0-9.e]+)\]", text):
            lo, hi = float(lo), float(hi)
            assert (hi - lo <= 0.5) or (lo > 0 and hi / lo <= 100), text
    assert data["convention"]["name"] == "exact-nonembedding"
    assert "regime" in data["verdicts"]


def _label(name: str) -> str:
    return {"alpha": "α", "beta": "β", "X0": ""}.get(name, name)


def test_standard_demo_measures_seed_noise_at_three_sizes():
    mode = demo.MODES["standard"]
    designs = demo.demo_designs(mode, seed=1)
    assert len(designs) == 3
    extra = designs[2].runs()
    assert {r.config["seed"] for r in extra} == {1001, 2001}  # never the fresh seeds 1-3
    sizes = {r.config["params"] for r in extra}
    assert len(sizes) >= 3 and sizes <= set(mode.transformer_sizes)


def test_backtest_says_whether_it_met_its_target():
    hit = demo.Backtest(fit_max_flops=1e12, flops=4e12, params_nonembedding=1e5, tokens=1e7,
                        predicted=1.20, lo=1.15, hi=1.26, measured=1.21)
    assert hit.met_target and "met its target" in hit.verdict("standard")
    miss = dataclasses.replace(hit, measured=1.30)
    assert not miss.met_target and "MISSED" in miss.verdict("standard")
    assert "smoke test" in miss.verdict("quick") and "smoke test" not in miss.verdict("full")
    assert miss.to_dict()["met_target"] is False
