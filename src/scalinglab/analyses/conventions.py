"""How much of a compute-optimal exponent is bookkeeping: the same runs under each convention.

Porian et al. (2024) reconciled Kaplan's N_opt ~ C^0.73 with Chinchilla's ~C^0.5 largely by
accounting: counting the output layer's parameters and FLOPs, which dominate small models. The
lab repeats that ablation on its own runs: one `analyses.study` per convention (N non-embedding
with C = 6ND as Kaplan; exact FLOPs with non-embedding or all parameters; 6ND with all
parameters), each giving Approaches 1-3's exponent a with its interval and verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from scalinglab.analyses.study import exponents, study
from scalinglab.conventions import CONVENTIONS

ABLATION = ("kaplan", "exact-nonembedding", "exact", "6nd")


@dataclass
class ConventionRow:
    """One convention's exponents: {approach: (a, interval or None)}, and what could not run."""

    name: str
    description: str
    exponents: dict[str, tuple[float, tuple[float, float] | None]]
    verdict: str
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"convention": self.name, "description": self.description,
                "exponents": {k: {"a": v, "interval": None if i is None else list(i)}
                              for k, (v, i) in self.exponents.items()},
                "verdict": self.verdict, "skipped": dict(self.skipped)}


@dataclass
class Ablation:
    rows: list[ConventionRow]

    def spread(self, approach: str = "Approach 3") -> float | None:
        """Largest minus smallest a of one approach across conventions (the bookkeeping)."""
        values = [r.exponents[approach][0] for r in self.rows if approach in r.exponents]
        return max(values) - min(values) if len(values) >= 2 else None

    def to_dict(self) -> dict[str, Any]:
        return {"conventions": [r.to_dict() for r in self.rows],
                "spread": {a: self.spread(a) for a in ("Approach 1", "Approach 2", "Approach 3")}}


def convention_ablation(table: pd.DataFrame, conventions: Sequence[str] = ABLATION,
                        n_resamples: int = 100, seed: int = 0) -> Ablation:
    """Approaches 1-3 on `table` under each convention (same rows, same seed)."""
    rows = []
    for name in conventions:
        result = study(table, n_resamples=n_resamples, seed=seed, convention_name=name)
        keep = ("l_nd", "l_nd allocation", "l_c", "isoflop")
        rows.append(ConventionRow(name, CONVENTIONS[name].description, exponents(result),
                                  result.verdicts.get("allocation", ""),
                                  {k: v for k, v in result.skipped.items() if k in keep}))
    return Ablation(rows)
