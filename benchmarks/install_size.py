"""Install size and time of the core wheel and of the full lock, side by side in one run.

    .venv/bin/python benchmarks/install_size.py            # prints and records the section

Builds the wheel once, then makes two fresh virtual environments: the core (the wheel, its
own dependencies pinned to requirements.lock) and the full one (what `make` installs: every
pin of requirements.lock, then the wheel). Times each `pip install` and measures each
environment's size on disk. pip's cache is used as it is on the machine (say whether it was
warm in the record): downloads are not what this compares.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script too

from benchmarks._record import record_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _install(venv: Path, args: list[str]) -> float:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    began = time.perf_counter()
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
                   check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-record", action="store_true", help="print only")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scalinglab-install-"))
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-build-isolation", "-w", str(work / "wheels"), str(ROOT)],
                       check=True)
        (wheel,) = (work / "wheels").glob("scalinglab-*.whl")
        lock = str(ROOT / "requirements.lock")
        core_s = _install(work / "core", ["-c", lock, str(wheel)])
        full_s = _install(work / "full", ["-r", lock])
        full_s += _install_more(work / "full", ["--no-deps", str(wheel)])
        core_mb, full_mb = _size_mb(work / "core"), _size_mb(work / "full")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    core = ("`pip install scalinglab` (fit, predict, plan, report, import of "
            "CSV/JSONL/W&B/HF/nanoGPT)")
    full = ("`make demo` / `make test`: requirements.lock (torch, ray, tensorboard, submitit, "
            "dev tools)")
    text = "\n".join([
        f"Command: `.venv/bin/python benchmarks/install_size.py` ({datetime.date.today()}, "
        "pip's\ncache warm, 2 cores). One run, both environments side by side.",
        "",
        "| install | what | pip install time | size on disk |",
        "|---|---|---|---|",
        f"| core | {core} | {core_s:.0f} s | {core_mb:.0f} MB |",
        f"| full | {full} | {full_s:.0f} s | {full_mb:.0f} MB |",
    ]) + "\n"
    print(text)
    if not options.no_record:
        record_section("install-size", "## Install size, core and full\n\n" + text)


def _install_more(venv: Path, args: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
                   check=True)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
