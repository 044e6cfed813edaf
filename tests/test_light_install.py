"""A light install: the wheel's core (no torch, no ray) fits, predicts, plans and reports, and a
command that needs an extra says which one in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).parents[1]


def _run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=check,
                          timeout=900)


@pytest.mark.slow
def test_the_core_wheel_fits_predicts_plans_and_reports_without_torch(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                  "--no-build-isolation", "-w", str(wheels), str(ROOT)], tmp_path, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("scalinglab-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python, scalinglab = venv / "bin" / "python", venv / "bin" / "scalinglab"
    # The lock's versions (as `make` installs them), but only what the core asks for.
    installed = _run([str(python), "-m", "pip", "install", "--quiet", "-c",
                      str(ROOT / "requirements.lock"), str(wheel)], tmp_path, check=False)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert _run([str(python), "-c", "import torch"], tmp_path, check=False).returncode != 0
    assert _run([str(python), "-c", "import ray"], tmp_path, check=False).returncode != 0
    typed = _run([str(python), "-c", "import scalinglab, pathlib; print(pathlib.Path("
                  "scalinglab.__file__).with_name('py.typed').exists())"], tmp_path)
    assert typed.stdout.strip() == "True"

    rng = np.random.default_rng(0)
    rows = [{"run": f"N{n:.3g}-D{d:.3g}", "params": n, "tokens": d,
             "loss": (1.8 + 400 / n**0.34 + 400 / d**0.28) * np.exp(rng.normal(0, 0.005))}
            for n in np.geomspace(1e7, 1e9, 6) for d in np.geomspace(2e8, 2e10, 6)]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    for args in (["fit", "runs.csv", "--law", "chinchilla", "--bootstrap", "50", "--out",
                  "fit.json"],
                 ["predict", "--fit", "fit.json", "--params", "3e9", "--tokens", "6e10"],
                 ["plan", "--fit", "fit.json", "--gpu-hours", "1000", "--gpu", "h100"],
                 ["report", "--data", "runs.csv", "--bootstrap", "20", "-o", "report.html"],
                 ["import", "csv", "runs.csv", "-o", "imported.csv"]):
        result = _run([str(scalinglab), *args], tmp_path, check=False)
        assert result.returncode == 0, (args, result.stderr[-2000:])
    assert json.loads((tmp_path / "fit.json").read_text())["converged"] is True
    assert (tmp_path / "report.html").stat().st_size > 50_000

    needs = _run([str(scalinglab), "train", "--corpus", "stdlib", "--params", "1e4",
                  "--tokens", "1e5", "--out", "run"], tmp_path, check=False)
    assert needs.returncode == 2
    assert needs.stderr.strip() == ("error: this needs torch, which is not installed: pip "
                                    "install 'scalinglab[train]'")
