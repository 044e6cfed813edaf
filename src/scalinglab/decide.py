"""Decisions from a fitted law: how big a model, on how much data, for a compute budget.

- `compute_optimal`: minimise loss at training compute C = 6 N D. Closed form for Chinchilla's
  E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, Eq. 4); Kaplan's published allocation rule
  for the named `kaplan` law; a bounded 1-D search over log N for any other two-variable law.
- `inference_optimal`: the same loss for the least training plus inference compute,
  6 N D + 2 N T_inference (Sardana et al. 2023, "Beyond Chinchilla-Optimal").
- `data_limited_optimal`: the best loss when only U unique tokens exist, with repeated data and
  excess parameters decaying in value (Muennighoff et al. 2023, Eq. 5-6).
Every function takes a fitted law (anything with `name`, `params_`, `inputs` and `predict`), so
a bootstrap sample of parameters gives an interval on each answer (`with_intervals`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from scalinglab import constants
from scalinglab.errors import ScalinglabError

# Search range for model sizes in the numeric optimisers: 1e2 to 1e16 parameters.
LOG10_N_RANGE = (2.0, 16.0)


def _two_variable_inputs(law: Any) -> tuple[str, str]:
    inputs = tuple(getattr(law, "inputs", ()))
    if len(inputs) != 2:
        raise ScalinglabError(
            f"law {law.name!r} has inputs {inputs}; planning needs a law of parameters and tokens "
            "(chinchilla or kaplan-nd)"
        )
    return inputs[0], inputs[1]


def predict_loss(law: Any, n_params: float | np.ndarray, tokens: float | np.ndarray) -> np.ndarray:
    """Loss of a two-variable law at (N, D)."""
    n_key, d_key = _two_variable_inputs(law)
    n = np.atleast_1d(np.asarray(n_params, dtype=float))
    d = np.atleast_1d(np.asarray(tokens, dtype=float))
    return np.asarray(law.predict({n_key: n, d_key: d}), dtype=float)


def chinchilla_allocation(params: Mapping[str, float], compute: float) -> tuple[float, float]:
    """Closed-form compute-optimal (N, D) for E + A/N^alpha + B/D^beta with C = 6 N D.

    Setting dL/dN = 0 along D = C/(6N) gives N_opt = G (C/6)^(beta/(alpha+beta)) and
    D_opt = (C/6)^(alpha/(alpha+beta)) / G with G = (alpha A / (beta B))^(1/(alpha+beta)).
    """
    a, b = params["alpha"], params["beta"]
    g = (a * params["A"] / (b * params["B"])) ** (1.0 / (a + b))
    n_opt = g * (compute / 6.0) ** (b / (a + b))
    return n_opt, compute / (6.0 * n_opt)


def kaplan_allocation(compute: float) -> tuple[float, float]:
    """Kaplan et al.'s compute-efficient size N = 1.3e9 (C/PF-day)^0.73, with D = C / (6N)."""
    pf_days = compute / constants.PF_DAY_FLOPS
    n_opt = constants.KAPLAN_NOPT_COEFF * pf_days**constants.KAPLAN_NOPT_EXPONENT
    return n_opt, compute / (6.0 * n_opt)


def _minimise_over_log_n(objective: Callable[[float], float]) -> float:
    """Minimise a smooth function of log10 N: coarse grid, then bounded Brent around the best."""
    grid = np.linspace(*LOG10_N_RANGE, 57)  # quarter-decade steps
    values = np.array([objective(x) for x in grid])
    if not np.isfinite(values).any():
        raise ScalinglabError("no model size in 1e2-1e16 parameters gives a finite loss")
    best = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    result = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    return float(result.x)


def compute_optimal(law: Any, compute: float) -> dict[str, float]:
    """Compute-optimal `n_params`, `tokens`, `tokens_per_param` and predicted `loss`."""
    if not compute > 0:
        raise ScalinglabError(f"--compute must be a positive number of FLOPs, got {compute}")
    if law.name == "chinchilla":
        n_opt, d_opt = chinchilla_allocation(law.params_, compute)
    elif getattr(law, "published_name", None) == "kaplan":
        n_opt, d_opt = kaplan_allocation(compute)
    else:
        def loss_at(log_n: float) -> float:
            n = 10.0**log_n
            return float(predict_loss(law, n, compute / (6.0 * n))[0])

        n_opt = 10.0 ** _minimise_over_log_n(loss_at)
        d_opt = compute / (6.0 * n_opt)
    return {
        "compute": compute,
        "n_params": n_opt,
        "tokens": d_opt,
        "tokens_per_param": d_opt / n_opt,
        "loss": float(predict_loss(law, n_opt, d_opt)[0]),
    }


def tokens_for_loss(law: Any, n_params: float, target_loss: float) -> float:
    """Tokens a model of `n_params` needs to reach `target_loss` (inf if it never can)."""
    if law.name == "chinchilla":  # closed form: B / D^beta = target - E - A / N^alpha
        p = law.params_
        headroom = target_loss - p["E"] - p["A"] / n_params ** p["alpha"]
        return float((p["B"] / headroom) ** (1.0 / p["beta"])) if headroom > 0 else float("inf")

    def gap(log_d: float) -> float:
        return float(predict_loss(law, n_params, 10.0**log_d)[0]) - target_loss

    lo, hi = 0.0, 30.0
    if gap(hi) > 0:
        return float("inf")
    if gap(lo) <= 0:
        return 1.0
    return float(10.0 ** brentq(gap, lo, hi, xtol=1e-10))


def inference_optimal(law: Any, compute: float, inference_tokens: float) -> dict[str, float]:
    """Smallest training + inference FLOPs reaching the compute-optimal loss at `compute`.

    Training costs 6 N D and serving `inference_tokens` costs 2 N per token, so a smaller model
    trained longer wins once inference dominates (Sardana et al. 2023).
    """
    if inference_tokens < 0:
        raise ScalinglabError(f"--inference-tokens must be non-negative, got {inference_tokens}")
    reference = compute_optimal(law, compute)
    target = reference["loss"]

    def total_flops(log_n: float) -> float:
        n = 10.0**log_n
        d = tokens_for_loss(law, n, target)
        return float(np.log(6.0 * n * d + 2.0 * n * inference_tokens)) if np.isfinite(d) else np.inf

    n_opt = 10.0 ** _minimise_over_log_n(total_flops)
    d_opt = tokens_for_loss(law, n_opt, target)
    training = 6.0 * n_opt * d_opt
    inference = 2.0 * n_opt * inference_tokens
    reference_total = compute + 2.0 * reference["n_params"] * inference_tokens
    return {
        "n_params": n_opt,
        "tokens": d_opt,
        "tokens_per_param": d_opt / n_opt,
        "loss": target,
        "training_flops": training,
        "inference_flops": inference,
        "total_flops": training + inference,
        "chinchilla_total_flops": reference_total,
        "savings_fraction": 1.0 - (training + inference) / reference_total,
    }


def _decayed(amount: np.ndarray | float, base: float, r_star: float) -> np.ndarray:
    """Muennighoff's decay: `base` counts fully, the excess over it saturates at r_star * base."""
    amount = np.asarray(amount, dtype=float)
    excess = np.maximum(amount / base - 1.0, 0.0)
    return np.minimum(amount, base) + base * r_star * (1.0 - np.exp(-excess / r_star))


def effective_data(tokens: np.ndarray | float, unique_tokens: float) -> np.ndarray:
    """Muennighoff's effective data: repeated epochs are worth less, saturating at R*_D repeats."""
    return _decayed(tokens, unique_tokens, constants.MUENNIGHOFF_R_STAR_D)


def effective_params(n_params: np.ndarray | float, base_params: float) -> np.ndarray:
    """Muennighoff's effective parameters: size beyond what the unique data supports decays."""
    return _decayed(n_params, base_params, constants.MUENNIGHOFF_R_STAR_N)


def data_limited_optimal(law: Any, compute: float, unique_tokens: float) -> dict[str, float]:
    """Best (N, D) at `compute` when only `unique_tokens` distinct tokens exist.

    The base size U_N is the compute-optimal size for a budget whose optimal data is exactly the
    unique data; loss is the law evaluated at effective parameters and effective data.
    """
    if not unique_tokens > 0:
        raise ScalinglabError(f"--unique-tokens must be positive, got {unique_tokens}")

    def d_opt_gap(log_c: float) -> float:
        return np.log(compute_optimal(law, 10.0**log_c)["tokens"]) - np.log(unique_tokens)

    base_compute = 10.0 ** brentq(d_opt_gap, 0.0, 40.0, xtol=1e-9)
    base_params = compute_optimal(law, base_compute)["n_params"]

    def loss_at(log_n: float) -> float:
        n = 10.0**log_n
        d = compute / (6.0 * n)
        return float(
            predict_loss(law, effective_params(n, base_params), effective_data(d, unique_tokens))[0]
        )

    n_opt = 10.0 ** _minimise_over_log_n(loss_at)
    d_opt = compute / (6.0 * n_opt)
    unconstrained = compute_optimal(law, compute)
    return {
        "n_params": n_opt,
        "tokens": d_opt,
        "tokens_per_param": d_opt / n_opt,
        "epochs": d_opt / unique_tokens,
        "loss": loss_at(np.log10(n_opt)),
        "unconstrained_loss": unconstrained["loss"],
        "base_params": base_params,
    }


def with_intervals(
    decide: Callable[[Any], dict[str, float]],
    law: Any,
    samples: list[Mapping[str, float]] | None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Run `decide(law)`, and with bootstrap parameter samples add `intervals` {key: [lo, hi]}."""
    result: dict[str, Any] = decide(law)
    if not samples:
        return result
    values: dict[str, list[float]] = {key: [] for key, v in result.items() if isinstance(v, float)}
    for sample in samples:
        resampled = copy.copy(law)
        resampled.params_ = dict(sample)
        try:
            answer = decide(resampled)
        except (ScalinglabError, ValueError, ArithmeticError):
            continue  # a resample without a finite optimum adds no information here
        for key in values:
            values[key].append(answer[key])
    tail = 100.0 * (1.0 - level) / 2.0
    result["intervals"] = {
        key: [float(np.nanpercentile(v, tail)), float(np.nanpercentile(v, 100.0 - tail))]
        for key, v in values.items()
        if v
    }
    return result


PUBLISHED_LAWS = ("chinchilla-hoffmann", "chinchilla-epoch", "kaplan")


def load_law(
    law_name: str | None = None, fit_path: str | Path | None = None
) -> tuple[Any, list[dict[str, float]] | None]:
    """A law to plan with: a published one by name, or a fit saved by `scalinglab fit --out`.

    Returns the law and its bootstrap parameter samples (None when there are none).
    """
    from scalinglab import laws

    if (law_name is None) == (fit_path is None):
        raise ScalinglabError("give exactly one of --law NAME or --fit FIT.json")
    if law_name is not None:
        if law_name not in PUBLISHED_LAWS:
            raise ScalinglabError(
                f"unknown law {law_name!r}; published laws are {', '.join(PUBLISHED_LAWS)}"
            )
        law = laws.published_law(law_name)
        law.published_name = law_name
        return law, None
    law, samples = laws.load_fit(fit_path)
    if samples is not None and not isinstance(samples, list):
        samples = samples.to_dict("records")
    return law, samples
