"""The one fitting machine every law uses: summed Huber loss on log residuals, multi-start.

Why this shape (Hoffmann et al. 2022, Sec. D.2; Besiroglu et al. 2024):
- residuals are taken in log space, r = log L_pred - log L, so small and large losses count alike;
- Huber(delta = 1e-3) makes the few badly measured runs weigh like an L1 loss, not squared;
- the losses are SUMMED, never averaged: dividing by n shrinks the objective and its gradient
  by n, and L-BFGS's relative stopping rules then stop early (Chinchilla's own fit stopped there);
- the landscape has several basins, so we screen many starting points by their objective, run a
  bounded L-BFGS-B with tight tolerances from the best few, and report how many runs agreed.

A law supplies the model in log space and its Jacobian (see `scalinglab.laws.base.Law`); this
module knows nothing about any particular law.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from scalinglab.laws.result import FitResult


class Law(Protocol):
    """What the machine needs of a law (`scalinglab.laws.base.Law` provides it): the form in
    log space, its Jacobian, bounds and re-centring. Written as a protocol so this module and
    the law contract do not import each other."""

    name: str
    n_params: int

    def log_predict(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray: ...

    def log_predict_jac(
        self, theta: np.ndarray, log_x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def bounds(self) -> list[tuple[float | None, float | None]]: ...

    def recentre(self, theta: np.ndarray, shift: np.ndarray) -> np.ndarray: ...

HUBER_DELTA = 1e-3
# Two local runs found "the same" optimum when their objectives agree to this relative tolerance.
SAME_OPTIMUM_RTOL = 1e-6
# Tight on purpose: the summed objective is ~1e-3, so L-BFGS-B's default ftol (2.2e-9 relative to
# max(|f|, 1)) would stop six orders of magnitude too soon.
LBFGSB_OPTIONS = {"ftol": 1e-15, "gtol": 1e-11, "maxiter": 20_000, "maxls": 60}
# Candidates are screened in blocks of this many rows to bound memory (block x n_points floats).
SCREEN_BLOCK = 1024


def huber(residuals: np.ndarray, delta: float = HUBER_DELTA) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss of each residual and its derivative (scipy.special.huber's convention).

    The derivative is the residual clipped to [-delta, delta]; with it the loss is
    slope * (r - slope / 2): r^2 / 2 inside the band, delta * (|r| - delta / 2) outside.
    """
    slope = np.clip(residuals, -delta, delta)
    return slope * (residuals - 0.5 * slope), slope


def objective_and_gradient(
    theta: np.ndarray, law: Law, log_x: np.ndarray, log_y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Summed Huber loss of the log residuals at `theta`, and its gradient."""
    log_pred, jacobian = law.log_predict_jac(theta, log_x)
    loss, slope = huber(log_pred - log_y)
    return float(loss.sum()), jacobian @ slope


def screen(law: Law, candidates: np.ndarray, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """Objective at many starting points at once (vectorised over candidates); inf if not finite."""
    values = np.empty(len(candidates))
    for start in range(0, len(candidates), SCREEN_BLOCK):
        block = candidates[start : start + SCREEN_BLOCK]
        with np.errstate(all="ignore"):
            log_pred = law.log_predict(block, log_x)
            values[start : start + SCREEN_BLOCK] = huber(log_pred - log_y)[0].sum(axis=-1)
    values[~np.isfinite(values)] = np.inf
    return values


@dataclass(frozen=True)
class LocalRun:
    """One local optimisation: where it started and ended, and whether it met its tolerances."""

    start: np.ndarray
    theta: np.ndarray
    objective: float
    success: bool
    message: str


def local_fit(law: Law, start: np.ndarray, log_x: np.ndarray, log_y: np.ndarray) -> LocalRun:
    """Bounded L-BFGS-B from one start with analytic gradients and tight tolerances."""
    with np.errstate(all="ignore"):
        result = minimize(
            objective_and_gradient,
            start,
            args=(law, log_x, log_y),
            jac=True,
            method="L-BFGS-B",
            bounds=law.bounds(),
            options=LBFGSB_OPTIONS,
        )
    objective = float(result.fun) if np.isfinite(result.fun) else np.inf
    return LocalRun(start, np.asarray(result.x, float), objective, bool(result.success),
                    str(result.message))


def multistart(
    law: Law,
    log_x: np.ndarray,
    log_y: np.ndarray,
    candidates: np.ndarray,
    n_local: int,
    forced: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, list[LocalRun], FitResult]:
    """Screen `candidates`, optimise from `forced` starts plus the `n_local` best, keep the best.

    Returns the best parameters (optimiser space), every local run (best first, for warm starts
    elsewhere) and the `FitResult` summary.

    BLAS is held to one thread: the problems are tiny, and L-BFGS-B's BLAS calls on a busy
    machine otherwise spend 10-100x longer waking and spinning threads than computing.
    """
    # Optimise with centred log inputs (see Law.recentre), then map the answer back.
    shift = log_x.mean(axis=1)
    centred = log_x - shift[:, None]
    candidates = law.recentre(np.asarray(candidates, float).reshape(-1, law.n_params), shift)
    forced = [law.recentre(s, shift) for s in forced]
    with threadpool_limits(limits=1, user_api="blas"):
        theta, runs, result = _multistart(law, centred, log_y, candidates, n_local, forced)
    runs = [
        LocalRun(law.recentre(r.start, -shift), law.recentre(r.theta, -shift), r.objective,
                 r.success, r.message)
        for r in runs
    ]
    return law.recentre(theta, -shift), runs, result


def _multistart(
    law: Law,
    log_x: np.ndarray,
    log_y: np.ndarray,
    candidates: np.ndarray,
    n_local: int,
    forced: Sequence[np.ndarray],
) -> tuple[np.ndarray, list[LocalRun], FitResult]:
    values = screen(law, candidates, log_x, log_y)
    order = [i for i in np.argsort(values, kind="stable") if np.isfinite(values[i])]
    starts = [np.asarray(s, float) for s in forced] + [candidates[i] for i in order[:n_local]]
    if not starts:
        raise ValueError(f"{law.name}: no starting point gives a finite objective")
    runs = sorted((local_fit(law, s, log_x, log_y) for s in starts), key=lambda r: r.objective)
    best = runs[0]
    at_best = sum(
        r.objective <= best.objective + SAME_OPTIMUM_RTOL * abs(best.objective) for r in runs
    )
    converged = best.success and np.isfinite(best.objective)
    message = best.message
    if converged and at_best == 1 and len(runs) > 1:
        message += f"; only 1 of {len(runs)} starts reached the best objective"
    result = FitResult(
        converged=bool(converged),
        objective=float(best.objective),
        n_starts=len(runs),
        n_starts_at_best=int(at_best),
        message=message,
        n_points=int(log_y.size),
        n_screened=int(len(candidates)),
    )
    return best.theta, runs, result
