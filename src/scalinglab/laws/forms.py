"""The five laws, each written once in log space with its Jacobian and its starting points.

    power         L = (X0 / X)^a                                       one variable X
    saturating    L = E + (X0 / X)^a                                   one variable X
    kaplan-nd     L = [(Nc / N)^(aN / aD) + Dc / D]^aD                 Kaplan et al. 2020, Eq. 1.5
    chinchilla    L = E + A / N^alpha + B / D^beta                     Hoffmann et al. 2022, Eq. 2
    chinchilla-tied  L = E + A / N^alpha + B / D^alpha                 Gadre et al. 2024
    broken-power  L = E + b x^-c0 (1 + (x / d1)^(1 / f1))^(-c1 f1)     Caballero et al. 2022

Sums of positive terms are written as log-sum-exp of their logs (as Hoffmann et al. do), which
keeps the fit stable over the 10+ decades N and D span. Starting points come from grids over
the exponents; the positive coefficients for each exponent choice are solved by non-negative
least squares (variable projection, used here to place starts, not as the final objective).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import nnls
from scipy.special import expit

from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import Law, ValueAndJacobian, theta_grid

ONE_VARIABLE_INPUTS = ("flops", "tokens", "step", "params", "params_nonembedding")
PARAMS_COLUMNS = ("params", "params_nonembedding")


def _columns(theta: np.ndarray) -> list[np.ndarray]:
    """Split theta (p,) or (k, p) into p arrays shaped to broadcast against (n,) inputs."""
    theta = np.asarray(theta, float)
    return [theta[..., i, None] for i in range(theta.shape[-1])]


def _logsumexp(*terms: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """log(sum(exp(t))) over the given terms, and each term's softmax weight."""
    stacked = np.stack(np.broadcast_arrays(*terms))
    peak = stacked.max(axis=0)
    exps = np.exp(stacked - peak)
    total = exps.sum(axis=0)
    return peak + np.log(total), list(exps / total)


def _nnls_log(log_target: np.ndarray, log_basis: list[np.ndarray]) -> np.ndarray:
    """log of the non-negative coefficients c with target ~ sum_j c_j basis_j (all given as logs).

    Columns are rescaled to a maximum of 1 before solving, so bases that span 100 orders of
    magnitude stay solvable; a zero coefficient becomes a term 1e-6 times the target's size.
    """
    t_peak = log_target.max()
    peaks = np.array([b.max() for b in log_basis])
    matrix = np.stack([np.exp(b - p) for b, p in zip(log_basis, peaks, strict=True)], axis=1)
    coef, _ = nnls(matrix, np.exp(log_target - t_peak), maxiter=50 * matrix.shape[1])
    floor = np.log(1e-6)
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(coef), floor) - peaks + t_peak


class OneVariableLaw(Law):
    """A law of one input column `x` (flops by default; tokens for learning curves)."""

    default_x = "flops"

    def __init__(self, x: str | None = None) -> None:
        super().__init__()
        x = self.default_x if x is None else x
        if x not in ONE_VARIABLE_INPUTS:
            raise ScalinglabError(
                f"{self.name} law: x must be one of {', '.join(ONE_VARIABLE_INPUTS)}, got {x!r}"
            )
        self.x = x

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.x,)

    @property
    def options(self) -> dict[str, Any]:
        return {"x": self.x}


class TwoVariableLaw(Law):
    """A law of model size N (`params_column`) and training tokens D."""

    def __init__(self, params_column: str = "params") -> None:
        super().__init__()
        if params_column not in PARAMS_COLUMNS:
            raise ScalinglabError(
                f"{self.name} law: params_column must be one of {', '.join(PARAMS_COLUMNS)}, "
                f"got {params_column!r}"
            )
        self.params_column = params_column

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.params_column, "tokens")

    @property
    def options(self) -> dict[str, Any]:
        return {"params_column": self.params_column}


class PowerLaw(OneVariableLaw):
    """L = (X0 / X)^a: a pure power law, a straight line in log-log axes."""

    name = "power"
    param_names = ("X0", "a")
    log_params = frozenset({"X0"})
    exponent_bounds = {"a": (0.0, None)}

    def log_predict(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        log_x0, a = _columns(theta)
        return a * (log_x0 - log_x[0])

    def log_predict_jac(self, theta: np.ndarray, log_x: np.ndarray) -> ValueAndJacobian:
        log_x0, a = theta
        gap = log_x0 - log_x[0]
        return a * gap, np.stack([np.full_like(gap, a), gap])

    def start_candidates(self, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
        lx = log_x[0]
        exponents = list(np.geomspace(0.005, 3.0, 30))
        if np.ptp(lx) > 0:
            slope = np.polyfit(lx, log_y, 1)[0]
            if slope < 0:
                exponents.append(-slope)
        # For a given exponent the best log X0 in least squares is a mean.
        return np.array([[np.mean(log_y / a + lx), a] for a in exponents])

    def recentre(self, theta: np.ndarray, shift: np.ndarray) -> np.ndarray:
        out = np.array(theta, float)
        out[..., 0] -= shift[0]
        return out


class SaturatingLaw(OneVariableLaw):
    """L = E + (X0 / X)^a: a power law that levels off at the irreducible loss E."""

    name = "saturating"
    param_names = ("E", "X0", "a")
    log_params = frozenset({"E", "X0"})
    exponent_bounds = {"a": (0.0, None)}

    def log_predict(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        log_e, log_x0, a = _columns(theta)
        return _logsumexp(log_e, a * (log_x0 - log_x[0]))[0]

    def log_predict_jac(self, theta: np.ndarray, log_x: np.ndarray) -> ValueAndJacobian:
        log_e, log_x0, a = theta
        gap = log_x0 - log_x[0]
        value, (w_e, w_p) = _logsumexp(log_e, a * gap)
        return value, np.stack([w_e, w_p * a, w_p * gap])

    def start_candidates(self, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
        lx = log_x[0]
        starts = []
        for a in np.geomspace(0.01, 3.0, 30):
            log_e, log_c = _nnls_log(log_y, [np.zeros_like(lx), -a * lx])
            starts.append([log_e, log_c / a, a])  # C = X0^a
        y, floor = np.exp(log_y), np.exp(log_y).min()
        for fraction in (0.25, 0.5, 0.75, 0.9, 0.97):
            rest = np.log(y - fraction * floor)
            for a in np.geomspace(0.01, 3.0, 12):
                starts.append([np.log(fraction * floor), np.mean(rest / a + lx), a])
        return np.array(starts)

    def recentre(self, theta: np.ndarray, shift: np.ndarray) -> np.ndarray:
        out = np.array(theta, float)
        out[..., 1] -= shift[0]
        return out


class KaplanLaw(TwoVariableLaw):
    """L(N, D) = [(Nc / N)^(aN / aD) + Dc / D]^aD (Kaplan et al. 2020, Eq. 1.5).

    Kaplan et al. used non-embedding parameters: pass `params_column="params_nonembedding"`.
    """

    name = "kaplan-nd"
    param_names = ("Nc", "Dc", "aN", "aD")
    log_params = frozenset({"Nc", "Dc"})
    exponent_bounds = {"aN": (1e-4, 10.0), "aD": (1e-4, 10.0)}

    def log_predict(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        log_nc, log_dc, a_n, a_d = _columns(theta)
        inner = _logsumexp(a_n / a_d * (log_nc - log_x[0]), log_dc - log_x[1])[0]
        return a_d * inner

    def log_predict_jac(self, theta: np.ndarray, log_x: np.ndarray) -> ValueAndJacobian:
        log_nc, log_dc, a_n, a_d = theta
        u_n = a_n / a_d * (log_nc - log_x[0])
        inner, (w_n, w_d) = _logsumexp(u_n, log_dc - log_x[1])
        jac = np.stack([a_n * w_n, a_d * w_d, w_n * (log_nc - log_x[0]), inner - w_n * u_n])
        return a_d * inner, jac

    def start_candidates(self, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
        # L^(1/aD) = Nc^(aN/aD) N^(-aN/aD) + Dc / D is linear in its two coefficients.
        grid = (0.02, 0.04, 0.07, 0.1, 0.15, 0.25, 0.4, 0.6)
        starts = []
        for a_n in grid:
            for a_d in grid:
                ratio = a_n / a_d
                log_c1, log_dc = _nnls_log(log_y / a_d, [-ratio * log_x[0], -log_x[1]])
                starts.append([log_c1 / ratio, log_dc, a_n, a_d])
        return np.array(starts)

    def recentre(self, theta: np.ndarray, shift: np.ndarray) -> np.ndarray:
        out = np.array(theta, float)
        out[..., 0] -= shift[0]
        out[..., 1] -= shift[1]
        return out


class ChinchillaLaw(TwoVariableLaw):
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, Eq. 2; Approach 3)."""

    name = "chinchilla"
    param_names = ("E", "A", "B", "alpha", "beta")
    log_params = frozenset({"E", "A", "B"})
    exponent_bounds = {"alpha": (0.0, None), "beta": (0.0, None)}

    def log_predict(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        log_e, log_a, log_b, alpha, beta = _columns(theta)
        return _logsumexp(log_a - alpha * log_x[0], log_b - beta * log_x[1], log_e)[0]

    def log_predict_jac(self, theta: np.ndarray, log_x: np.ndarray) -> ValueAndJacobian:
        # Written out (not via _logsumexp): this is the inner loop of every bootstrap refit.
        log_e, log_a, log_b, alpha, beta = theta
        t_a = log_a - alpha * log_x[0]
        t_b = log_b - beta * log_x[1]
        peak = np.maximum(np.maximum(t_a, t_b), log_e)
        e_a, e_b, e_e = np.exp(t_a - peak), np.exp(t_b - peak), np.exp(log_e - peak)
        total = e_a + e_b + e_e
        w_a, w_b = e_a / total, e_b / total
        jac = np.empty((5, t_a.size))
        jac[0] = e_e / total
        jac[1] = w_a
        jac[2] = w_b
        np.multiply(w_a, log_x[0], out=jac[3])
        np.negative(jac[3], out=jac[3])
        np.multiply(w_b, log_x[1], out=jac[4])
        np.negative(jac[4], out=jac[4])
        return peak + np.log(total), jac

    def start_candidates(self, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
        # Hoffmann et al.'s grid (Sec. D.2): alpha, beta in {0, .5, ..., 2}, e = log E in
        # {-1, -.5, ..., 1}, a = log A and b = log B in {0, 5, ..., 25}: 4500 starts ...
        exponents, logs = np.arange(0.0, 2.01, 0.5), np.arange(0.0, 25.1, 5.0)
        hoffmann = theta_grid(np.arange(-1.0, 1.01, 0.5), logs, logs, exponents, exponents)
        # ... plus E, A, B solved by non-negative least squares on a finer exponent grid.
        projected = []
        for alpha in np.arange(0.1, 1.21, 0.1):
            for beta in np.arange(0.1, 1.21, 0.1):
                basis = [np.zeros(log_x.shape[1]), -alpha * log_x[0], -beta * log_x[1]]
                projected.append([*_nnls_log(log_y, basis), alpha, beta])
        return np.vstack([hoffmann, np.array(projected)])

    def recentre(self, theta: np.ndarray, shift: np.ndarray) -> np.ndarray:
        out = np.array(theta, float)
        out[..., 1] -= out[..., 3] * shift[0]  # log A - alpha * shift_N
        out[..., 2] -= out[..., 4] * shift[1]  # log B - beta * shift_D
        return out

    def derived(self) -> dict[str, float]:
        """Compute-optimal allocation exponents: N_opt ~ C^a, D_opt ~ C^b (C = 6ND).

        a = beta / (alpha + beta) and b = alpha / (alpha + beta) (Hoffmann et al., Eq. 4).
        """
        if self.params_ is None:
            return {}
        alpha, beta = self.params_["alpha"], self.params_["beta"]
        total = alpha + beta
        if total <= 0:
            return {}
        return {"n_opt_exponent": beta / total, "d_opt_exponent": alpha / total}


class TiedChinchillaLaw(TwoVariableLaw):
    """L(N, D) = E + A / N^alpha + B / D^alpha: Chinchilla's form with one exponent.

    Gadre et al. (2024) and Muennighoff et al. (2023) tie the exponents: with few sizes the two
    are hard to tell apart, and tying them fixes the compute-optimal split at N_opt ~ C^0.5
    (in C = 6ND), leaving the data to pin the scales.
    """

    name = "chinchilla-tied"
    param_names = ("E", "A", "B", "alpha")
    log_params = frozenset({"E", "A", "B"})
    exponent_bounds = {"alpha": (0.0, None)}

    def log_predict(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        log_e, log_a, log_b, alpha = _columns(theta)
        return _logsumexp(log_a - alpha * log_x[0], log_b - alpha * log_x[1], log_e)[0]

    def log_predict_jac(self, theta: np.ndarray, log_x: np.ndarray) -> ValueAndJacobian:
        log_e, log_a, log_b, alpha = theta
        value, (w_a, w_b, w_e) = _logsumexp(log_a - alpha * log_x[0],
                                            log_b - alpha * log_x[1], np.full(log_x.shape[1],
                                                                               log_e))
        return value, np.stack([w_e, w_a, w_b, -(w_a * log_x[0] + w_b * log_x[1])])

    def start_candidates(self, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
        starts = []
        for alpha in np.arange(0.05, 1.51, 0.05):
            basis = [np.zeros(log_x.shape[1]), -alpha * log_x[0], -alpha * log_x[1]]
            starts.append([*_nnls_log(log_y, basis), alpha])
        return np.array(starts)

    def recentre(self, theta: np.ndarray, shift: np.ndarray) -> np.ndarray:
        out = np.array(theta, float)
        out[..., 1] -= out[..., 3] * shift[0]
        out[..., 2] -= out[..., 3] * shift[1]
        return out

    def derived(self) -> dict[str, float]:
        """With tied exponents N_opt ~ C^0.5 and D_opt ~ C^0.5 in C = 6ND."""
        return {} if self.params_ is None else {"n_opt_exponent": 0.5, "d_opt_exponent": 0.5}


class BrokenPowerLaw(OneVariableLaw):
    """A smoothly broken power law with one break (Caballero et al. 2022, Eq. 1), for curves.

    L = E + b x^-c0 (1 + (x / d1)^(1 / f1))^(-c1 f1): slope -c0 before the break at x = d1,
    -(c0 + c1) after it, with the sharpness f1 (small = sharp). x is tokens by default.
    """

    name = "broken-power"
    param_names = ("E", "b", "c0", "c1", "d1", "f1")
    log_params = frozenset({"E", "b", "d1", "f1"})
    exponent_bounds = {"c0": (0.0, None), "c1": (-10.0, 10.0)}
    default_x = "tokens"

    def log_predict(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        log_e, log_b, c0, c1, log_d1, log_f1 = _columns(theta)
        f1 = np.exp(log_f1)
        z = (log_x[0] - log_d1) / f1
        power = log_b - c0 * log_x[0] - c1 * f1 * np.logaddexp(0.0, z)
        return _logsumexp(log_e, power)[0]

    def log_predict_jac(self, theta: np.ndarray, log_x: np.ndarray) -> ValueAndJacobian:
        log_e, log_b, c0, c1, log_d1, log_f1 = theta
        lx, f1 = log_x[0], np.exp(log_f1)
        z = (lx - log_d1) / f1
        soft, gate = np.logaddexp(0.0, z), expit(z)
        power = log_b - c0 * lx - c1 * f1 * soft
        value, (w_e, w_p) = _logsumexp(np.full_like(lx, log_e), power)
        jac = np.stack([
            w_e,
            w_p,
            -w_p * lx,
            -w_p * f1 * soft,
            w_p * c1 * gate,
            -w_p * c1 * f1 * (soft - z * gate),
        ])
        return value, jac

    def start_candidates(self, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
        lx = log_x[0]
        starts = []
        for log_d1 in np.quantile(lx, [0.1, 0.3, 0.5, 0.7, 0.9]):
            for f1 in (0.1, 0.3, 1.0):
                soft = np.logaddexp(0.0, (lx - log_d1) / f1)
                for c0 in (0.0, 0.05, 0.15, 0.3, 0.6):
                    for c1 in (-0.4, -0.2, 0.0, 0.2, 0.5, 1.0):
                        basis = [np.zeros_like(lx), -c0 * lx - c1 * f1 * soft]
                        log_e, log_b = _nnls_log(log_y, basis)
                        starts.append([log_e, log_b, c0, c1, log_d1, np.log(f1)])
        return np.array(starts)

    def recentre(self, theta: np.ndarray, shift: np.ndarray) -> np.ndarray:
        out = np.array(theta, float)
        out[..., 1] -= out[..., 2] * shift[0]  # log b - c0 * shift
        out[..., 4] -= shift[0]  # log d1
        return out


LAWS: dict[str, type[Law]] = {
    law.name: law
    for law in (PowerLaw, SaturatingLaw, KaplanLaw, ChinchillaLaw, TiedChinchillaLaw,
                BrokenPowerLaw)
}
