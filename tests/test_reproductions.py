"""Kaplan's lecture experiments: every design is valid, and every analysis reaches the known
verdict on synthetic runs whose answer is built in (fast versions of `scalinglab reproduce`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.analyses.sources import Tables
from scalinglab.cli import app
from scalinglab.reproductions import EXPERIMENTS, experiment_designs
from scalinglab.reproductions.base import (
    NOT_IDENTIFIABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    write_page,
)
from scalinglab.reproductions.critical_batch import BATCHES

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_every_experiment_has_valid_designs_that_grow_with_scale(name, scale):
    designs = experiment_designs(name, scale, seed=3)
    assert designs and all(d.runs() for d in designs)
    assert all(r.config["seed"] in (3, 1003) for d in designs for r in d.runs())
    tokens = sum(r.config["tokens"] for d in designs for r in d.runs())
    base = sum(r.config["tokens"] for d in experiment_designs(name, 1.0, 3) for r in d.runs())
    assert tokens == pytest.approx(scale * base, rel=0.05)


# --- 1. context ------------------------------------------------------------------------------
def context_tables(lstm_plateaus: bool = True) -> Tables:
    t = np.arange(1, 513, dtype=float)
    runs, positions = [], []
    for family, n in (("transformer", 3e4), ("transformer", 1e5), ("lstm", 2e4), ("lstm", 6e4)):
        run = f"{family}-{n:g}"
        if family == "transformer" or not lstm_plateaus:
            loss = 1.2 + (50 / t) ** 0.5
        else:
            loss = 1.5 + (10 / t) ** 2.0  # flat after ~100 tokens
        loss = loss * np.exp(RNG.normal(0, 0.002, len(t)))
        positions.append(pd.DataFrame({"run": run, "position": t, "loss": loss}))
        runs.append({"run": run, "family": family, "params_nonembedding": n, "loss": loss.mean()})
    return Tables(pd.DataFrame(runs), pd.concat(positions, ignore_index=True), source="synthetic")


def test_context_reproduces_an_lstm_plateau_and_not_a_shared_power_law():
    analyze = EXPERIMENTS["context"].analyze
    finding = analyze(context_tables(), 50, 0)
    assert finding.verdict == REPRODUCED
    lo, hi = finding.numbers["difference_interval"]
    assert 0 < lo <= finding.numbers["difference"] <= hi
    same = analyze(context_tables(lstm_plateaus=False), 50, 0)
    assert same.verdict == NOT_IDENTIFIABLE  # the difference straddles zero


# --- 2. architecture -------------------------------------------------------------------------
LAW = {"E": 1.2, "A": 40.0, "B": 60.0, "alpha": 0.35, "beta": 0.30}


def law_loss(n, d):
    return LAW["E"] + LAW["A"] / n ** LAW["alpha"] + LAW["B"] / d ** LAW["beta"]


def architecture_tables(multiplier: float) -> Tables:
    rows = []
    for n in np.geomspace(3e3, 3e5, 7):
        for d in (3e6, 4.5e6, 6e6):
            rows.append({"run": f"t{n:.0f}", "family": "transformer", "seed": 0, "final": True,
                         "tokens": d, "loss": law_loss(n, d) * np.exp(RNG.normal(0, 0.003)),
                         "params_nonembedding": n})
    for n in (2e4, 6e4, 1.2e5):
        rows.append({"run": f"l{n:.0f}", "family": "lstm", "seed": 0, "final": True,
                     "tokens": 6e6, "loss": law_loss(n / multiplier, 6e6),
                     "params_nonembedding": n})
    table = pd.DataFrame(rows)
    table["params"] = 1.3 * table["params_nonembedding"]
    table["flops"] = 8.0 * table["params_nonembedding"] * table["tokens"]
    return Tables(table, source="synthetic")


@pytest.mark.parametrize(("multiplier", "verdict"), [(7.0, REPRODUCED), (2.0, NOT_REPRODUCED)])
def test_architecture_reads_the_parameter_multiplier(multiplier, verdict):
    finding = EXPERIMENTS["architecture"].analyze(architecture_tables(multiplier), 60, 0)
    assert finding.verdict == verdict, finding.ours
    matched = pd.DataFrame(finding.numbers["equal_tokens"]["rows"])
    matched = matched[matched["reason"] == ""]
    assert np.allclose(matched["multiplier"], multiplier, rtol=0.15)


# --- 3. basins -------------------------------------------------------------------------------
def basin_tables(curvature: float) -> Tables:
    rows = []
    for seed in (0, 1000):
        for n_layer in (1, 2, 3, 4, 6, 8, 12):
            d_model = round((1e5 / (12 * n_layer)) ** 0.5)
            aspect = d_model / n_layer
            rows.append({"sweep": "basins-aspect-s0", "n_layer": n_layer, "d_model": d_model,
                         "lr": 0.006, "seed": seed,
                         "loss": 2.0 * (1 + 0.003 * np.log(aspect / 12) ** 2)})
        for lr in np.geomspace(1e-3, 6e-2, 7):
            rows.append({"sweep": "basins-lr-s0", "n_layer": 3, "d_model": 48, "lr": lr,
                         "seed": seed, "loss": 2.0 * (1 + curvature * np.log(lr / 8e-3) ** 2)})
    table = pd.DataFrame(rows)
    table["loss"] *= np.exp(RNG.normal(0, 0.001, len(table)))
    table = table.assign(run=[f"r{i}" for i in range(len(table))], final=True, family="transformer",
                         tokens=3e6)
    return Tables(table, source="synthetic")


@pytest.mark.parametrize(("curvature", "verdict"), [(0.004, REPRODUCED), (0.1, NOT_REPRODUCED)])
def test_basins_are_called_broad_or_narrow(curvature, verdict):
    finding = EXPERIMENTS["basins"].analyze(basin_tables(curvature), 0, 0)
    assert finding.verdict == verdict, finding.ours
    assert finding.numbers["aspect"]["span"] >= 30 and finding.numbers["lr"]["span"] >= 30
    assert 0 < finding.numbers["lr"]["noise_sd"] < 0.01  # measured from the two seeds


# --- 4. critical batch -----------------------------------------------------------------------
def batch_tables(alpha_b: float, seed: int = 0, noise_ratio: float | None = None) -> Tables:
    """Runs whose S-E trade-off has B_crit = b_star / L^(1/alpha_b); with `noise_ratio`, the
    1024-token runs also carry noise estimates with B_noise = noise_ratio x B_crit."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(4.0, 1.4, 400)
    rows = []
    for n, b_star in ((1.2e4, 6e4), (5.5e4, 1e5)):
        crit = b_star / grid ** (1 / alpha_b)
        e_min = 1e7 * (grid - 1.0) ** -6.0
        for b in BATCHES:
            steps = e_min / crit + e_min / b
            evals = np.geomspace(steps.min(), steps.max(), 50)
            loss = np.interp(np.log(evals), np.log(steps), grid) * np.exp(
                rng.normal(0, 0.002, len(evals)))
            rows += [{"run": f"n{n:g}-b{b}", "params_nonembedding": n, "batch_tokens": b,
                      "tokens": s * b, "loss": v, "phase": "train", "warmup_tokens": 0.0}
                     for s, v in zip(evals, loss, strict=True)]
            if noise_ratio is not None and b == 1024:
                for row in rows[-len(evals):]:
                    grad_sq = 0.1 * row["loss"] ** 4 * np.exp(rng.normal(0, 0.1))
                    b_noise = noise_ratio * b_star / row["loss"] ** (1 / alpha_b)
                    row.update(grad_sq=grad_sq,
                               grad_trace=grad_sq * b_noise * np.exp(rng.normal(0, 0.1)))
    return Tables(pd.DataFrame(rows), source="synthetic")


def test_critical_batch_recovers_kaplans_exponent_and_refutes_another():
    analyze = EXPERIMENTS["critical-batch"].analyze
    assert analyze(batch_tables(0.21), 60, 0).verdict == REPRODUCED
    assert analyze(batch_tables(0.4), 60, 0).verdict == NOT_REPRODUCED


def test_critical_batch_reads_the_noise_scale_beside_b_crit():
    finding = EXPERIMENTS["critical-batch"].analyze(batch_tables(0.21, noise_ratio=2.0), 60, 0)
    for size in finding.numbers.values():
        comparison = pd.DataFrame(size["noise_scale"]["comparison"])
        assert np.allclose(comparison["ratio"], 2.0, rtol=0.15)
        assert (comparison["b_noise_lo"] < comparison["b_noise"]).all()
    assert any("B_noise / B_crit = 2" in note for note in finding.notes)


# --- the page and the command ----------------------------------------------------------------
def test_a_finding_becomes_a_self_contained_page(tmp_path):
    finding = EXPERIMENTS["basins"].analyze(basin_tables(0.004), 0, 0)
    write_page(finding, EXPERIMENTS["basins"], tmp_path / "basins.html", "synthetic")
    page = (tmp_path / "basins.html").read_text()
    assert "<svg" in page and "Verdict: reproduced" in page and "http" not in page.split(
        "<svg")[0].replace("http://www.w3.org", "")
    assert json.dumps(finding.to_dict())


def test_reproduce_rejects_an_unknown_experiment_in_one_line():
    result = CliRunner().invoke(app, ["reproduce", "telepathy"])
    assert result.exit_code == 2 and "unknown experiment 'telepathy'" in result.stderr


# --- 7. modalities ---------------------------------------------------------------------------
def test_modalities_reads_one_trajectory_from_the_exponent_differences():
    from synthetic_analyses import curves

    same = pd.concat([curves("transformer", corpus="stdlib", seed=1, step_decades=0.25),
                      curves("transformer", corpus="digits", seed=2, step_decades=0.25,
                             law={"E": 1.0})])
    finding = EXPERIMENTS["modalities"].analyze(Tables(same, source="synthetic"), 40, 0)
    (diff,) = finding.numbers["modalities"]["exponent_differences"].values()
    lo, hi = diff["interval"]
    assert lo <= 0 <= hi and finding.verdict in (REPRODUCED, NOT_IDENTIFIABLE)
    # alpha 1.0 against 0.34 moves N_opt's exponent beta / (alpha + beta) from 0.5 to 0.25.
    apart = pd.concat([curves("transformer", corpus="stdlib", seed=1, step_decades=0.25),
                       curves("transformer", corpus="digits", seed=2, step_decades=0.25,
                              noise=0.001, law={"alpha": 1.0, "A": 3.65e5})])
    finding = EXPERIMENTS["modalities"].analyze(Tables(apart, source="synthetic"), 40, 0)
    assert finding.verdict == NOT_REPRODUCED, finding.ours


# --- 5. overfitting --------------------------------------------------------------------------
def test_overfitting_reads_kaplans_exponent():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_overfitting import data_limited_runs

    analyze = EXPERIMENTS["overfitting"].analyze
    for exponent, verdict in ((0.74, REPRODUCED), (0.5, NOT_REPRODUCED)):
        truth = {"Nc": 1e5, "Dc": 1e6, "aN": 0.4 * exponent, "aD": 0.4}
        finding = analyze(Tables(data_limited_runs(truth=truth), source="synthetic"), 60, 0)
        assert finding.verdict == verdict, finding.ours


def test_a_data_limited_run_repeats_its_unique_tokens(tmp_path):
    from scalinglab.train import RunConfig, train_run

    config = RunConfig(params=3000, tokens=40960, corpus="stdlib", batch_tokens=2048,
                       unique_tokens=5000, eval_count=3, eval_tokens=2048, threads=1)
    result = train_run(config, out_dir=tmp_path / "run")
    table = result.measurements
    assert (table["unique_tokens"] == 5000).all()  # eight passes over 5,000 tokens
    assert result.status == "done"


@pytest.mark.slow
def test_reproduce_runs_end_to_end_at_a_tiny_scale(tmp_path):
    """Sweeps, store, analysis, page and JSON from one command (the science needs scale 1)."""
    out = tmp_path / "repro"
    result = CliRunner().invoke(app, ["reproduce", "basins", "--scale", "0.01", "--out", str(out),
                                      "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    finding = json.loads(result.stdout)
    assert finding["verdict"] in (REPRODUCED, NOT_REPRODUCED, NOT_IDENTIFIABLE)
    assert finding["numbers"]["scale"] == 0.01
    assert "<svg" in (out / "basins.html").read_text()
    assert json.loads((out / "basins.json").read_text())["verdict"] == finding["verdict"]
    assert (out / "index.html").read_text().count("<td>not run</td>") == 6


def test_a_run_records_per_sequence_losses_on_seen_and_fresh_text(tmp_path):
    from scalinglab.analyses.memorization import sequence_losses
    from scalinglab.train import RunConfig, train_run

    config = RunConfig(params=3000, tokens=40960, corpus="stdlib", batch_tokens=2048,
                       unique_tokens=5000, sequence_losses=8, eval_count=2, eval_tokens=2048,
                       threads=1)
    result = train_run(config, out_dir=tmp_path / "run")
    seq = result.sequence_losses
    assert list(seq["split"].value_counts().sort_index()) == [8, 8]
    assert (tmp_path / "run" / "sequence_losses.csv").exists()
    named = pd.DataFrame({"run": "r", "name": [f"sequence_loss:{r.split}:{r.window}"
                                               for r in seq.itertuples()],
                          "value": seq["loss"]})
    repeated, fresh = sequence_losses(named)["r"]
    assert len(repeated) == len(fresh) == 8
    # Eight passes over 5,000 tokens: the seen windows are fitted better than fresh text.
    assert np.median(repeated) < np.median(fresh)


# --- 6. memorization -------------------------------------------------------------------------
def memorization_tables(fractions: dict[float, float]) -> Tables:
    rng = np.random.default_rng(5)
    measurements, named = [], []
    for n, fraction in fractions.items():
        run = f"m{n:g}"
        memorized = int(round(256 * fraction))
        repeated = np.concatenate([np.exp(rng.normal(-3.0, 0.3, memorized)),
                                   np.exp(rng.normal(0.2, 0.15, 256 - memorized))])
        fresh = np.exp(rng.normal(0.25, 0.15, 256))
        measurements.append({"run": run, "params_nonembedding": n, "unique_tokens": 1.25e5,
                             "tokens": 4e6})
        named += [{"run": run, "name": f"sequence_loss:train:{i}", "value": v}
                  for i, v in enumerate(repeated)]
        named += [{"run": run, "name": f"sequence_loss:val:{i}", "value": v}
                  for i, v in enumerate(fresh)]
    return Tables(pd.DataFrame(measurements), accuracies=pd.DataFrame(named), source="synthetic")


@pytest.mark.parametrize(("fractions", "verdict"), [
    ({3e3: 0.0, 1.2e4: 0.1, 5.5e4: 0.4}, REPRODUCED),
    ({3e3: 0.4, 1.2e4: 0.2, 5.5e4: 0.1}, NOT_REPRODUCED),
    ({3e3: 0.0, 1.2e4: 0.0, 5.5e4: 0.0}, NOT_IDENTIFIABLE),
])
def test_memorization_splits_the_repeated_sequences(fractions, verdict):
    finding = EXPERIMENTS["memorization"].analyze(memorization_tables(fractions), 50, 0)
    assert finding.verdict == verdict, finding.ours
    measured = {r["params"]: r["fraction"] for r in finding.numbers["runs"]}
    for n, fraction in fractions.items():
        assert measured[n] == pytest.approx(fraction, abs=0.03)


def test_memorization_counts_passes_over_the_repeated_subset_or_the_cut_training_set():
    from scalinglab.reproductions.memorization import passes

    mixed = pd.DataFrame({"tokens": [1e6, 4e6], "repeated_passes": [16.0, 64.0]})
    cut = pd.DataFrame({"tokens": [1e6, 4e6], "unique_tokens": [1.25e5, 1.25e5]})
    assert passes(mixed) == 64.0 and passes(cut) == 32.0


def test_every_experiment_run_into_a_folder_is_on_one_page(tmp_path):
    """index.html: each run experiment's verdict and figure, in the lecture's order; the
    others listed as not run."""
    from matplotlib.figure import Figure

    from scalinglab.reproductions.base import Finding, write_page
    from scalinglab.reproductions.registry import EXPERIMENTS
    from scalinglab.reproductions.summary import write_summary

    for name, verdict in (("modalities", NOT_IDENTIFIABLE), ("context", NOT_REPRODUCED)):
        figure = Figure()
        figure.subplots().set_title(f"figure of {name}")
        finding = Finding(name, verdict, f"ours for {name}", "published", {"scale": 1.0,
                                                                          "seed": 0}, figure)
        (tmp_path / f"{name}.json").write_text(json.dumps(finding.to_dict()))
        write_page(finding, EXPERIMENTS[name], tmp_path / f"{name}.html", "synthetic")
    (tmp_path / "basins.json").write_text("{not json")  # unreadable: listed with why
    page = write_summary(tmp_path, {e.name: (e.title, e.source)
                                    for e in EXPERIMENTS.values()}).read_text()
    assert page.count("<svg") == 2 and "figure of context" in page
    assert page.index("ours for context") < page.index("ours for modalities")
    assert page.count("<td>not run</td>") == 4
    assert "basins.json could not be read (JSONDecodeError)" in page
    assert f"<b>{NOT_REPRODUCED}</b>" in page and f"<b>{NOT_IDENTIFIABLE}</b>" in page
