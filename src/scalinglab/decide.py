"""Decisions from a fitted law: how big a model, on how much data, for a compute budget.

Every decision counts compute in the law's own convention (`conventions`): C = 6 N D for
published laws and laws fitted that way, and the exact FLOPs per token of the model family's
shapes for laws fitted on the lab's runs with exact FLOPs (`law.accounting`). A plan spends
exactly the budget it was given, in that convention.

- `compute_optimal`: minimise loss at training compute C. Closed form for Chinchilla's
  E + A/N^alpha + B/D^beta when C = 6 N D (Hoffmann et al. 2022, Eq. 4); Kaplan's published
  allocation rule for the named `kaplan` law; a bounded 1-D search over log N otherwise.
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
from scalinglab.conventions import TokenCost
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


def _minimise_over_log_n(
    objective: Callable[[float], float],
    grid_objective: Callable[[np.ndarray], np.ndarray] | None = None,
    points: int = 57,
) -> float:
    """Minimise a smooth function of log10 N: a grid (quarter decades by default; infinite
    where infeasible), then bounded Brent between the best point's feasible neighbours.

    `grid_objective` evaluates the whole grid at once where the objective is vectorised.
    """
    grid = np.linspace(*LOG10_N_RANGE, points)
    if grid_objective is None:
        values = np.array([objective(x) for x in grid])
    else:
        values = np.asarray(grid_objective(grid), float)
    finite = np.isfinite(values)
    if not finite.any():
        raise ScalinglabError("no model size in the range searched gives a finite loss")
    best = int(np.argmin(np.where(finite, values, np.inf)))
    lo = grid[best - 1] if best > 0 and finite[best - 1] else grid[best]
    hi = grid[best + 1] if best + 1 < len(grid) and finite[best + 1] else grid[best]
    if lo == hi:
        return float(grid[best])
    result = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    return float(result.x) if objective(result.x) <= values[best] else float(grid[best])


def token_cost(law: Any) -> TokenCost:
    """FLOPs per token as a function of the law's N, in the convention it was fitted in."""
    accounting = getattr(law, "accounting", None)
    if not accounting or not accounting.get("exact"):
        return TokenCost(exact=False)
    if accounting.get("measured"):
        return TokenCost(exact=True, params_column=accounting.get("params_column", "params"),
                         measured=tuple(tuple(p) for p in accounting["measured"]))
    missing = [k for k in ("family", "vocab_size", "n_ctx") if not accounting.get(k)]
    if missing:
        raise ScalinglabError(
            f"this law was fitted in the {accounting.get('convention')} convention (exact FLOPs "
            f"per token); to plan in it give "
            f"{', '.join('--' + m.replace('_', '-') for m in missing)}"
        )
    fields = ("exact", "params_column", "family", "vocab_size", "n_ctx")
    return TokenCost(**{k: accounting[k] for k in fields if k in accounting})


def compute_optimal(law: Any, compute: float, cost: TokenCost | None = None,
                    n_range: tuple[float, float] | None = None,
                    tokens_range: tuple[float, float] | None = None) -> dict[str, Any]:
    """Compute-optimal `n_params`, `tokens`, `tokens_per_param` and predicted `loss`.

    `cost` (default: the law's own convention, `token_cost`) turns N into FLOPs per token, so
    `flops_per_token * tokens` equals `compute`. With exact accounting the answer also names the
    ladder `shape` a run would train, with its own N and tokens spending the same budget.
    `n_range` and `tokens_range` restrict the search (e.g. how far a backtest may extrapolate).
    """
    if not (compute > 0 and np.isfinite(compute)):
        raise ScalinglabError(f"--compute must be a positive number of FLOPs, got {compute}")
    cost = token_cost(law) if cost is None else cost
    restricted = n_range is not None or tokens_range is not None
    n_lo, n_hi = n_range or (0.0, np.inf)
    d_lo, d_hi = tokens_range or (0.0, np.inf)
    if law.name == "chinchilla" and not cost.exact and not restricted:
        n_opt, d_opt = chinchilla_allocation(law.params_, compute)
    elif getattr(law, "published_name", None) == "kaplan" and not cost.exact and not restricted:
        n_opt, d_opt = kaplan_allocation(compute)
    else:
        def losses(log_n: np.ndarray) -> np.ndarray:
            n = 10.0 ** np.atleast_1d(np.asarray(log_n, float))
            with np.errstate(invalid="ignore", divide="ignore"):
                d = compute / cost.flops_per_token(n)
                feasible = (np.isfinite(d) & (n >= n_lo) & (n <= n_hi) & (d >= d_lo)
                            & (d <= d_hi))
                out = np.full(n.shape, np.inf)
                if feasible.any():
                    out[feasible] = predict_loss(law, n[feasible], d[feasible])
            return out

        n_opt = 10.0 ** _minimise_over_log_n(lambda x: float(losses(x)[0]), losses, points=561)
        d_opt = compute / float(cost.flops_per_token(n_opt))
    per_token = float(cost.flops_per_token(n_opt))
    result: dict[str, Any] = {
        "compute": compute,
        "n_params": n_opt,
        "tokens": d_opt,
        "tokens_per_param": d_opt / n_opt,
        "loss": float(predict_loss(law, n_opt, d_opt)[0]),
        "flops_per_token": per_token,
        "flops": per_token * d_opt,
    }
    if cost.exact and not cost.measured:
        shape, n_shape, per_token_shape = cost.nearest_shape(n_opt)
        tokens = compute / per_token_shape
        result["shape"] = {
            "family": cost.family, "n_layer": shape.n_layer, "d_model": shape.d_model,
            "n_head": shape.n_head, "n_params": n_shape, "tokens": tokens,
            "flops": per_token_shape * tokens,
            "loss": float(predict_loss(law, n_shape, tokens)[0]),
        }
    return result


def allocation_exponent(law: Any, compute: float, cost: TokenCost | None = None,
                        half_width_decades: float = 0.5) -> float:
    """The local exponent a of N_opt ~ C^a at `compute`, in the law's convention.

    Numeric (N_opt at compute x 10^(+-half width)) because a = beta / (alpha + beta) holds only
    where FLOPs per token are proportional to N; with exact accounting of small models they are
    not, and the exponent changes with scale.
    """
    step = 10.0**half_width_decades
    low = compute_optimal(law, compute / step, cost)["n_params"]
    high = compute_optimal(law, compute * step, cost)["n_params"]
    return float(np.log(high / low) / np.log(step * step))


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

    Training costs (FLOPs per token) x D and serving `inference_tokens` costs a third of that
    per token (the forward pass: 2 N of 6 N), in the law's convention, so a smaller model
    trained longer wins once inference dominates (Sardana et al. 2023).
    """
    if not inference_tokens >= 0:
        raise ScalinglabError(f"--inference-tokens must be non-negative, got {inference_tokens}")
    cost = token_cost(law)
    reference = compute_optimal(law, compute, cost)
    target = reference["loss"]

    def spend(n: float, d: float) -> tuple[float, float]:
        per_token = float(cost.flops_per_token(n))
        return per_token * d, per_token / 3.0 * inference_tokens

    def total_flops(log_n: float) -> float:
        n = 10.0**log_n
        if not cost.covers(n):
            return np.inf
        d = tokens_for_loss(law, n, target)
        return float(np.log(sum(spend(n, d)))) if np.isfinite(d) else np.inf

    n_opt = 10.0 ** _minimise_over_log_n(total_flops)
    d_opt = tokens_for_loss(law, n_opt, target)
    training, inference = spend(n_opt, d_opt)
    reference_total = compute + spend(reference["n_params"], 0.0)[1]
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

    cost = token_cost(law)

    def loss_at(log_n: float) -> float:
        n = 10.0**log_n
        if not cost.covers(n):
            return np.inf
        d = compute / float(cost.flops_per_token(n))
        return float(
            predict_loss(law, effective_params(n, base_params), effective_data(d, unique_tokens))[0]
        )

    n_opt = 10.0 ** _minimise_over_log_n(loss_at)
    d_opt = compute / float(cost.flops_per_token(n_opt))
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
    failed = 0
    for sample in samples:
        resampled = law.clone() if hasattr(law, "clone") else copy.copy(law)
        resampled.published_name = getattr(law, "published_name", None)
        resampled.params_ = dict(sample)
        try:
            answer = decide(resampled)
        except (ScalinglabError, ValueError, ArithmeticError):
            failed += 1  # a resample without a finite optimum: counted, not hidden
            continue
        for key in values:
            values[key].append(answer[key])
    tail = 100.0 * (1.0 - level) / 2.0
    result["intervals"] = {
        key: [float(np.nanpercentile(v, tail)), float(np.nanpercentile(v, 100.0 - tail))]
        for key, v in values.items()
        if v
    }
    result["n_resamples"] = len(samples)
    result["n_failed_resamples"] = failed
    return result


def plan(law: Any, compute: float, samples: list[Mapping[str, float]] | None = None,
         allow_extrapolation: bool = False) -> dict[str, Any]:
    """The compute-optimal plan for `compute` FLOPs (`compute_optimal`) with intervals from
    bootstrap `samples`, refused when it buys less than one parameter or token, or lies beyond
    `extrapolation.MAX_EXTRAPOLATION` of the law's fitted range unless allowed; how far it
    reaches is in `extrapolation` (the factors of `extrapolation.Extrapolation`)."""
    from scalinglab.extrapolation import check_buys_a_model, check_reach, extrapolation

    optimum = compute_optimal(law, compute)  # checked before any resample is planned
    check_buys_a_model(optimum["n_params"], optimum["tokens"], compute)
    reach = None
    if getattr(law, "fitted_range_", None) is not None:
        reach = extrapolation(law.fitted_range_, optimum["n_params"], optimum["tokens"],
                              optimum["flops"])
        check_reach(reach, allow_extrapolation)
    result = with_intervals(lambda lw: compute_optimal(lw, compute), law, samples)
    if reach is not None:
        result["extrapolation"] = reach.to_dict()
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
