"""Packing benchmark: the local executor on a mixed sweep vs the same runs one after another.

    .venv/bin/python benchmarks/sweep_packing.py [--quick]

A mixed sweep of transformers from 1e4 to 1e6 non-embedding parameters runs twice, end to end
through `run_sweep` (worker start-up, evaluations and store writes included), in one process:

- packed: the local executor's default, one thread per small run, runs side by side on all cores;
- sequential: the same runs one after another, each with all cores (`threads = cores`).

Aggregate tokens/s = tokens trained by all runs / wall seconds. The target on the reference
machine (2 cores) is packed >= 1.35x sequential: two 1-thread processes beat one 2-thread
process by 1.36-1.50x below 1e6 parameters there. The section written to docs/benchmarks.md
records the load average, since on a shared machine the numbers mean little.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._record import record_section  # noqa: E402
from scalinglab.sweep import plan as planning  # noqa: E402
from scalinglab.sweep.design import geometric, parse_design  # noqa: E402
from scalinglab.sweep.driver import run_sweep  # noqa: E402

FULL = {"params": {"min": 1e4, "max": 1e6, "count": 5}, "tokens": [1e5, 2e5]}
QUICK = {"params": {"min": 1e4, "max": 1e6, "count": 3}, "tokens": [1e4, 2e4]}


def measure(grid: dict, cores: int, threads: int | None, folder: Path) -> dict[str, float]:
    """Run the sweep into a fresh store; return its runs, tokens and wall seconds."""
    design = parse_design({"name": f"packing-{threads or 'auto'}", "kind": "grid",
                           "families": ["transformer"], "threads": threads, **grid})
    plans = planning.plan_sweep(design, cores)
    tokens = sum(p.tokens for p in plans)
    began = time.perf_counter()
    outcome = run_sweep(design, folder / f"{design.name}.db", workers=cores)
    seconds = time.perf_counter() - began
    if outcome.counts != {"done": len(plans)}:
        raise SystemExit(f"{design.name}: runs did not all finish: {outcome.counts}")
    return {"runs": len(plans), "tokens": tokens, "seconds": seconds,
            "tokens_per_second": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smaller sweep (under a minute on a quiet machine)")
    args = parser.parse_args()
    grid = QUICK if args.quick else FULL
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        packed = measure(grid, cores, None, Path(folder))
        print(f"packed:     {packed['tokens_per_second']:,.0f} tokens/s "
              f"({packed['seconds']:.1f} s)")
        sequential = measure(grid, cores, cores, Path(folder))
        print(f"sequential: {sequential['tokens_per_second']:,.0f} tokens/s "
              f"({sequential['seconds']:.1f} s)")
    load_after = os.getloadavg()[0]
    ratio = packed["tokens_per_second"] / sequential["tokens_per_second"]
    rows = "\n".join(
        f"| {mode} | {threads} | {m['seconds']:.1f} | {m['tokens_per_second']:,.0f} |"
        for mode, threads, m in (("packed (default)", "1, side by side", packed),
                                 ("sequential", f"{cores}, one at a time", sequential)))
    print(f"packed / sequential = {ratio:.2f}x (target >= 1.35x on 2 cores)")

    sizes = geometric(grid["params"]["min"], grid["params"]["max"],
                               grid["params"]["count"])
    command = "python benchmarks/sweep_packing.py" + (" --quick" if args.quick else "")
    record_section("sweep", f"""
### Sweep packing (local executor)

`{command}` — {packed['runs']} transformer runs (N = {', '.join(f'{n:.3g}' for n in sizes)};
D = {', '.join(f'{d:.3g}' for d in grid['tokens'])}), end to end through `run_sweep` on
{cores} cores, in one run. Load average {load_before:.1f} before, {load_after:.1f} after
(a number above 0.5 means other work shared the cores and the ratio is not trustworthy).

| mode | threads per run | wall s | aggregate tokens/s |
|---|---|---|---|
{rows}

Packed / sequential: **{ratio:.2f}x** (target >= 1.35x on the 2-core reference machine).
""")


if __name__ == "__main__":
    main()
