"""docs/notebook.md runs top to bottom, and the notebook surface is typed and torch-free."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DOC = Path(__file__).parents[1] / "docs" / "notebook.md"


def test_every_block_of_the_notebook_doc_runs(tmp_path: Path, monkeypatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    assert (tmp_path / "fit.png").stat().st_size > 10_000
    assert namespace["answer"]["compute_factor"].iloc[1] == pytest.approx(9.0, rel=1e-6)
    assert "extrapolating 9x" in namespace["answer"]["extrapolation"].iloc[1]


def test_plot_fit_returns_the_axes_it_was_given() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scalinglab import fit, plot_fit

    rows = [{"run": f"r{i}", "params": n, "tokens": d,
             "loss": 1.8 + 400 / n**0.34 + 400 / d**0.28}
            for i, (n, d) in enumerate((n, d) for n in np.geomspace(1e7, 1e9, 4)
                                       for d in np.geomspace(1e8, 1e10, 4))]
    table = pd.DataFrame(rows).assign(flops=lambda t: 6 * t.params * t.tokens,
                                      params_nonembedding=lambda t: t.params, family="x")
    law = fit(table, "chinchilla", verbose=False)
    _, ax = plt.subplots()
    assert plot_fit(law, table, ax=ax) is ax
    assert len(ax.lines) == 4 and len(ax.collections) == 4  # a curve and points per size
    assert isinstance(plot_fit(law), type(ax))  # no table: the law's own fitted range
    plt.close("all")


def test_the_package_is_typed_and_the_surface_loads_without_torch() -> None:
    assert (Path(__file__).parents[1] / "src" / "scalinglab" / "py.typed").exists()
    code = ("import sys; sys.modules['torch'] = None; import scalinglab; "
            "from scalinglab import read_runs, fit, bootstrap, predict, plan, plot_fit; "
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
