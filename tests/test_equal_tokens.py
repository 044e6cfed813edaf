"""Kaplan's view: a known parameter multiplier at equal tokens is recovered, with its trend."""

import re

import numpy as np
import pandas as pd
import pytest

from scalinglab import laws
from scalinglab.analyses.equal_tokens import (
    OUTSIDE,
    OUTSIDE_TOKENS,
    compare_at_equal_tokens,
    size_at_loss,
)
from scalinglab.analyses.fitted import FittedLaw

TRUE = {"E": 1.2, "A": 40.0, "B": 60.0, "alpha": 0.35, "beta": 0.30}


def law_loss(n, d):
    return TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]


@pytest.fixture(scope="module")
def base():
    rng = np.random.default_rng(0)
    rows = [{"run": f"t{n:g}", "params": n, "tokens": d,
             "loss": law_loss(n, d) * np.exp(rng.normal(0, 0.003))}
            for n in np.geomspace(3e3, 3e5, 8) for d in np.geomspace(1e6, 8e6, 4)]
    table = pd.DataFrame(rows)
    law = laws.get_law("chinchilla").fit(table)
    boot = laws.bootstrap(law, table, n_resamples=60, seed=0, method="cases")
    return FittedLaw("l_nd", "L(N, D)", law, table, boot)


def other_family(multiplier_of):
    """Runs at 6e6 tokens whose loss is the base law's at N / multiplier_of(N)."""
    sizes = np.array([1e4, 3e4, 1e5, 3e5])
    return pd.DataFrame({"run": [f"l{n:g}" for n in sizes], "params": sizes,
                         "tokens": 6e6, "loss": [law_loss(n / multiplier_of(n), 6e6)
                                                 for n in sizes]})


def test_size_at_loss_inverts_the_law(base):
    target = law_loss(5e4, 6e6)
    assert size_at_loss(base.law, target, 6e6, (3e3, 3e5)) == pytest.approx(5e4, rel=0.05)
    assert np.isnan(size_at_loss(base.law, 1.0, 6e6, (3e3, 3e5)))  # below the fitted sizes


def test_a_constant_multiplier_is_recovered_and_called_constant(base):
    result = compare_at_equal_tokens(base, other_family(lambda n: 3.0), "transformer", "lstm")
    matched = result.matched
    assert result.tokens == (6e6, 6e6) and len(matched) >= 2
    assert np.allclose(matched["multiplier"], 3.0, rtol=0.1)
    assert all(r.lo <= 3.0 <= r.hi for r in matched.itertuples())
    assert result.verdict == "constant"
    assert re.search(r"lstm needs (2\.9|3\.0)", result.summary())
    # A size whose loss the base law reaches only below its smallest fitted size is not matched.
    assert set(result.rows.loc[result.rows["reason"] != "", "reason"]) <= {OUTSIDE}


def test_a_multiplier_that_grows_with_size_is_called_so(base):
    result = compare_at_equal_tokens(base, other_family(lambda n: (n / 1e4) ** 0.5 * 1.5),
                                     "transformer", "lstm")
    assert result.trend > 1.5 and result.verdict == "grows with size"


def test_each_run_is_matched_at_its_own_tokens_and_never_extrapolated(base):
    runs = other_family(lambda n: 2.0)
    runs.loc[1, "tokens"] = 3e6
    runs.loc[1, "loss"] = law_loss(runs.loc[1, "params"] / 2.0, 3e6)
    runs.loc[2, "tokens"] = 5e7  # beyond every fitted base run
    result = compare_at_equal_tokens(base, runs, "transformer", "lstm")
    assert result.rows.loc[1, "multiplier"] == pytest.approx(2.0, rel=0.1)
    assert result.rows.loc[2, "reason"] == OUTSIDE_TOKENS
    assert "3e+06-6e+06 (each run's)" in result.summary() or "3e+06-5e+07" in result.summary()


def test_no_matched_run_is_an_error_that_says_why(base):
    runs = other_family(lambda n: 1000.0)  # far worse than any fitted transformer
    with pytest.raises(Exception, match="not resolvable at this scale"):
        compare_at_equal_tokens(base, runs, "transformer", "lstm")
