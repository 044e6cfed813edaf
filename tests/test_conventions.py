"""One accounting convention end to end: views, FLOPs per token, plans that spend the budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab import decide, laws
from scalinglab.accounting import transformer_flops_per_token, transformer_params
from scalinglab.conventions import TokenCost, get_convention, token_cost_for
from scalinglab.errors import ScalinglabError
from scalinglab.models.ladder import transformer_shape

TRUE = {"E": 1.0, "A": 40.0, "B": 90.0, "alpha": 0.35, "beta": 0.3}


def _runs() -> pd.DataFrame:
    rows = []
    for target in (3e3, 1.2e4, 5e4, 1.5e5):
        shape = transformer_shape(target)
        counts = transformer_params(shape.n_layer, shape.d_model, 256, 128)
        per_token = transformer_flops_per_token(shape.n_layer, shape.d_model, 256, 128)
        for d in (1e6, 3e6, 6e6):
            rows.append({"run": f"n{target:g}", "family": "transformer", "n_ctx": 128,
                         "d_model": shape.d_model, "params": counts.total,
                         "params_nonembedding": counts.nonembedding, "tokens": d,
                         "flops": per_token * d, "loss": 2.0})
    return pd.DataFrame(rows)


def test_views_put_each_convention_in_params_and_flops() -> None:
    runs = _runs()
    kaplan = get_convention("kaplan").view(runs)
    assert np.allclose(kaplan["params"], runs["params_nonembedding"])
    assert np.allclose(kaplan["flops"], 6 * runs["params_nonembedding"] * runs["tokens"])
    exact = get_convention("exact").view(runs)
    assert np.allclose(exact["flops"], runs["flops"]) and np.allclose(exact["params"],
                                                                     runs["params"])
    assert "params" in runs and runs["params"].iloc[0] == exact["params_total"].iloc[0]
    # Small models: exact FLOPs per token are far above 6 N_nonembedding.
    assert (runs["flops"] / kaplan["flops"]).iloc[0] > 2
    with pytest.raises(ScalinglabError, match="unknown convention"):
        get_convention("chinchilla")


def test_token_cost_reads_family_vocabulary_and_context_from_the_runs() -> None:
    cost = token_cost_for(get_convention("exact"), _runs())
    assert (cost.family, cost.vocab_size, cost.n_ctx) == ("transformer", 256, 128)
    shape = transformer_shape(5e4)
    counts = transformer_params(shape.n_layer, shape.d_model, 256, 128)
    expected = transformer_flops_per_token(shape.n_layer, shape.d_model, 256, 128)
    assert float(cost.flops_per_token(counts.total)) == pytest.approx(expected, rel=1e-9)
    # Shapes unknown: FLOPs per token as the runs measured them, interpolated by size.
    measured = token_cost_for(get_convention("exact"), _runs().drop(columns=["d_model"]))
    assert measured.measured and float(measured.flops_per_token(counts.total)) == pytest.approx(
        expected, rel=1e-9)
    assert float(measured.flops_per_token(1e9)) > 0  # carried on beyond the sizes measured
    with pytest.raises(ScalinglabError, match="--vocab-size"):
        token_cost_for(get_convention("exact"), _runs().drop(columns=["d_model", "flops"]))
    assert not token_cost_for(get_convention("kaplan"), _runs()).exact


@pytest.mark.parametrize("column", ["params", "params_nonembedding"])
def test_plan_spends_exactly_the_budget_in_exact_flops(column: str) -> None:
    law = laws.get_law("chinchilla", params_column=column)
    law.params_ = dict(TRUE)
    cost = TokenCost(exact=True, params_column=column, vocab_size=256, n_ctx=128)
    law.accounting = {"convention": "exact", **cost.to_dict()}
    budget = 3e13
    plan = decide.compute_optimal(law, budget)
    assert plan["flops"] == pytest.approx(budget, rel=1e-9)
    assert plan["shape"]["flops"] == pytest.approx(budget, rel=1e-9)
    # The optimum is a real minimum of the loss along the budget, found numerically.
    grid = np.geomspace(plan["n_params"] / 3, plan["n_params"] * 3, 41)
    losses = [decide.predict_loss(law, n, budget / cost.flops_per_token(n))[0] for n in grid]
    assert plan["loss"] <= min(losses) + 1e-9
    # Planned as if C = 6 N D, the non-embedding law's run would overspend in exact FLOPs
    # (small models pay for their output layer and attention); with all parameters 6 N is
    # close to the exact count, so only the first is a large error.
    law.accounting = None
    naive = decide.compute_optimal(law, budget)
    exact_spend = float(cost.flops_per_token(naive["n_params"])) * naive["tokens"]
    if column == "params_nonembedding":
        assert exact_spend / budget > 1.1


def test_allocation_exponent_matches_closed_form_in_6nd() -> None:
    law = laws.get_law("chinchilla")
    law.params_ = dict(TRUE)
    a = decide.allocation_exponent(law, 1e20)
    assert a == pytest.approx(TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"]), abs=1e-6)
