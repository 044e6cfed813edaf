"""Hyperparameter basins: a known broad and a known narrow basin are told apart."""

import numpy as np
import pytest

from scalinglab.analyses.basins import basin

LR = np.geomspace(1e-3, 1e-1, 9)


def bowl(h, best, curvature):
    """Loss rising quadratically in log h from 2.0 at `best`."""
    return 2.0 * (1 + curvature * np.log(h / best) ** 2)


def test_a_broad_basin_is_called_broad_with_the_right_rise():
    result = basin(LR, bowl(LR, 1e-2, 0.01), "lr")
    assert result.best == pytest.approx(1e-2)
    expected = 0.01 * np.log(3.0) ** 2
    # Piecewise-linear reading of a smooth bowl: within half a percent of the true rise.
    assert result.rise_below == pytest.approx(expected, abs=0.005)
    assert result.rise_above == pytest.approx(expected, abs=0.005)
    assert result.verdict == "broad" and "broad" in result.summary()


def test_a_narrow_basin_is_called_narrow():
    assert basin(LR, bowl(LR, 1e-2, 0.2), "lr").verdict == "narrow"


def test_noise_makes_a_borderline_rise_unclear():
    result = basin(LR, bowl(LR, 1e-2, 0.024), "lr", noise_sd=0.01)
    assert result.verdict.startswith("unclear")


def test_a_scan_that_stops_at_its_best_value_is_not_measured():
    result = basin(LR[:5], bowl(LR[:5], 1e-1, 0.01), "lr")
    assert np.isnan(result.rise_above) and result.verdict.startswith("not measured")


def test_too_few_values_is_a_clear_error():
    with pytest.raises(Exception, match="need at least 3"):
        basin(LR[:2], bowl(LR[:2], 1e-2, 0.01), "lr")


def test_the_basin_command_reads_a_scan(tmp_path):
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from scalinglab.cli import app

    path = tmp_path / "scan.csv"
    pd.DataFrame({"run": [f"lr{v:.3g}" for v in LR], "family": "transformer",
                  "params": 2e4, "params_nonembedding": 1e4, "tokens": 1e6, "flops": 1.2e11,
                  "loss": bowl(LR, 1e-2, 0.01), "lr": LR, "final": True}).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["basin", "--data", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["verdict"] == "broad" and out["best"] == pytest.approx(1e-2)
