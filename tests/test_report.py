"""The report: figures, the self-contained HTML page, its files, and the `report` command.

Built on (a) synthetic learning curves from a known Chinchilla law (two families, two corpora,
with loss by position), (b) the published Chinchilla runs, and checked in a real headless
browser (Debian's chromium) for a page that loads, shows every figure and logs no errors.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")


CHINCHILLA_CSV = (
    Path(__file__).parents[2] / "shared" / "data" / "chinchilla_epoch" / "svg_extracted_data.csv"
)
# The law the synthetic runs follow: Chinchilla-like exponents, coefficients for small models.
TRUE_LAW = {"E": 1.8, "A": 40.0, "B": 150.0, "alpha": 0.34, "beta": 0.37}
# How much worse an LSTM is: its A and B are multiplied by this (a constant compute penalty).
LSTM_PENALTY = 1.6
N_RESAMPLES = 8  # few resamples: the tests check plumbing and shape, not interval widths


def synthetic_measurements(seed: int = 0) -> pd.DataFrame:
    """Learning curves from TRUE_LAW: 9 transformer and 4 LSTM sizes, 11 geometric evals each.

    Sizes and eval points sit on a quarter-decade lattice, so equal-compute rows of several sizes
    exist (IsoFLOP profiles). A second corpus ('digits') repeats part of the transformer sweep
    with a lower entropy and a higher penalty, so the modalities figure has two corpora. Noise
    is 0.5% multiplicative.
    """
    rng = np.random.default_rng(seed)
    rows = []
    sweeps = [("transformer", "stdlib", 10 ** np.arange(5.0, 7.01, 0.25), 1.0, TRUE_LAW["E"]),
              ("lstm", "stdlib", 10 ** np.arange(5.0, 6.51, 0.5), LSTM_PENALTY, TRUE_LAW["E"]),
              ("transformer", "digits", 10 ** np.arange(5.0, 6.76, 0.25), 1.3, 1.2)]
    for family, corpus, sizes, penalty, entropy in sweeps:
        for n in sizes:
            run = f"{corpus}-{family}-{n:.2e}"
            for d in n * 10 ** np.arange(-0.25, 2.26, 0.25):
                loss = (entropy + penalty * TRUE_LAW["A"] / n ** TRUE_LAW["alpha"]
                        + penalty * TRUE_LAW["B"] / d ** TRUE_LAW["beta"])
                rows.append({
                    "run": run, "family": family, "corpus": corpus,
                    "params": 1.2 * n, "params_nonembedding": n, "tokens": d,
                    "flops": 6.0 * n * d, "loss": loss * np.exp(rng.normal(0.0, 0.005)),
                })
    return pd.DataFrame(rows)


def synthetic_positions(table: pd.DataFrame) -> pd.DataFrame:
    """Loss by context position: transformers keep improving, LSTMs plateau after ~100 tokens."""
    rows = []
    positions = np.arange(1, 513)
    for run, group in table[table["corpus"] == "stdlib"].groupby("run"):
        family, final = group["family"].iloc[0], group["loss"].min()
        if family == "transformer":
            loss = final * 0.9 + 1.5 * positions**-0.5
        else:
            loss = final * 0.9 + 1.5 * np.minimum(positions, 100) ** -0.5
        rows += [{"run": run, "position": p, "loss": v} for p, v in zip(positions, loss,
                                                                        strict=True)]
    return pd.DataFrame(rows)
