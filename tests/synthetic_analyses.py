"""Synthetic measurements with known answers, shared by the analyses tests.

Learning curves follow a Chinchilla law with alpha = beta, whose compute envelope is exactly
L(C) = E + (C0/C)^a with a = alpha / 2. A family with compute penalty k trains like the base
family at N/sqrt(k) parameters and D/sqrt(k) tokens: its envelope is the base envelope at C/k,
so the multiplier C_B(L)/C_A(L) is k at every loss. Rows are kept where the compute-optimal size
lies well inside the sizes trained, so the envelope is not bent by the smallest or largest model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LAW = {"E": 1.8, "A": 40.0, "B": 150.0, "alpha": 0.34, "beta": 0.34}
FLOPS_RANGE = (1e13, 1e16)


def curves(family: str, penalty: float = 1.0, seed: int = 0, law: dict | None = None,
           corpus: str = "stdlib", noise: float = 0.005, step_decades: float = 0.125
           ) -> pd.DataFrame:
    """Learning curves of one family: sizes 1e4..1e8, evaluations every `step_decades`."""
    law = {**LAW, **(law or {})}
    rng = np.random.default_rng(seed)
    shrink = np.sqrt(penalty)
    rows = []
    for n in 10 ** np.arange(4.0, 8.01, step_decades):
        for d in n * 10 ** np.arange(-1.0, 3.01, step_decades):
            flops = 6.0 * n * d
            if not FLOPS_RANGE[0] <= flops <= FLOPS_RANGE[1]:
                continue
            loss = (law["E"] + law["A"] / (n / shrink) ** law["alpha"]
                    + law["B"] / (d / shrink) ** law["beta"])
            rows.append({"run": f"{corpus}-{family}-{n:.3g}", "family": family,
                         "corpus": corpus, "params": n, "params_nonembedding": n, "tokens": d,
                         "flops": flops, "loss": loss * np.exp(rng.normal(0.0, noise)),
                         # Each row is the law at (N, D): an annealed model, so marked final
                         # (an unmarked curve would stand for its run by its last row only).
                         "final": True})
    return pd.DataFrame(rows)
