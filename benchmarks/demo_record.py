"""Record a finished demo's numbers in docs/benchmarks.md (the "demo" section).

    time make demo                                      # writes demo/demo.json
    .venv/bin/python benchmarks/demo_record.py demo/demo.json

The numbers are the demo's own (its wall time, backtest, fitted exponents and the
transformer/LSTM multiplier); this script only formats them, with the load average it sees.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script too

from benchmarks._record import record_section  # noqa: E402
from scalinglab.analyses.fitted import FORMULAS  # noqa: E402


def _span(values: list[float] | None) -> str:
    return f"[{values[0]:.4g}, {values[1]:.4g}]" if values else ""


def render(data: dict, command: str) -> str:
    bt = data["backtest"]
    if "verdict" not in bt:  # a demo.json written before the verdict was recorded
        met = bt["are"] < 0.03 and bt["inside_interval"]
        bt["verdict"] = (f"the backtest {'met' if met else 'MISSED'} its target (error under 3% "
                         "and the measured loss inside the 95% interval)")
    lines = [
        f"## The demo (`{data['mode']}` mode)",
        "",
        f"Command: `{command}` ({platform.machine()}, {os.cpu_count()} logical cores). "
        f"Wall time of `scalinglab demo` itself: **{data['seconds']:.0f} s** "
        f"({data['seconds'] / 60:.1f} min), sweep, fits, backtest run and report included.",
        "",
        f"Runs: {', '.join(f'{n} {family}' for family, n in data['runs'].items())}; "
        "non-embedding sizes "
        + ", ".join(f"{f} {lo:.3g}-{hi:.3g}" for f, (lo, hi) in data["sizes"].items()) + ".",
        "",
        "**Backtest** (the pre-registered rule of docs/demo.md: fit the sweep's transformer runs "
        "in the fit regime, then train the compute-optimal model for the stated multiple of the "
        "largest fitted run's compute):",
        "",
        "| fitted up to | backtest run | N (non-emb.) | D | predicted [95%] | measured | error |",
        "|---:|---:|---:|---:|---|---:|---:|",
        f"| {bt['fit_max_flops']:.3g} FLOPs | {bt['flops']:.3g} FLOPs "
        f"({bt['compute_multiple']:.1f}x) | {bt['params_nonembedding']:.4g} | {bt['tokens']:.3g} "
        f"| {bt['predicted']:.4f} {_span(bt['interval'])} | {bt['measured']:.4f} | "
        f"{100 * bt['are']:.2f}% ({'inside' if bt['inside_interval'] else 'outside'} the "
        "interval) |",
        "",
        *([f"The same fit also predicts the {bt['held_out_sweep_rows']} held-out rows of the "
           f"largest sweep size: median ARE {100 * bt['held_out_median_are']:.2f}%."]
          if bt.get("held_out_sweep_rows") else []),
        "",
        f"Backtest: {bt.get('verdict', '')}. Law: `{bt['fit']['law']}` "
        f"({FORMULAS.get(bt['fit']['law'], '')}), {bt['fit'].get('selection', '')}; fitted on "
        f"{bt['fit']['n_points']} final losses; the interval is for a measured run: "
        f"{((bt['fit'].get('bootstrap') or {}).get('noise') or {}).get('text', '')}.",
        "",
        f"Accounting: {(data.get('convention') or {}).get('description', '')}.",
        "",
        "**Fitted laws** (95% intervals from a bootstrap that keeps the design; a parameter "
        "whose interval is wider than the identifiability range reads \"not identified\"):",
        "",
        "| law | parameters |",
        "|---|---|",
    ]
    for label, text in data["param_text"].items():
        lines.append(f"| {label} | {text} |")
    lines += ["", "**Verdicts**:", ""]
    lines += [f"- {key}: {text}" for key, text in data["verdicts"].items()]
    lines += ["", "**Compute-optimal allocation**:", "", "| approach | N_opt ∝ C^a | D_opt ∝ C^b |",
              "|---|---|---|"]
    for name, allocation in data["allocations"].items():
        spans = allocation.get("intervals", {})
        lines.append(f"| {name} | {allocation['n_opt_exponent']:.3f} "
                     f"{_span(spans.get('n_opt_exponent'))} | {allocation['d_opt_exponent']:.3f} "
                     f"{_span(spans.get('d_opt_exponent'))} |")
    if data.get("transformer_vs_lstm"):
        lines += ["", f"**Transformer vs LSTM**: {data['transformer_vs_lstm']['summary']}."]
    if data.get("transformer_vs_lstm_equal_tokens"):
        lines += ["", f"**{data['transformer_vs_lstm_equal_tokens']['summary']}**."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_json", type=Path, help="demo.json written by `scalinglab demo`")
    parser.add_argument("--command", default="time make demo", help="the command that ran it")
    parser.add_argument("--section", default="demo", help="the docs/benchmarks.md section")
    args = parser.parse_args()
    data = json.loads(args.demo_json.read_text())
    text = render(data, args.command)
    print(text)
    record_section(args.section, text)


if __name__ == "__main__":
    main()
