"""Which fitted parameters the data pin down, said in words instead of printed as intervals.

A design can leave a parameter free: E with one decade of N, A and alpha that move together,
an exponent at its bound. Printing such a parameter with an interval that spans seven orders
of magnitude invites a reader to use it; the lab says "not identified by this data" instead and
reports the quantities the data do pin down (the allocation exponent, a predicted loss, N_opt).

The stated ranges (science.md, section 3): a positive scale (E, A, B, X0, Nc, Dc) is identified
when its 95% interval spans at most `MAX_SCALE_DECADES` decades; an exponent when its interval
is at most `MAX_EXPONENT_WIDTH` wide. A parameter the fit left at a bound or at the floor
(`Law.fit_warnings`) is not identified, whatever its interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_SCALE_DECADES = 2.0
MAX_EXPONENT_WIDTH = 0.5


@dataclass(frozen=True)
class Identification:
    """Whether one parameter is identified, and if not, why (one clause)."""

    name: str
    identified: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"identified": self.identified, "reason": self.reason}


def identify(
    law: Any, intervals: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, Identification]:
    """Identification of each parameter of a fitted `law` from its 95% `intervals`.

    Without intervals only the fit's own warnings (bounds, floor) decide.
    """
    warnings = law.result_.warnings if getattr(law, "result_", None) is not None else ()
    out = {}
    for name in law.param_names:
        reason = _warning_reason(name, warnings)
        if not reason and intervals and name in intervals:
            reason = _interval_reason(name in law.log_params, *intervals[name])
        out[name] = Identification(name, not reason, reason)
    return out


def _warning_reason(name: str, warnings: tuple[str, ...]) -> str:
    for warning in warnings:
        if warning.startswith(f"{name} = ") and ("bound" in warning or "floor" in warning):
            return "at its bound" if "bound" in warning else "at the floor (no irreducible loss)"
    return ""


def _interval_reason(positive: bool, lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "its interval is not finite"
    if positive:
        if lo <= 0:
            return "its interval reaches zero"
        decades = math.log10(hi / lo)
        if decades > MAX_SCALE_DECADES:
            return f"its 95% interval spans {decades:.1f} decades (> {MAX_SCALE_DECADES:g})"
        return ""
    width = hi - lo
    if width > MAX_EXPONENT_WIDTH:
        return f"its 95% interval is {width:.2f} wide (> {MAX_EXPONENT_WIDTH:g})"
    return ""


def not_identified_sentence(identification: Mapping[str, Identification]) -> str:
    """"A, alpha not identified by this data (...)" or "" when every parameter is."""
    missing = [i for i in identification.values() if not i.identified]
    if not missing:
        return ""
    parts = "; ".join(f"{i.name}: {i.reason}" for i in missing)
    names = ", ".join(i.name for i in missing)
    return f"{names} not identified by this data ({parts})"


def interval_reason(lo: float, hi: float, positive: bool = False) -> str:
    """Why an interval is too wide to print (a scale when `positive`, else an exponent or any
    derived quantity on a linear scale), or "" when it is within the stated range."""
    return _interval_reason(positive, lo, hi)
