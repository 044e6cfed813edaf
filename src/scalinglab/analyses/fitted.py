"""A law fitted once, with its design-keeping bootstrap: the unit every analysis reports.

`fit_law` fits a `scalinglab.laws` law to the rows it describes and bootstraps it with a
resample that keeps the design; `FittedLaw` keeps the law, those rows, the 95% intervals, which
parameters are identified, and the law written with the papers' symbols (`L = E + (C0/C)^a`),
so a reader sees which points a law saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab import laws
from scalinglab.errors import ScalinglabError
from scalinglab.laws.identifiability import Identification, identify, not_identified_sentence

# Errors a fit on unsuitable data can raise; anything else is a bug and propagates.
FIT_ERRORS = (ScalinglabError, ValueError, ArithmeticError, np.linalg.LinAlgError)

FORMULAS = {
    "power": "L = ({x0}/{x})^{a}",
    "saturating": "L = E + ({x0}/{x})^{a}",
    "chinchilla": "L = E + A/N^α + B/D^β",
    "kaplan-nd": "L = [(Nc/N)^(aN/aD) + Dc/D]^aD",
    "broken-power": "L = E + b x^-c0 (1 + (x/d1)^(1/f1))^(-c1 f1)",
}
SYMBOLS = {"params": "N", "params_nonembedding": "N", "tokens": "D", "flops": "C",
           "position": "t"}


@dataclass
class FittedLaw:
    """One fitted law: the law, its data, intervals and derived numbers."""

    key: str
    label: str
    law: Any
    data: pd.DataFrame
    boot: Any | None = None
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    derived: dict[str, float] = field(default_factory=dict)
    derived_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    note: str = ""
    x_symbol: str = ""  # overrides the symbol of a one-variable law's x (t for position)
    identification: dict[str, Identification] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # analysis-specific results (JSON-ready)

    @property
    def warnings(self) -> tuple[str, ...]:
        result = getattr(self.law, "result_", None)
        return () if result is None else tuple(result.warnings)

    def not_identified(self) -> str:
        """"E, A not identified by this data (...)" or ""."""
        return not_identified_sentence(self.identification)

    @property
    def converged(self) -> bool:
        result = getattr(self.law, "result_", None)
        return bool(result is not None and result.converged)

    @property
    def objective(self) -> float | None:
        result = getattr(self.law, "result_", None)
        return None if result is None else float(result.objective)

    def formula(self) -> str:
        """The law written with the papers' symbols, e.g. `L = E + (N0/N)^a`."""
        name = self.law.name
        if name in ("power", "saturating"):
            x = self.x_symbol or SYMBOLS.get(self.law.x, "X")
            return FORMULAS[name].format(x0=f"{x}0", x=x, a="a")
        return FORMULAS.get(name, name)

    def param_text(self, names: list[str] | None = None) -> str:
        """`a = 0.34 [0.31, 0.37], E = 1.82 [1.77, 1.87]` for the named (or all) parameters."""
        values = {**self.law.params_, **self.derived}
        spans = {**self.intervals, **self.derived_intervals}
        shown = names or list(self.law.params_)
        parts = []
        for name in shown:
            if name not in values:
                continue
            label = display_name(name, self.law)
            if name == "X0" and self.x_symbol:
                label = f"{self.x_symbol}0"
            known = self.identification.get(name)
            if known is not None and not known.identified:
                parts.append(f"{label} not identified")
                continue
            text = f"{label} = {fmt(values[name])}"
            if name in spans:
                lo, hi = spans[name]
                text += f" [{fmt(lo)}, {fmt(hi)}]"
            parts.append(text)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the law's own description plus intervals and what it was fitted on."""
        out = dict(self.law.to_dict())
        out.update({
            "key": self.key,
            "label": self.label,
            "formula": self.formula(),
            "note": self.note,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "derived": dict(self.derived),
            "derived_intervals": {k: list(v) for k, v in self.derived_intervals.items()},
            "n_resamples": 0 if self.boot is None else int(self.boot.n_resamples),
            "bootstrap": None if self.boot is None else self.boot.summary(),
            "identified": {k: v.to_dict() for k, v in self.identification.items()},
            "not_identified": self.not_identified(),
            **self.extra,
        })
        return out


def display_name(name: str, law: Any = None) -> str:
    """Parameter names as a reader of the papers knows them."""
    names = {"alpha": "α", "beta": "β", "n_opt_exponent": "a (N_opt ∝ C^a)",
             "d_opt_exponent": "b (D_opt ∝ C^b)"}
    if name == "X0" and law is not None and hasattr(law, "x"):
        return f"{SYMBOLS.get(law.x, 'X')}0"
    return names.get(name, name)


def fmt(value: float | None) -> str:
    """Three significant digits, with a compact exponent (4.78e2, 1.3e-5)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    text = f"{value:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def fit_law(
    key: str,
    label: str,
    law: Any,
    data: pd.DataFrame,
    n_resamples: int,
    seed: int,
    note: str = "",
) -> FittedLaw:
    """Fit `law` to `data` with a design-keeping bootstrap (`n_resamples` = 0: no intervals),
    and say which parameters the data identify."""
    law.fit(data, source=label)
    fitted = FittedLaw(key=key, label=label, law=law, data=data, note=note,
                       derived=dict(law.derived()))
    if n_resamples > 0:
        boot = laws.bootstrap(law, data, n_resamples=n_resamples, seed=seed, source=label)
        fitted.boot = boot
        fitted.intervals = boot.intervals(0.95)
        fitted.derived_intervals = boot.derived_intervals(0.95)
    fitted.identification = identify(law, fitted.intervals or None)
    return fitted
