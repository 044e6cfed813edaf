"""Critical batch size: a synthetic S-E trade-off with a known B_crit(L) is recovered."""

import numpy as np
import pandas as pd
import pytest

from scalinglab.analyses.critical_batch import critical_batch, fit_tradeoff, steps_to_target

ALPHA_B, B_STAR = 0.21, 1e5


def b_crit(loss):
    return B_STAR / loss ** (1 / ALPHA_B)


def e_min(loss):
    return 1e7 * (loss - 1.0) ** -6.0  # falls fast enough that S_min rises as L falls


def scan(batches=tuple(256 * 2.0 ** np.arange(8)), noise=0.0, seed=0) -> pd.DataFrame:
    """Learning curves whose steps to every loss follow S = S_min(L) + E_min(L) / B."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(4.0, 1.4, 400)
    rows = []
    for b in batches:
        steps = e_min(grid) / b_crit(grid) + e_min(grid) / b
        evals = np.geomspace(steps.min(), steps.max(), 60)
        losses = np.interp(np.log(evals), np.log(steps), grid)
        losses = losses * np.exp(rng.normal(0.0, noise, len(evals)))
        rows += [{"run": f"b{b:g}", "batch_tokens": b, "tokens": s * b, "loss": loss,
                  "phase": "train"} for s, loss in zip(evals, losses, strict=True)]
    return pd.DataFrame(rows)


def test_the_tradeoff_is_linear_in_one_over_batch():
    batch = np.array([256.0, 1024.0, 4096.0, 16384.0])
    s_min, e_min_, sd = fit_tradeoff(batch, 100 + 2e5 / batch)
    assert s_min == pytest.approx(100, rel=1e-4) and e_min_ == pytest.approx(2e5, rel=1e-4)
    assert sd < 1e-6


def test_steps_to_target_interpolates_the_first_crossing():
    curve = pd.DataFrame({"tokens": [1e3, 1e4, 1e5], "loss": [3.0, 2.0, 1.5]})
    assert steps_to_target(curve, 2.0, 10.0) == pytest.approx(1e3)
    assert 1e2 < steps_to_target(curve, 2.5, 10.0) < 1e3
    assert np.isnan(steps_to_target(curve, 1.0, 10.0))


def test_a_known_critical_batch_is_recovered_within_10_percent():
    result = critical_batch(scan(noise=0.003), targets=np.array([2.6, 2.2, 1.9, 1.7]),
                            n_resamples=100)
    for row in result.targets.itertuples():
        assert row.b_crit == pytest.approx(b_crit(row.loss), rel=0.10)
        assert row.b_crit_lo <= b_crit(row.loss) <= row.b_crit_hi
    assert result.alpha_b == pytest.approx(ALPHA_B, rel=0.10)
    lo, hi = result.alpha_b_interval
    assert lo <= ALPHA_B <= hi
    assert "alpha_B" in result.summary()


def test_too_few_batch_sizes_is_a_clear_error():
    with pytest.raises(Exception, match="need at least 3"):
        critical_batch(scan(batches=(256.0, 1024.0)))


def test_the_critical_batch_command_reads_a_scan(tmp_path):
    import json

    from typer.testing import CliRunner

    from scalinglab.cli import app

    table = scan().assign(family="transformer", params=2e4, params_nonembedding=1e4)
    table["flops"] = 1.2e5 * table["tokens"]
    path = tmp_path / "scan.csv"
    table.to_csv(path, index=False)
    result = CliRunner().invoke(app, ["critical-batch", "--data", str(path), "--bootstrap", "20",
                                      "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["targets"]) >= 2 and out["alpha_b"] == pytest.approx(ALPHA_B, rel=0.15)


def test_a_critical_batch_beyond_the_scan_is_a_bound_left_out_of_the_power_law():
    # The scan stops at 2048 tokens; B_crit at L = 1.7 is ~1.25e6 (600x beyond): the steps
    # there still fall as 1/B, which says only that B_crit lies above the scan.
    batches = tuple(256 * 2.0 ** np.arange(4))
    targets = np.array([3.6, 3.2, 2.9, 1.7])
    result = critical_batch(scan(batches=batches, noise=0.003), targets=targets,
                            n_resamples=60)
    beyond = result.targets[~result.targets["identified"]]
    assert list(beyond["loss"]) == [1.7]
    assert len(result.identified) == 3
    assert all(row.b_crit == pytest.approx(b_crit(row.loss), rel=0.15)
               for row in result.identified.itertuples())
    assert "1.7: B_crit not bracketed by the scanned batches (256 to 2048)" in result.summary()
    # Without the bound the fit would read alpha_B from an unbounded point.
    assert result.alpha_b == pytest.approx(ALPHA_B, rel=0.2)
