"""How far a prediction reaches beyond the runs a law was fitted on, and when to refuse.

A fit records the ranges it saw (`FittedRange`, saved in FIT.json): model size N in the law's
own convention, tokens D, compute C in the fit's convention, and tokens per parameter D/N. A
prediction or plan at (N, D) then states how far it extrapolates, as "extrapolating K x beyond
the largest fitted compute (N x a, D x b)" whenever K > 1, and is refused beyond
`MAX_EXTRAPOLATION` (in compute, either way) unless the user allows it: a power law fitted on
two decades says little about six more, and its interval, conditional on the form, says less
than it seems to (science.md, section 7). 1e4 is the reach of the published practice: Hoffmann
et al. planned Chinchilla at about 1e3 x their largest IsoFLOP budget, and Kaplan et al.
extrapolated their L(C) about 1e3-1e4 x beyond their runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError

MAX_EXTRAPOLATION = 1e4  # in compute, beyond the largest (or below the smallest) fitted run


@dataclass(frozen=True)
class FittedRange:
    """The span of the rows a law was fitted on: (min, max) of N, D, C and D/N."""

    params_column: str
    params: tuple[float, float]
    tokens: tuple[float, float]
    flops: tuple[float, float]
    tokens_per_param: tuple[float, float]
    n_rows: int

    @classmethod
    def of(cls, table: pd.DataFrame, params_column: str = "params") -> FittedRange | None:
        """The range of `table`'s rows, or None when it lacks N, D or C (a one-variable fit)."""
        columns = (params_column, "tokens", "flops")
        if any(c not in table.columns for c in columns) or table.empty:
            return None
        values = {c: pd.to_numeric(table[c], errors="coerce").to_numpy(float) for c in columns}
        if not all(np.isfinite(v).all() for v in values.values()):
            return None
        ratio = values["tokens"] / values[params_column]

        def span(v: np.ndarray) -> tuple[float, float]:
            return float(v.min()), float(v.max())

        return cls(params_column, span(values[params_column]), span(values["tokens"]),
                   span(values["flops"]), span(ratio), len(table))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Any, source: str = "fit") -> FittedRange:
        try:
            return cls(str(data["params_column"]), *(
                _pair(data[k]) for k in ("params", "tokens", "flops", "tokens_per_param")),
                int(data["n_rows"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ScalinglabError(f"{source}: 'fitted_range' is malformed ({error})") from None


def _pair(value: Any) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(f"need 0 < min <= max, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class Extrapolation:
    """How far one point lies beyond the fitted range (factors above 1 mean beyond the max)."""

    compute_factor: float  # C / largest fitted C
    params_factor: float  # N / largest fitted N
    tokens_factor: float  # D / largest fitted D
    below_factor: float  # smallest fitted C / C (above 1: below the fitted range)

    @property
    def beyond(self) -> bool:
        return self.compute_factor > 1.0

    def sentence(self) -> str:
        """The warning printed with the prediction, or "" inside the fitted compute."""
        if self.below_factor > 1.0:
            return (f"{_x(self.below_factor)} below the smallest fitted compute "
                    f"(N x {self.params_factor:.3g}, D x {self.tokens_factor:.3g} of the largest)")
        if not self.beyond:
            return ""
        return (f"extrapolating {_x(self.compute_factor)} beyond the largest fitted compute "
                f"(N x {self.params_factor:.3g}, D x {self.tokens_factor:.3g})")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _x(factor: float) -> str:
    return f"{factor:.3g}x"


def extrapolation(fitted: FittedRange, n_params: float, tokens: float,
                  flops: float) -> Extrapolation:
    """The factors of one point (N, D, C in the fit's convention) against `fitted`."""
    return Extrapolation(flops / fitted.flops[1], n_params / fitted.params[1],
                         tokens / fitted.tokens[1], fitted.flops[0] / flops)


def check_reach(reach: Extrapolation, allow: bool, limit: float = MAX_EXTRAPOLATION) -> None:
    """Refuse a point more than `limit` x beyond (or below) the fitted compute unless `allow`."""
    if allow:
        return
    if reach.compute_factor > limit:
        raise ScalinglabError(
            f"{reach.sentence()}: over the {limit:.0e}x limit (a fitted form says little that "
            "far out); give --allow-extrapolation to predict anyway")
    if reach.below_factor > limit:
        raise ScalinglabError(
            f"{reach.sentence()}: over the {limit:.0e}x limit below the fitted runs; "
            "give --allow-extrapolation to predict anyway")


def check_buys_a_model(n_params: float, tokens: float, compute: float) -> None:
    """A budget must buy at least one parameter and one token (else it is a typo)."""
    if not (n_params >= 1.0 and tokens >= 1.0):
        raise ScalinglabError(
            f"--compute {compute:g} buys a model of {n_params:.3g} parameters on {tokens:.3g} "
            "tokens: less than one of each; give a budget in FLOPs (e.g. 1e21)")
