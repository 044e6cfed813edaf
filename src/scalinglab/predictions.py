"""Point predictions of a fitted law at (N, D), with the two intervals a researcher needs.

- `mean_lo, mean_hi`: where the law's mean loss lies (the bootstrap over runs);
- `run_lo, run_hi`: where one new run's measured loss lies: the same resamples with the
  noise model's run and evaluation noise added (measured seed noise where the fit had seed
  replicates; else the residual spread, which the fit's notes say excludes seed noise).

Both are conditional on the law's form (science.md, section 7). Each point also says how far it
extrapolates beyond the fitted runs (`extrapolation`), where the fit recorded its range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalinglab.conventions import TokenCost
from scalinglab.errors import ScalinglabError
from scalinglab.extrapolation import FittedRange, extrapolation
from scalinglab.laws.base import Law
from scalinglab.laws.downstream import AccuracyLaw, chained_interval
from scalinglab.laws.uncertainty import Bootstrap

LEVEL = 0.95
COLUMNS = ("params", "tokens", "flops", "loss", "mean_lo", "mean_hi", "run_lo", "run_hi",
           "compute_factor", "params_factor", "tokens_factor", "extrapolation")
ACCURACY_COLUMNS = ("accuracy", "accuracy_lo", "accuracy_hi")
# With forms tied with the law (`--law auto`): the envelope, over the law and every tied form,
# of each form's prediction with the law's relative interval around it; the forms' spread.
FORM_COLUMNS = ("forms_lo", "forms_hi", "forms_run_lo", "forms_run_hi", "forms_spread")


def predict(law: Law, params: float | np.ndarray, tokens: float | np.ndarray,
            boot: Bootstrap | None = None, fitted_range: FittedRange | None = None,
            cost: TokenCost | None = None, level: float = LEVEL,
            accuracy: AccuracyLaw | None = None,
            forms: dict[str, Law] | None = None) -> pd.DataFrame:
    """The law's loss at each (params, tokens), with intervals when `boot` is given.

    `params` is N in the law's own convention (its `inputs[0]`); `flops` is counted in the
    law's convention too (`decide.token_cost`: exact FLOPs per token, or 6N). Returns one row
    per point with `COLUMNS` (intervals NaN without a bootstrap; factors NaN without a range,
    which defaults to the one the law was fitted on, `law.fitted_range_`),
    and with an `accuracy` law (stage 2) the task accuracy acc(L(N, D)) with its two-stage
    interval (`laws.downstream.chained_interval`). With `forms` (laws the data cannot tell
    from `law`, `laws.select_law`), each form's loss as `loss[NAME]` and `FORM_COLUMNS`.
    """
    from scalinglab import decide

    n = np.atleast_1d(np.asarray(params, float))
    d = np.atleast_1d(np.asarray(tokens, float))
    if n.shape != d.shape:
        raise ScalinglabError(f"{n.size} model sizes but {d.size} token counts")
    if not (np.isfinite(n).all() and np.isfinite(d).all() and (n > 0).all() and (d > 0).all()):
        raise ScalinglabError("model sizes and tokens must be positive numbers")
    n_key, d_key = decide._two_variable_inputs(law)
    fitted_range = fitted_range if fitted_range is not None else law.fitted_range_
    points = {n_key: n, d_key: d}
    cost = decide.token_cost(law) if cost is None else cost
    flops = np.asarray(cost.flops_per_token(n), float) * d
    out = pd.DataFrame({"params": n, "tokens": d, "flops": flops,
                        "loss": np.asarray(law.predict(points), float)})
    nan = np.full(n.size, np.nan)
    out["mean_lo"], out["mean_hi"], out["run_lo"], out["run_hi"] = nan, nan, nan, nan
    if boot is not None:
        out["mean_lo"], out["mean_hi"] = boot.predict_interval(points, level)
        if boot.noise is not None:
            out["run_lo"], out["run_hi"] = boot.predict_interval(points, level,
                                                                 include_noise=True)
    reaches = [extrapolation(fitted_range, *p) if fitted_range is not None else None
               for p in zip(n, d, flops, strict=True)]
    out["compute_factor"] = [r.compute_factor if r else np.nan for r in reaches]
    out["params_factor"] = [r.params_factor if r else np.nan for r in reaches]
    out["tokens_factor"] = [r.tokens_factor if r else np.nan for r in reaches]
    out["extrapolation"] = [r.sentence() if r else "" for r in reaches]
    columns = list(COLUMNS)
    if forms:
        columns += _with_forms(out, forms, points)
    if accuracy is None:
        return out[columns]
    out["accuracy"] = accuracy.predict(out["loss"].to_numpy())
    out["accuracy_lo"], out["accuracy_hi"] = chained_interval(
        boot.laws() if boot is not None else [], accuracy, points, level)
    return out[columns + list(ACCURACY_COLUMNS)]


def _with_forms(out: pd.DataFrame, forms: dict[str, Law], points: dict[str, np.ndarray]
                ) -> list[str]:
    """Add each form's loss and the envelope over forms (docs/uncertainty.md, "Which law");
    return the columns added. Each form is given the law's relative interval around its own
    prediction: the forms were fitted to the same rows with the same noise."""
    loss = out["loss"].to_numpy(float)
    values = {name: np.asarray(form.predict(points), float) for name, form in forms.items()}
    everyone = np.vstack([loss, *values.values()])
    for name, value in values.items():
        out[f"loss[{name}]"] = value
    for key, (lo, hi) in {"forms": ("mean_lo", "mean_hi"),
                          "forms_run": ("run_lo", "run_hi")}.items():
        low = (out[lo] / out["loss"]).fillna(1.0).to_numpy(float)
        high = (out[hi] / out["loss"]).fillna(1.0).to_numpy(float)
        out[f"{key}_lo"] = (everyone * low).min(axis=0)
        out[f"{key}_hi"] = (everyone * high).max(axis=0)
    out["forms_spread"] = (everyone.max(axis=0) - everyone.min(axis=0)) / loss
    return [f"loss[{name}]" for name in values] + list(FORM_COLUMNS)


def forms_sentence(row: pd.Series) -> str:
    """"the forms disagree by X% here" when their spread exceeds the law's own half-width
    (of the mean interval); else ""."""
    half_width = (row["mean_hi"] - row["mean_lo"]) / 2 / row["loss"]
    spread = row.get("forms_spread", np.nan)
    where = f"(N = {row['params']:.3g}, D = {row['tokens']:.3g})"
    if not np.isfinite(spread) or spread <= 0:
        return ""
    if not np.isfinite(half_width):
        return (f"the forms disagree by {100 * spread:.2g}% here {where}; the fit has no "
                "bootstrap to compare it with")
    if spread <= half_width:
        return ""
    return (f"the forms disagree by {100 * spread:.2g}% here {where}, more than one form's "
            f"interval (±{100 * half_width:.2g}%): the interval over forms is the one to trust")
