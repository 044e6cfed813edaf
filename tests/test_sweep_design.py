"""Sweep designs: run counts, budgets, ladders, presets and the errors a user sees."""

from __future__ import annotations

import math

import pytest

from scalinglab.errors import ScalinglabError
from scalinglab.sweep import design as d


def test_geometric_ladder_spans_its_ends_evenly_in_log() -> None:
    values = d.geometric(1e4, 1e6, 5)
    assert values[0] == 1e4 and values[-1] == 1e6
    ratios = [b / a for a, b in zip(values, values[1:], strict=False)]
    assert all(math.isclose(r, 10**0.5, rel_tol=1e-2) for r in ratios)


def test_grid_crosses_sizes_tokens_families_and_seeds() -> None:
    design = d.parse_design({
        "name": "g", "kind": "grid", "families": ["transformer", "lstm"], "seeds": [0, 1],
        "params": {"min": 1e4, "max": 1e5, "count": 3}, "tokens": [1e5, 2e5, 4e5, 8e5]})
    runs = design.runs()
    assert len(runs) == 2 * 2 * 3 * 4
    assert len({r.name for r in runs}) == len(runs)
    assert {r.config["family"] for r in runs} == {"transformer", "lstm"}
    assert all(r.config["schedule"] == "cosine" for r in runs)
    # The lecture's point: a token ladder D, D/2, D/4, D/8 costs under 2D.
    assert sum(design.tokens) < 2 * max(design.tokens)


def test_isoflop_runs_sit_on_their_budget_around_the_optimum() -> None:
    design = d.parse_design({"name": "i", "kind": "isoflop", "budgets": [1e12, 1e13],
                             "sizes": 5, "spread": 4.0, "tokens_per_param": 20})
    runs = design.runs()
    assert len(runs) == 10
    for budget in (1e12, 1e13):
        group = [r for r in runs if r.budget == budget]
        assert len(group) == 5
        for run in group:
            assert math.isclose(6 * run.params * run.config["tokens"], budget, rel_tol=5e-3)
        sizes = sorted(r.params for r in group)
        optimum = math.sqrt(budget / 120)
        assert math.isclose(sizes[2], optimum, rel_tol=5e-3)  # middle size is N_opt
        assert math.isclose(sizes[-1] / sizes[0], 16, rel_tol=1e-2)  # spread 4 each way


def test_curves_are_one_wsd_run_per_size_with_cooldown_branches() -> None:
    design = d.parse_design({"name": "c", "kind": "curves", "params": [1e4, 1e5],
                             "tokens_per_param": 100, "cooldowns": [0.25, 0.5]})
    runs = design.runs()
    assert len(runs) == 2
    small = runs[0]
    assert small.config["schedule"] == "wsd"
    assert small.config["tokens"] == 1e6
    assert small.config["cooldown_tokens"] == [2.5e5, 5e5]


def test_scan_varies_one_hyperparameter() -> None:
    design = d.parse_design({"name": "s", "kind": "scan", "hyperparameter": "lr",
                             "values": {"min": 1e-3, "max": 1e-2, "count": 4},
                             "params": 1e4, "tokens": 1e5})
    runs = design.runs()
    assert [r.config["lr"] for r in runs] == d.geometric(1e-3, 1e-2, 4)
    assert len({r.name for r in runs}) == 4 and "lr0.001" in runs[0].name


def test_overrides_reach_every_run_but_cannot_replace_design_keys() -> None:
    design = d.parse_design({"name": "o", "kind": "grid", "params": [1e4], "tokens": [1e5],
                             "overrides": {"n_ctx": 32}})
    assert design.runs()[0].config["n_ctx"] == 32
    with pytest.raises(ScalinglabError, match="overrides may not set tokens"):
        d.parse_design({"name": "o", "kind": "grid", "params": [1e4], "tokens": [1e5],
                        "overrides": {"tokens": 5}})


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "gird"}, "key 'kind' is 'gird'; allowed: grid, isoflop, curves, scan"),
    ({"kind": "grid", "params": [1e4], "tokens": [1e5], "famlies": ["lstm"]},
     "unknown key 'famlies' (allowed keys: name, corpus, families"),
    ({"kind": "grid", "params": [1e4], "tokens": [1e5], "families": ["gru"]},
     "key 'families.0': 'gru' is not allowed (allowed: 'transformer' or 'lstm')"),
    ({"kind": "grid", "params": {"min": 1e4}, "tokens": [1e5]},
     "key 'params': a ladder table needs keys min, max"),
    ({"kind": "grid", "tokens": [1e5]}, "missing key 'params'"),
    ({"kind": "grid", "params": [-1], "tokens": [1e5]}, "key 'params.0'"),
    ({"kind": "curves", "params": [1e4]}, "set exactly one of tokens, tokens_per_param"),
    ({"kind": "scan", "hyperparameter": "aspect", "values": [1], "params": 1, "tokens": 1},
     "key 'hyperparameter': 'aspect' is not allowed"),
])
def test_bad_designs_name_the_key_and_allowed_values(data: dict, message: str) -> None:
    with pytest.raises(ScalinglabError) as error:
        d.parse_design({"name": "x", **data}, source="sweep.toml")
    assert str(error.value).startswith("sweep.toml: ")
    assert message in str(error.value)


def test_toml_file_defaults_its_name_to_the_file_stem(tmp_path) -> None:
    path = tmp_path / "ladder.toml"
    path.write_text('kind = "grid"\nparams = [1e4, 2e4]\n'
                    'tokens = {min = 1e5, max = 4e5, count = 3}\n')
    design = d.load_design(path)
    assert design.name == "ladder" and len(design.runs()) == 6
    path.write_text("kind = grid")
    with pytest.raises(ScalinglabError, match="not valid TOML"):
        d.load_design(path)
    with pytest.raises(ScalinglabError, match="no such file"):
        d.load_design(tmp_path / "missing.toml")


def test_presets_validate_and_unknown_presets_are_named() -> None:
    for name in d.PRESETS:
        assert d.preset(name).runs()
    assert d.preset("gpu-small").device == "cuda"
    with pytest.raises(ScalinglabError, match="allowed: cpu-tiny, cpu-small, gpu-small"):
        d.preset("huge")
    with pytest.raises(ScalinglabError, match="one of them"):
        d.resolve(None, None)


def test_a_scan_can_change_other_fields_together_with_its_hyperparameter():
    scan = {"name": "b", "kind": "scan", "hyperparameter": "batch_tokens",
            "values": [256, 1024, 4096], "params": 1e4, "tokens": 1e6}
    design = d.parse_design({**scan, "together": {"lr": [2e-3, 4e-3, 8e-3],
                                                  "noise_scale_batches": [0, 16, 0]}})
    configs = [r.config for r in design.runs()]
    assert [(c["batch_tokens"], c["lr"], c["noise_scale_batches"]) for c in configs] == [
        (256, 2e-3, 0), (1024, 4e-3, 16), (4096, 8e-3, 0)]
    assert isinstance(configs[1]["noise_scale_batches"], int)  # types kept: hashes stay stable
    with pytest.raises(ScalinglabError, match="together.lr has 2 values; the scan has 3"):
        d.parse_design({**scan, "together": {"lr": [1e-3, 2e-3]}})
    with pytest.raises(ScalinglabError, match="together may not set tokens"):
        d.parse_design({**scan, "together": {"tokens": [1e5, 2e5, 3e5]}})
