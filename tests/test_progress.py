"""Progress of long steps: reported by the library, shown only to a person at a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglab import laws
from scalinglab.progress import Update, report, reporting

SCALINGLAB = Path(sys.executable).with_name("scalinglab")


def _grid(path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = [{"run": f"r{i}-{j}", "params": n, "tokens": d,
             "loss": (1.8 + 400 / n**0.34 + 400 / d**0.28) * np.exp(rng.normal(0, 0.005))}
            for i, n in enumerate(np.geomspace(1e7, 1e9, 6))
            for j, d in enumerate(np.geomspace(2e8, 2e10, 6))]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_the_bootstrap_reports_its_resamples_and_changes_no_number(tmp_path: Path) -> None:
    table = pd.read_csv(_grid(tmp_path / "grid.csv")).assign(
        flops=lambda t: 6 * t.params * t.tokens)
    law = laws.get_law("chinchilla").fit(table)
    seen: list[Update] = []
    with reporting(seen.append):
        boot = laws.bootstrap(law, table, n_resamples=40, seed=3)
    done = [u.done for u in seen if u.task.startswith("bootstrap")]
    assert done[0] == 0 and done[-1] == 40 and done == sorted(done) and len(done) > 5
    quiet = laws.bootstrap(law, table, n_resamples=40, seed=3)  # no reporter: nothing reported
    pd.testing.assert_frame_equal(boot.samples, quiet.samples)


def test_report_without_a_reporter_does_nothing() -> None:
    report("nothing", 1, 2)  # must not raise or print


def _run_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run the installed command with stderr on a pseudo-terminal; return (exit code, what the
    terminal showed)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    process = subprocess.Popen([str(SCALINGLAB), *args], stdout=subprocess.DEVNULL,
                               stderr=slave, env=env)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return process.wait(timeout=120), shown.decode(errors="replace")


@pytest.mark.skipif(not SCALINGLAB.exists(), reason="needs the installed scalinglab command")
def test_a_person_at_a_terminal_sees_progress_and_a_script_does_not(tmp_path: Path) -> None:
    data = str(_grid(tmp_path / "grid.csv"))
    code, shown = _run_on_a_terminal(["fit", data, "--bootstrap", "300"])
    assert code == 0 and "bootstrap (chinchilla)" in shown
    code, shown = _run_on_a_terminal(["fit", data, "--bootstrap", "300", "--json"])
    assert code == 0 and "bootstrap (chinchilla)" not in shown  # --json: silent
    piped = subprocess.run([str(SCALINGLAB), "fit", data, "--bootstrap", "300"],
                           capture_output=True, text=True, check=True)
    assert "bootstrap (chinchilla)" not in piped.stderr  # not a terminal: silent
