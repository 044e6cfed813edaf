"""Profile-likelihood intervals of a fitted law's parameters.

Model: log losses are the law's log prediction plus independent Gaussian noise of unknown
variance. Profiling the variance out, -2 log LR = n log(RSS(v) / RSS_min), where RSS(v) is the
least-squares fit with the parameter held at v. The 95% interval is the set of v where that is
at most the chi-square(1) quantile (3.84). Each side is walked outward from the optimum in
growing steps (the other parameters warm-started along the way) and the crossing refined by
Brent's method; a side that never crosses before the parameter's bound or `MAX_STEPS` is open,
which is itself the answer "not identified by this data".

Why it is not the lab's default (docs/uncertainty.md): it treats every row as independent, but
the rows of one trained model share its seed, so on sweeps of learning-curve branches it is too
narrow; the parametric bootstrap draws that shared noise. On tables of independent single runs
(Chinchilla's) the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq, least_squares
from scipy.stats import chi2

from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import Law, positive_column

MAX_STEPS = 40
GROWTH = 1.6


@dataclass(frozen=True)
class ProfileInterval:
    """One parameter's interval (natural units); an open side is +-inf or the bound."""

    name: str
    lo: float
    hi: float
    open_lo: bool
    open_hi: bool

    @property
    def closed(self) -> bool:
        return not (self.open_lo or self.open_hi)


def profile_intervals(law: Law, table: pd.DataFrame, level: float = 0.95,
                      source: str = "table") -> dict[str, ProfileInterval]:
    """Profile-likelihood interval of every parameter of a fitted `law` on `table`."""
    if law.params_ is None:
        raise ScalinglabError(f"the {law.name} law is not fitted: call fit() first")
    log_x = law.log_inputs(table, source)
    log_y = np.log(positive_column(table, "loss", source))
    if log_y.size <= law.n_params:
        raise ScalinglabError(f"{source}: a profile needs more rows than the law's parameters")
    theta0 = law.theta_from_params(law.params_)
    best = _least_squares(law, log_x, log_y, theta0, fixed=None)
    rss_min = _rss(law, log_x, log_y, best)
    threshold = float(chi2.ppf(level, 1))
    out = {}
    for j, name in enumerate(law.param_names):
        sides = [_walk(law, log_x, log_y, best, j, direction, rss_min, threshold)
                 for direction in (-1.0, 1.0)]
        (lo, open_lo), (hi, open_hi) = sides
        if name in law.log_params:
            lo, hi = float(np.exp(lo)), float(np.exp(hi))
        out[name] = ProfileInterval(name, float(lo), float(hi), open_lo, open_hi)
    return out


def _walk(law: Law, log_x: np.ndarray, log_y: np.ndarray, best: np.ndarray, j: int,
          direction: float, rss_min: float, threshold: float) -> tuple[float, bool]:
    """Where -2 log LR first exceeds `threshold` along parameter j; (value, open side?)."""
    n = log_y.size
    bound = law.bounds()[j][0 if direction < 0 else 1]
    step = 0.02 * max(abs(best[j]), 0.1)
    theta, value, previous = best.copy(), best[j], best[j]

    def excess(v: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        fitted = _least_squares(law, log_x, log_y, start, fixed=(j, v))
        return n * np.log(_rss(law, log_x, log_y, fitted) / rss_min) - threshold, fitted

    for _ in range(MAX_STEPS):
        value = previous + direction * step
        if bound is not None and direction * (value - bound) >= 0:
            value = bound
        gap, fitted = excess(value, theta)
        if gap > 0:
            start = theta
            crossing = brentq(lambda v, start=start: excess(v, start)[0], previous, value,
                              xtol=1e-6 * step)
            return float(crossing), False
        if bound is not None and value == bound:
            return float(bound), True
        theta, previous, step = fitted, value, step * GROWTH
    return (float("-inf") if direction < 0 else float("inf")), True


def _least_squares(law: Law, log_x: np.ndarray, log_y: np.ndarray, start: np.ndarray,
                   fixed: tuple[int, float] | None) -> np.ndarray:
    """Least squares of the log residuals over the free parameters (one may be held fixed)."""
    free = np.ones(law.n_params, bool)
    theta = np.array(start, float)
    if fixed is not None:
        free[fixed[0]] = False
        theta[fixed[0]] = fixed[1]
    bounds = law.bounds()
    lower = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])[free]
    upper = np.array([b[1] if b[1] is not None else np.inf for b in bounds])[free]
    x0 = np.clip(theta[free], lower + 1e-12, upper - 1e-12)

    def residuals(x: np.ndarray) -> np.ndarray:
        full = theta.copy()
        full[free] = x
        with np.errstate(all="ignore"):
            return law.log_predict(full, log_x) - log_y

    def jacobian(x: np.ndarray) -> np.ndarray:
        full = theta.copy()
        full[free] = x
        return law.log_predict_jac(full, log_x)[1][free].T

    with np.errstate(all="ignore"):
        result = least_squares(residuals, x0, jac=jacobian, bounds=(lower, upper), xtol=1e-12,
                               ftol=1e-12, gtol=1e-12, max_nfev=2000)
    out = theta.copy()
    out[free] = result.x
    return out


def _rss(law: Law, log_x: np.ndarray, log_y: np.ndarray, theta: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.sum((law.log_predict(theta, log_x) - log_y) ** 2))
