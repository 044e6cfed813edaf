"""Laws by name: `get_law("chinchilla")`, and rebuilding a saved law from its dictionary."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import Law
from scalinglab.laws.forms import LAWS
from scalinglab.laws.result import FitResult


def law_names() -> tuple[str, ...]:
    return tuple(LAWS)


def get_law(name: str, **options: Any) -> Law:
    """A new, unfitted law by name, e.g. `get_law("power", x="tokens")`."""
    if name not in LAWS:
        close = difflib.get_close_matches(name, list(LAWS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ScalinglabError(f"unknown law {name!r}{hint}; choose from {', '.join(LAWS)}")
    cls = LAWS[name]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ScalinglabError(
            f"{name} law: unknown option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(allowed) or 'none'}"
        )
    return cls(**options)


def law_from_dict(data: Mapping[str, Any]) -> Law:
    """Rebuild a law from `law.to_dict()` (options, params_ and the fit summary)."""
    if "law" not in data:
        raise ScalinglabError("fit description has no 'law' key")
    law = get_law(str(data["law"]), **dict(data.get("options") or {}))
    params = data.get("params")
    if params is not None:
        missing = [p for p in law.param_names if p not in params]
        if missing:
            raise ScalinglabError(f"{law.name} fit: missing parameter(s) {', '.join(missing)}")
        law.params_ = {p: float(params[p]) for p in law.param_names}
    accounting = data.get("accounting")
    if accounting is not None:
        if not isinstance(accounting, Mapping):
            raise ScalinglabError("fit description: 'accounting' must be an object")
        law.accounting = dict(accounting)
    if data.get("fitted_range") is not None:
        from scalinglab.extrapolation import FittedRange

        law.fitted_range_ = FittedRange.from_dict(data["fitted_range"])
    if data.get("published"):
        law.published_name = str(data["published"])
        law.source = data.get("source")
    if data.get("objective") is not None:
        law.result_ = FitResult(
            converged=bool(data.get("converged")),
            objective=float(data["objective"]),
            n_starts=int(data.get("n_starts") or 0),
            n_starts_at_best=int(data.get("n_starts_at_best") or 0),
            message=str(data.get("message") or ""),
            n_points=int(data.get("n_points") or 0),
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
        )
    return law
