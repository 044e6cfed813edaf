"""End to end on real runs: a tiny two-corpus sweep (markov, arithmetic) through the store into
the modalities and capabilities analyses. Checks plumbing, not physics (the models are tiny)."""

from __future__ import annotations

import pytest

from scalinglab.analyses import capabilities, fit_positions, load_sweeps, markov_entropy, modalities
from scalinglab.sweep.design import parse_design


@pytest.mark.slow
def test_a_sweep_on_two_corpora_feeds_the_analyses(tmp_path) -> None:
    from scalinglab.sweep.driver import run_sweep

    design = parse_design({
        "name": "tiny-modalities", "kind": "curves", "corpora": ["markov", "arithmetic"],
        "params": [3e3, 1.2e4, 2.8e4], "tokens": 4e4, "cooldowns": [0.5],
        "overrides": {"n_ctx": 32, "eval_tokens": 4096},
    })
    corpora = [spec.name.split("-")[0] for spec in design.runs()]
    assert corpora == ["markov"] * 3 + ["arithmetic"] * 3
    db = tmp_path / "lab.db"
    outcome = run_sweep(design, db, workers=2)
    assert outcome.counts == {"done": 6}, outcome
    tables = load_sweeps(db, ["tiny-modalities"])

    result = modalities(tables.measurements, n_resamples=20, markov_source=tables.markov_source)
    assert set(result.corpora) | set(result.skipped) == {"markov", "arithmetic"}
    if "markov" in result.corpora:
        H, floor = markov_entropy(n_ctx=32)
        assert result.markov.entropy_rate == pytest.approx(H)
        assert result.markov.loss_floor == pytest.approx(floor) and result.markov.n_ctx == 32

    found = capabilities(tables.measurements, tables.accuracies, n_resamples=0)
    assert len(found.points) == 3 and found.points["accuracy"].between(0, 1).all()
    positions = fit_positions(tables.positions, tables.measurements, n_resamples=0)
    assert len(positions.laws) + len(positions.skipped) == 6
