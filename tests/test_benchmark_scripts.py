"""Every benchmark script the docs name exists and starts as the docs run it (`--help`), so a
recorded number always names a command that can regenerate it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
NAMED = sorted({name for doc in ("benchmarks.md", "demo.md", "reproductions.md")
                for name in re.findall(r"benchmarks/([a-z_]+\.py)",
                                       (ROOT / "docs" / doc).read_text())})


def test_the_docs_name_benchmark_scripts() -> None:
    assert "install_size.py" in NAMED and "calibration.py" in NAMED


@pytest.mark.parametrize("script", NAMED)
def test_a_named_benchmark_script_exists_and_starts(script: str) -> None:
    path = ROOT / "benchmarks" / script
    assert path.exists(), f"docs name benchmarks/{script}, which does not exist"
    started = subprocess.run([sys.executable, str(path), "--help"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr[-1500:]
