"""`analyses.capabilities`: exact match against size next to loss, and the jump located."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analyses import capabilities
from scalinglab.errors import ScalinglabError

SIZES = 10 ** np.arange(4.0, 6.01, 0.25)  # 9 sizes, a quarter decade apart


def _runs(accuracy_of) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One arithmetic run per size; loss falls as a smooth power law of N."""
    table = pd.DataFrame({"run": [f"arith-{n:.3g}" for n in SIZES], "family": "transformer",
                          "corpus": "arithmetic", "params": SIZES, "params_nonembedding": SIZES,
                          "tokens": 1e7, "flops": 6e7 * SIZES,
                          "loss": 0.3 + (3e3 / SIZES) ** 0.3, "final": True})
    accuracies = pd.DataFrame({"run": table["run"], "name": "exact_match",
                               "value": [accuracy_of(n) for n in SIZES]})
    return table, accuracies


def test_a_sudden_jump_is_located_between_the_right_sizes() -> None:
    table, accuracies = _runs(lambda n: 0.02 if n < 3e5 else 0.9)
    result = capabilities(table, accuracies, n_resamples=50)
    assert result.verdict == "sudden"
    assert result.jump_from == pytest.approx(10**5.25) and result.jump_to == pytest.approx(10**5.5)
    assert result.accuracy_share == pytest.approx(1.0)
    assert result.loss_share < 0.2  # the loss fell smoothly meanwhile
    assert 10**5.25 < result.n_half < 10**5.5
    lo, hi = result.n_half_interval
    assert lo <= result.n_half <= hi
    assert "sudden" in result.summary() and len(result.points) == len(SIZES)


def test_a_steady_rise_is_smooth_and_a_flat_one_has_no_jump() -> None:
    table, accuracies = _runs(lambda n: (np.log10(n) - 4.0) / 2.0)
    assert capabilities(table, accuracies, n_resamples=0).verdict == "smooth"
    table, accuracies = _runs(lambda n: 0.01)
    assert capabilities(table, accuracies, n_resamples=0).verdict == "no rise"


def test_an_accuracy_column_works_like_a_store_table() -> None:
    table, accuracies = _runs(lambda n: 0.02 if n < 3e5 else 0.9)
    with_column = table.assign(accuracy=accuracies["value"].to_numpy())
    result = capabilities(with_column, n_resamples=0)
    assert result.verdict == "sudden"


def test_without_accuracies_or_enough_sizes_it_says_so() -> None:
    table, accuracies = _runs(lambda n: 0.5)
    with pytest.raises(ScalinglabError, match="no accuracies"):
        capabilities(table)
    with pytest.raises(ScalinglabError, match="need at least 3"):
        capabilities(table.iloc[:2], accuracies)
    with pytest.raises(ScalinglabError, match="family 'lstm'.*allowed: transformer"):
        capabilities(table, accuracies, family="lstm")
