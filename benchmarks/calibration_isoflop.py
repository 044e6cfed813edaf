"""Calibration of Approach 2's intervals: how often the 95% interval covers the true exponent.

    .venv/bin/python benchmarks/calibration_isoflop.py                # 200 repeats
    .venv/bin/python benchmarks/calibration_isoflop.py --repeats 30   # the test's size

Each repeat draws a fresh IsoFLOP sweep from a known law, L = E + A/N^alpha + B/D^beta with
Chinchilla's coefficients but alpha = 0.34, beta = 0.28 (so a = beta / (alpha + beta) = 0.4516,
not 0.5), the design of tests/test_laws_approaches.py: 7 budgets from 1e14 to 1e18 FLOPs, 9 sizes
geometric over 1.5 decades per budget, each grid shifted off the optimum by up to 0.4 decade,
D = C / (6N), 1% log-normal noise on the loss. It fits `laws.isoflop_fit`, takes
`laws.isoflop_intervals` (residual bootstrap keeping every budget and size) and counts how often
the interval holds the truth (a = 0.4516 for N_opt, 1 - a for D_opt). A calibrated 95% interval
covers the truth in about 95% of repeats (binomial sd over 200 repeats: 1.5 points).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scalinglab import laws  # noqa: E402

LAW = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
A_TRUE = LAW["beta"] / (LAW["alpha"] + LAW["beta"])
BUDGETS = np.geomspace(1e14, 1e18, 7)


def n_opt(compute: float) -> float:
    """Closed form for C = 6ND (Hoffmann et al. Eq. 4)."""
    g = (LAW["alpha"] * LAW["A"] / (LAW["beta"] * LAW["B"])) ** (1 / (LAW["alpha"] + LAW["beta"]))
    return g * (compute / 6.0) ** A_TRUE


def sweep(rng: np.random.Generator, noise: float) -> pd.DataFrame:
    """One synthetic IsoFLOP sweep: 7 budgets x 9 sizes, grids off-centre, D = C / (6N)."""
    rows = []
    for budget in BUDGETS:
        centre = n_opt(budget) * 10 ** rng.uniform(-0.4, 0.4)
        for n in centre * np.geomspace(10**-0.75, 10**0.75, 9):
            d = budget / (6.0 * n)
            loss = LAW["E"] + LAW["A"] / n ** LAW["alpha"] + LAW["B"] / d ** LAW["beta"]
            rows.append({"params": n, "tokens": d, "flops": budget,
                         "loss": loss * np.exp(rng.normal(0.0, noise))})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="synthetic sweeps to draw")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples each")
    parser.add_argument("--noise", type=float, default=0.01, help="log-normal sd of the loss")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    errors, covered_n, covered_d, lost, failed = [], 0, 0, 0, 0
    for repeat in range(args.repeats):
        table = sweep(np.random.default_rng([args.seed, repeat]), args.noise)
        fit = laws.isoflop_fit(table)
        boot = laws.isoflop_intervals(table, args.resamples, seed=repeat)
        lo, hi = boot.intervals["n_opt_exponent"]
        covered_n += lo <= A_TRUE <= hi
        lo, hi = boot.intervals["d_opt_exponent"]
        covered_d += lo <= 1 - A_TRUE <= hi
        errors.append(fit.n_exponent - A_TRUE)
        lost += boot.n_lost_budgets
        failed += boot.n_failed
    seconds = time.perf_counter() - start
    errors = np.array(errors)
    total = args.repeats * args.resamples
    print(f"{args.repeats} repeats x {args.resamples} resamples, noise {args.noise:.1%}, "
          f"true a = {A_TRUE:.4f}")
    print(f"coverage of the 95% interval: N_opt exponent {covered_n / args.repeats:.1%}, "
          f"D_opt exponent {covered_d / args.repeats:.1%}")
    print(f"N_opt exponent error: mean {errors.mean():+.4f}, sd {errors.std(ddof=1):.4f}, "
          f"max |error| {np.abs(errors).max():.4f}")
    print(f"resamples that lost a budget: {lost / total:.1%}; with no exponent: {failed}")
    print(f"time: {seconds:.1f} s")


if __name__ == "__main__":
    main()
