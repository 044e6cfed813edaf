"""What a fit reports about itself, in the spirit of SciPy's OptimizeResult: it never pretends.

A type of its own so that the law contract (`laws.base`) and the fitting machine
(`laws.fitting`) both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class FitResult:
    """The optimiser's account of one fit.

    `converged`: the best local run met its tolerances (L-BFGS-B reported success).
    `objective`: the summed Huber loss at the best parameters.
    `n_starts`: local optimisations run; `n_starts_at_best`: how many of them ended within
    `SAME_OPTIMUM_RTOL` of the best objective (1 means only one basin-hopper found it).
    `n_screened`: starting points whose objective was evaluated to pick the `n_starts`.
    `warnings`: what a reader must know before trusting the parameters even when the optimiser
    converged: a parameter at a bound, E at the floor, too few points per parameter.
    """

    converged: bool
    objective: float
    n_starts: int
    n_starts_at_best: int
    message: str
    n_points: int
    n_screened: int = 0
    warnings: tuple[str, ...] = ()

    def with_warnings(self, warnings: list[str] | tuple[str, ...]) -> FitResult:
        return replace(self, warnings=tuple(self.warnings) + tuple(warnings))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["warnings"] = list(self.warnings)
        return out
