"""Encodings never decide an answer: a byte-order mark hides no column, and a terminal that
cannot show a character gets "?" for it, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from scalinglab.cli import app


def test_a_byte_order_mark_hides_no_repeated_column(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfloss,params,tokens,loss\n1,2,3,4\n")
    result = CliRunner().invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    assert "column 'loss' appears twice in the header" in result.stderr


def test_a_terminal_that_cannot_show_an_en_dash_gets_the_table(tmp_path: Path) -> None:
    rows = [{"run": f"r{i}", "params": n, "tokens": d,
             "loss": 1.8 + 400 / n**0.34 + 400 / d**0.28}
            for i, (n, d) in enumerate((n, d) for n in np.geomspace(1e7, 1e9, 5)
                                       for d in np.geomspace(1e8, 1e10, 5))]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([sys.executable, "-c", "from scalinglab.cli import main; main()",
                             "fit", "runs.csv", "--bootstrap", "20"], cwd=tmp_path, env=env,
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-1500:]
    assert b"Traceback" not in result.stderr and b"alpha" in result.stdout
