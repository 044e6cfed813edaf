"""Record the pre-registered backtest on fresh seeds in docs/benchmarks.md ("demo-seeds").

    scalinglab demo --seed 1 --out /tmp/seed1     # and 2, 3: each writes demo.json
    .venv/bin/python benchmarks/demo_seeds.py /tmp/seed1/demo.json /tmp/seed2/demo.json ...

One row per demo run, misses included: the law chosen, the run it trained, the prediction with
its 95% interval (and the interval's width relative to the prediction), the measured loss, and
whether the target (error under 3%, measured loss inside the interval) was met.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script too

from benchmarks._record import record_section  # noqa: E402

HEADER = ("| seed | mode | wall s | law | fitted up to | run (N, D) | multiple | predicted [95%] "
          "| width | measured | error | inside | target | Approach 2 budgets |")


def row(data: dict, seed: str) -> str:
    bt = data["backtest"]
    lo, hi = bt["interval"]
    isoflop = (data.get("allocations") or {}).get("isoflop") or {}
    return (f"| {seed} | {data['mode']} | {data['seconds']:.0f} | {bt['fit']['law']} | "
            f"{bt['fit_max_flops']:.3g} | {bt['params_nonembedding']:.3g}, {bt['tokens']:.3g} | "
            f"{bt['compute_multiple']:.1f}x | {bt['predicted']:.4f} [{lo:.4f}, {hi:.4f}] | "
            f"{100 * (hi - lo) / bt['predicted']:.1f}% | {bt['measured']:.4f} | "
            f"{100 * bt['are']:.2f}% | {'yes' if bt['inside_interval'] else 'NO'} | "
            f"{'met' if bt['met_target'] else 'MISSED'} | {isoflop.get('n_budgets', 0)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_json", type=Path, nargs="+", help="demo.json of each seed's run")
    parser.add_argument("--seeds", help="comma-separated seeds, in the order of the files")
    parser.add_argument("--intro", default="", help="a paragraph before the table")
    args = parser.parse_args()
    seeds = args.seeds.split(",") if args.seeds else [p.parent.name for p in args.demo_json]
    rows = [row(json.loads(p.read_text()), s) for p, s in zip(args.demo_json, seeds, strict=True)]
    rule = "|" + "|".join("---" for _ in range(HEADER.count("|") - 1)) + "|"
    text = "\n".join(["## The pre-registered backtest on fresh seeds", "", args.intro, "",
                      HEADER, rule, *rows])
    print(text)
    record_section("demo-seeds", text)


if __name__ == "__main__":
    main()
