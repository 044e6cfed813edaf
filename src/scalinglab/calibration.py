"""Are the lab's intervals honest? Coverage on synthetic sweeps drawn from a known law.

An interval is honest only if it is calibrated (science.md, section 3): on data drawn from a
known L(N, D) with the same design and noise as the real experiment, a 95% interval should
contain the truth in about 95% of repeats. `calibrate` draws `n_repeats` synthetic sweeps
(`SyntheticDesign`: the sizes, token counts and seeds of a real sweep; `NoiseModel`: seed noise
per run and evaluation noise per row, as measured on stdlib), fits each as the lab fits its own
runs, and counts how often each interval covers the truth:

- `a`: the allocation exponent beta / (alpha + beta) of the fitted law;
- `loss`: the law's predicted loss at the true compute-optimal run at `multiple` x the largest
  fitted compute (the run a backtest would train);
- `n_opt`: the compute-optimal N at that budget, in exact FLOPs (`decide.compute_optimal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab import decide, laws
from scalinglab.accounting import transformer_flops_per_token, transformer_params
from scalinglab.conventions import TokenCost
from scalinglab.laws.uncertainty import NoiseModel
from scalinglab.models.ladder import transformer_shape

QUANTITIES = ("a", "loss", "n_opt")
INTERVAL_KINDS = ("percentile", "basic")


@dataclass(frozen=True)
class SyntheticDesign:
    """Transformer sizes (non-embedding N), the token counts each size's branches end at, and
    how many seeds the `replicated` smallest sizes get (the others get one)."""

    sizes: tuple[float, ...]
    tokens: tuple[float, ...]
    n_seeds: int = 1
    replicated: int = 0
    vocab_size: int = 256
    n_ctx: int = 128

    def to_dict(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "tokens": list(self.tokens), "n_seeds": self.n_seeds,
                "replicated": self.replicated, "vocab_size": self.vocab_size,
                "n_ctx": self.n_ctx}


def synthetic_sweep(truth: dict[str, float], design: SyntheticDesign, noise: NoiseModel,
                    rng: np.random.Generator) -> pd.DataFrame:
    """A measurements table drawn from Chinchilla's law `truth` (on non-embedding N), with each
    run's rows sharing one seed offset, exact parameter and FLOP counts of ladder shapes."""
    rows = []
    for index, target in enumerate(design.sizes):
        shape = transformer_shape(float(target))
        counts = transformer_params(shape.n_layer, shape.d_model, design.vocab_size,
                                    design.n_ctx)
        per_token = transformer_flops_per_token(shape.n_layer, shape.d_model,
                                                design.vocab_size, design.n_ctx)
        seeds = design.n_seeds if index < design.replicated else 1
        for seed in range(seeds):
            offset = rng.normal(0.0, noise.run_sd)
            for tokens in design.tokens:
                mean = (truth["E"] + truth["A"] / counts.nonembedding ** truth["alpha"]
                        + truth["B"] / tokens ** truth["beta"])
                rows.append({
                    "run": f"n{counts.nonembedding}-s{seed}", "family": "transformer",
                    "seed": seed, "params": float(counts.total),
                    "params_nonembedding": float(counts.nonembedding), "tokens": float(tokens),
                    "flops": per_token * tokens, "final": True,
                    "loss": mean * np.exp(offset + rng.normal(0.0, noise.row_sd)),
                })
    return pd.DataFrame(rows)


@dataclass
class Calibration:
    """Coverage of each quantity's interval over the repeats, with the per-repeat records."""

    level: float
    method: str
    interval: str
    design: SyntheticDesign
    noise: NoiseModel
    truth: dict[str, float]
    records: pd.DataFrame = field(repr=False)  # one row per repeat: point, lo, hi per quantity

    def coverage(self, kind: str | None = None) -> dict[str, float]:
        """Fraction of repeats whose interval (`kind`: the calibrated one by default, or the
        other of `INTERVAL_KINDS`, computed from the same resamples) covers the truth."""
        suffix = "" if kind in (None, self.interval) else f"_{kind}"
        out = {}
        for q in QUANTITIES:
            inside = (self.records[f"{q}_lo{suffix}"] <= self.records[f"{q}_true"]) & (
                self.records[f"{q}_true"] <= self.records[f"{q}_hi{suffix}"])
            out[q] = float(inside.mean())
        return out

    def median_width(self) -> dict[str, float]:
        """Median interval width relative to the truth (a: absolute width)."""
        r = self.records
        return {"a": float((r["a_hi"] - r["a_lo"]).median()),
                "loss": float(((r["loss_hi"] - r["loss_lo"]) / r["loss_true"]).median()),
                "n_opt": float((r["n_opt_hi"] / r["n_opt_lo"]).median())}

    def to_dict(self) -> dict[str, Any]:
        other = [k for k in INTERVAL_KINDS if k != self.interval][0]
        return {"level": self.level, "method": self.method, "interval": self.interval,
                "n_repeats": len(self.records), "coverage": self.coverage(),
                f"coverage_{other}": self.coverage(other),
                "median_width": self.median_width(), "design": self.design.to_dict(),
                "noise": self.noise.to_dict(), "truth": dict(self.truth),
                "failed_resamples": int(self.records["n_failed"].sum())}


def truth_targets(truth: dict[str, float], design: SyntheticDesign, multiple: float,
                  cost: TokenCost) -> dict[str, float]:
    """The true a, and the true optimum (N, D, loss) at `multiple` x the design's largest
    compute."""
    law = laws.get_law("chinchilla", params_column="params_nonembedding")
    law.params_ = dict(truth)
    shape = transformer_shape(float(max(design.sizes)))
    per_token = transformer_flops_per_token(shape.n_layer, shape.d_model, design.vocab_size,
                                            design.n_ctx)
    budget = multiple * per_token * max(design.tokens)
    best = decide.compute_optimal(law, budget, cost)
    return {"a": truth["beta"] / (truth["alpha"] + truth["beta"]), "budget": budget,
            "n_opt": best["n_params"], "tokens": best["tokens"], "loss": best["loss"]}


def calibrate(truth: dict[str, float], design: SyntheticDesign, noise: NoiseModel,
              n_repeats: int = 200, n_resamples: int = 200, seed: int = 0,
              method: str = "auto", interval: str = "basic", multiple: float = 4.0,
              level: float = 0.95, quantities: Sequence[str] = QUANTITIES) -> Calibration:
    """Fit `n_repeats` synthetic sweeps and record each interval against the truth."""
    cost = TokenCost(exact=True, params_column="params_nonembedding",
                     vocab_size=design.vocab_size, n_ctx=design.n_ctx)
    target = truth_targets(truth, design, multiple, cost)
    point = {"params_nonembedding": [target["n_opt"]], "tokens": [target["tokens"]]}
    rng = np.random.default_rng(seed)
    records = []
    for repeat in range(n_repeats):
        table = synthetic_sweep(truth, design, noise, rng)
        law = laws.get_law("chinchilla", params_column="params_nonembedding").fit(table)
        law.accounting = {"convention": "exact-nonembedding", **cost.to_dict()}
        boot = laws.bootstrap(law, table, n_resamples=n_resamples, seed=seed * 100_003 + repeat,
                              method=method)
        record: dict[str, Any] = {"repeat": repeat, "n_failed": boot.n_failed,
                                  "noise_source": boot.noise.source if boot.noise else "",
                                  "a_true": target["a"], "a": law.derived()["n_opt_exponent"],
                                  "loss_true": target["loss"],
                                  "loss": float(law.predict(point)[0]),
                                  "n_opt_true": target["n_opt"]}
        a_values = np.array([r["beta"] / (r["alpha"] + r["beta"])
                             for r in boot.samples.to_dict("records")])
        losses = boot.predictions(point)
        if "n_opt" in quantities:
            record["n_opt"] = decide.compute_optimal(law, target["budget"], cost)["n_params"]
            n_opts = np.array([_n_opt_or_nan(resampled, target["budget"], cost)
                               for resampled in boot.laws()])
        for kind in INTERVAL_KINDS:
            boot.interval = kind
            suffix = "" if kind == interval else f"_{kind}"
            lo, hi = boot.interval_of(a_values, record["a"], level)
            record.update({f"a_lo{suffix}": float(lo), f"a_hi{suffix}": float(hi)})
            lo, hi = boot.log_interval(losses, np.array([record["loss"]]), level)
            record.update({f"loss_lo{suffix}": float(lo[0]), f"loss_hi{suffix}": float(hi[0])})
            if "n_opt" in quantities:
                lo, hi = boot.log_interval(n_opts, record["n_opt"], level)
                record.update({f"n_opt_lo{suffix}": float(lo), f"n_opt_hi{suffix}": float(hi)})
            else:
                record.update({"n_opt": np.nan, f"n_opt_lo{suffix}": np.nan,
                               f"n_opt_hi{suffix}": np.nan})
        records.append(record)
    return Calibration(level, method, interval, design, noise, dict(truth),
                       pd.DataFrame(records))


def _n_opt_or_nan(law: Any, budget: float, cost: TokenCost) -> float:
    try:
        return float(decide.compute_optimal(law, budget, cost)["n_params"])
    except (ValueError, ArithmeticError):
        return float("nan")
