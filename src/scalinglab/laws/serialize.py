"""FIT.json: a fitted law (and its bootstrap samples) saved for `plan --fit` and the report.

Keys: law, params, objective, converged, n_points, n_starts, n_starts_at_best, message,
warnings, options, accounting (the convention N and C were counted in, for plans), identified
{name: {identified, reason}} and not_identified (a sentence); with a bootstrap also `level`,
`intervals` {name: [lo, hi]}, `derived_intervals`, `bootstrap` (method, noise, failed
resamples), `n_resamples`, `n_resamples_converged`, `seed` and `bootstrap_params`; and
`fitted_range` (the N, D, C and D/N the rows spanned, `extrapolation.FittedRange`) where known.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.extrapolation import FittedRange
from scalinglab.files import read_json_object, write_text
from scalinglab.laws.base import Law
from scalinglab.laws.registry import law_from_dict
from scalinglab.laws.selection import Selection
from scalinglab.laws.uncertainty import Bootstrap, NoiseModel


def fit_summary(
    law: Law, boot: Bootstrap | None = None, level: float = 0.95, with_samples: bool = True,
    selection: Selection | None = None,
) -> dict[str, Any]:
    """The FIT.json object (also what `scalinglab fit --json` prints, minus the samples).

    With a `selection` (`--law auto`), also the selection and the `forms` tied with the
    winner, each fitted on every row, so predictions carry their spread.
    """
    from scalinglab.laws.identifiability import identify, not_identified_sentence

    summary = law.to_dict()
    if selection is not None:
        summary["selection"] = selection.to_dict()
        summary["forms"] = {name: selection.forms[name].to_dict() for name in selection.tied}
    derived = law.derived()
    if derived:
        summary["derived"] = derived
    identification = identify(law, boot.intervals(level) if boot is not None else None)
    summary["identified"] = {k: v.to_dict() for k, v in identification.items()}
    summary["not_identified"] = not_identified_sentence(identification)
    if boot is not None:
        summary["bootstrap"] = boot.summary()
        summary["level"] = level
        summary["intervals"] = {k: list(v) for k, v in boot.intervals(level).items()}
        if derived:
            summary["derived_intervals"] = {
                k: list(v) for k, v in boot.derived_intervals(level).items()
            }
        summary["n_resamples"] = boot.n_resamples
        summary["n_resamples_converged"] = boot.n_converged
        summary["seed"] = boot.seed
        if with_samples:
            summary["bootstrap_params"] = boot.samples.to_dict("records")
    return summary


def save_fit(
    path: str | Path, law: Law, boot: Bootstrap | None = None, level: float = 0.95,
    selection: Selection | None = None,
) -> None:
    """Write FIT.json for a fitted law, with its bootstrap samples (and tied forms) when given."""
    if law.params_ is None:
        raise ScalinglabError(f"the {law.name} law is not fitted; nothing to save")
    text = json.dumps(_finite(fit_summary(law, boot, level, selection=selection)), indent=2)
    write_text(path, text + "\n")


@dataclass(frozen=True)
class SavedFit:
    """A FIT.json read back: the law, its bootstrap (samples, noise, interval kind) and the
    range it was fitted on, each None where the file has none."""

    law: Law
    boot: Bootstrap | None
    fitted_range: FittedRange | None
    forms: dict[str, Law] = field(default_factory=dict)  # forms tied with `law` (--law auto)


def read_fit(path: str | Path) -> SavedFit:
    """Read FIT.json whole (see `load_fit` for the law and samples alone)."""
    law, samples = load_fit(path)
    data = read_json_object(path, "fit file")
    boot = None
    if samples is not None:
        info = data.get("bootstrap") or {}
        noise = info.get("noise")
        try:
            noise_model = None if not noise else NoiseModel(
                float(noise["run_sd"]), float(noise["row_sd"]), str(noise["source"]),
                int(noise.get("n_replicated", 0)))
        except (KeyError, TypeError, ValueError) as error:
            raise ScalinglabError(f"{path}: 'bootstrap.noise' is malformed ({error})") from None
        ok = samples.notna().all(axis=1).to_numpy()
        boot = Bootstrap(law, samples, converged=ok, n_starts_at_best=np.ones(len(samples), int),
                         seed=int(data.get("seed", 0)), method=str(info.get("method", "cases")),
                         noise=noise_model, interval=str(info.get("interval", "percentile")))
    forms = data.get("forms") or {}
    if not isinstance(forms, dict):
        raise ScalinglabError(f"{path}: 'forms' must be an object {{name: fit}}")
    try:
        tied = {str(name): law_from_dict(form) for name, form in forms.items()}
    except (ScalinglabError, TypeError, ValueError, KeyError) as error:
        raise ScalinglabError(f"{path}: 'forms' holds an invalid fit ({error})") from None
    for form in tied.values():
        form.accounting = law.accounting  # counted as the winner was, on the same rows
    return SavedFit(law, boot, law.fitted_range_, tied)


def load_fit(path: str | Path) -> tuple[Law, pd.DataFrame | None]:
    """Read FIT.json: the fitted law and its bootstrap samples (None when not bootstrapped)."""
    data = read_json_object(path, "fit file")
    if data.get("params") is None:
        raise ScalinglabError(
            f"{path}: not a fit file (no 'law' and 'params'); see `scalinglab fit --out`"
        )
    try:
        law = law_from_dict(data)
        _check_params(law, data["params"])
        samples = data.get("bootstrap_params")
        if not samples:
            return law, None
        if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
            raise ScalinglabError("'bootstrap_params' must be a list of {name: value} objects")
        return law, pd.DataFrame(samples, columns=list(law.param_names)).astype(float)
    except ScalinglabError as error:
        raise ScalinglabError(f"{path}: {error}") from None
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as error:
        raise ScalinglabError(f"{path}: not a valid fit file ({type(error).__name__}: "
                              f"{str(error)[:120]})") from None


def _check_params(law: Law, params: Any) -> None:
    """Every parameter a finite number, scales positive, exponents inside the law's bounds."""
    if not isinstance(params, dict):
        raise ScalinglabError("'params' must be an object {name: number}")
    for name in law.param_names:
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise ScalinglabError(f"parameter {name!r} must be a finite number, got {value!r}")
        low, high = law.exponent_bounds.get(name, (None, None))
        if name in law.log_params and value <= 0:
            raise ScalinglabError(f"parameter {name!r} is a scale, must be positive: {value}")
        if low is not None and (value < low or (low == 0 and value == 0)):
            raise ScalinglabError(f"exponent {name!r} must be above {low:g}, got {value}")
        if high is not None and value > high:
            raise ScalinglabError(f"exponent {name!r} must be at most {high:g}, got {value}")


def _finite(value: Any) -> Any:
    """NaN and inf are not JSON: write them as null."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _finite(value.item())
    return value
