"""The README's "Bring your own runs" block, run line by line with the installed command on
TensorBoard logs written by PyTorch's own SummaryWriter."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from imported_logs import TRUTH, grid, write_tensorboard

README = Path(__file__).parents[1] / "README.md"
BIN = Path(sys.executable).parent


def _quickstart() -> list[str]:
    section = README.read_text().split("## Bring your own runs", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.skipif(not (BIN / "scalinglab").exists(), reason="needs the installed command")
def test_the_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    write_tensorboard(tmp_path / "runs", grid())
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    lines = _quickstart()
    assert [shlex.split(line)[1] for line in lines] == ["import", "fit", "predict", "plan",
                                                        "report"]
    for line in lines:
        result = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, (line, result.stderr[-2000:])
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["n_points"] == 20  # one row per run: each run's last evaluation
    assert abs(fit["params"]["alpha"] - TRUTH["alpha"]) < 0.03
    assert abs(fit["params"]["beta"] - TRUTH["beta"]) < 0.03
    assert fit["fitted_range"]["params"] == [pytest.approx(1e7), pytest.approx(1e9)]
    assert (tmp_path / "report.html").stat().st_size > 50_000


def test_the_trainer_design_in_docs_your_runs_parses_as_documented(tmp_path: Path) -> None:
    from scalinglab.sweep.design import load_design

    doc = (Path(__file__).parents[1] / "docs" / "your-runs.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    path = tmp_path / "my-sweep.toml"
    path.write_text(block)
    runs = load_design(path).runs()
    assert len(runs) == 3 * 2 * 2  # sizes x token budgets x learning rates
    assert sorted({spec.params for spec in runs}) == [1e7, 3e7, 1e8]  # sizes as given
