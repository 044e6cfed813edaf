"""The contract every scaling law follows, in the spirit of scikit-learn's estimators.

`__init__` only stores options; `fit(table)` learns and returns `self`; what was learned lives in
`params_` (natural units, e.g. A, not log A) and `result_` (a `FitResult`); `predict(data)`
answers. The CLI, bootstrap, backtest and report treat every law alike through these verbs.

A subclass describes its form in log space, which is all the fitting machine needs:
`log_predict(theta, log_x)` (vectorised over many parameter vectors), its Jacobian, the
optimiser-space bounds and the starting points to screen. Parameters listed in `log_params` are
positive scales and are optimised as their logarithm; exponents are optimised as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.extrapolation import FittedRange
from scalinglab.laws.fitting import multistart
from scalinglab.laws.result import FitResult

# log L at each row and its Jacobian with respect to theta, shapes (n,) and (p, n).
ValueAndJacobian = tuple[np.ndarray, np.ndarray]

INPUT_COLUMNS = ("params", "params_nonembedding", "tokens", "flops")
# Local optimisations run from the best screened starts in a full fit (after screening them all).
DEFAULT_N_LOCAL = 24
# E below this fraction of the lowest measured loss is "at the floor": the fit found no
# irreducible loss in the data (the optimiser pushed E towards zero), so E is not identified.
E_FLOOR_FRACTION = 1e-3
# Fewer points than this per fitted parameter leave too few degrees of freedom to trust a fit.
MIN_POINTS_PER_PARAM = 2


class Law:
    """A scaling law L(inputs; params): fit it, predict with it, save it."""

    name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    log_params: ClassVar[frozenset[str]] = frozenset()
    # Bounds in optimiser space for parameters not in `log_params` (None = unbounded).
    exponent_bounds: ClassVar[dict[str, tuple[float | None, float | None]]] = {}
    n_local: ClassVar[int] = DEFAULT_N_LOCAL

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None
        self.result_: FitResult | None = None
        # The span of N, D, C and D/N of the rows it was fitted on (a law of N and D only), so
        # a prediction can say how far it extrapolates (`extrapolation`).
        self.fitted_range_: FittedRange | None = None
        # Set by `published_law`: which published law this is, and where its values come from.
        self.published_name: str | None = None
        self.source: str | None = None
        # How the data this law was fitted on counted N and C (`conventions.TokenCost` fields
        # plus the convention's name); decisions plan in it. None: C = 6 N D.
        self.accounting: dict[str, Any] | None = None

    # --- What the law reads and how it is configured -------------------------------------
    @property
    def inputs(self) -> tuple[str, ...]:
        """Measurement-table columns the law reads, in the order of `log_x` rows."""
        raise NotImplementedError

    @property
    def options(self) -> dict[str, Any]:
        """Constructor arguments, so `get_law(name, **options)` rebuilds an equal law."""
        raise NotImplementedError

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def clone(self) -> Law:
        """An unfitted law with the same options and accounting."""
        law = type(self)(**self.options)
        law.accounting = None if self.accounting is None else dict(self.accounting)
        return law

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({options})"

    # --- The verbs -----------------------------------------------------------------------
    def fit(self, table: pd.DataFrame, source: str = "table") -> Law:
        """Fit to every row of `table` (a measurements table) and return self."""
        log_x = self.log_inputs(table, source)
        log_y = np.log(positive_column(table, "loss", source))
        if log_y.size < self.n_params:
            raise ScalinglabError(
                f"{source}: {log_y.size} rows, but the {self.name} law has {self.n_params} "
                f"parameters ({', '.join(self.param_names)}); need at least {self.n_params} rows"
            )
        theta, _, result = multistart(
            self, log_x, log_y, self.start_candidates(log_x, log_y), self.n_local
        )
        self.params_ = self.params_from_theta(theta)
        self.result_ = result
        self.result_ = result.with_warnings(self.fit_warnings(np.exp(log_y)))
        self.fitted_range_ = (FittedRange.of(table, self.inputs[0]) if len(self.inputs) == 2
                              else None)
        return self

    def fit_warnings(self, loss: np.ndarray) -> list[str]:
        """What makes fitted parameters untrustworthy even when the optimiser converged."""
        warnings = []
        for name, (lo, hi) in zip(self.param_names, self.bounds(), strict=True):
            value = self.params_[name]
            for bound in (lo, hi):
                if bound is not None and abs(value - bound) <= 1e-6 * max(1.0, abs(bound)):
                    warnings.append(f"{name} = {value:.4g} sits at its bound {bound:g}: "
                                    "the data do not determine it")
        if "E" in self.params_ and self.params_["E"] < E_FLOOR_FRACTION * float(np.min(loss)):
            warnings.append(f"E = {self.params_['E']:.3g} is at the floor (below "
                            f"{E_FLOOR_FRACTION:g} of the lowest loss): the data show no "
                            "irreducible loss, so E is not identified")
        if loss.size < MIN_POINTS_PER_PARAM * self.n_params:
            warnings.append(f"only {loss.size} points for {self.n_params} parameters")
        result = self.result_
        if result is not None and result.n_starts > 1 and result.n_starts_at_best == 1:
            warnings.append(f"only 1 of {result.n_starts} starts reached the best objective")
        return warnings

    def predict(self, data: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Predicted loss (nats per token) for each row of `data` (needs the `inputs` columns)."""
        if self.params_ is None:
            raise ScalinglabError(f"the {self.name} law is not fitted yet: call fit() first")
        theta = self.theta_from_params(self.params_)
        with np.errstate(over="ignore", divide="ignore"):
            return np.exp(self.log_predict(theta, self.log_inputs(data, "data")))

    def derived(self) -> dict[str, float]:
        """Quantities computed from `params_` worth reporting with intervals (none by default)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: law, params, options and the fit summary."""
        result = self.result_.to_dict() if self.result_ is not None else {}
        return {
            "law": self.name,
            "params": dict(self.params_) if self.params_ is not None else None,
            "objective": result.get("objective"),
            "converged": result.get("converged"),
            "n_points": result.get("n_points"),
            "n_starts": result.get("n_starts"),
            "n_starts_at_best": result.get("n_starts_at_best"),
            "message": result.get("message"),
            "warnings": result.get("warnings", []),
            "options": self.options,
            **({"accounting": dict(self.accounting)} if self.accounting else {}),
            **({"fitted_range": self.fitted_range_.to_dict()} if self.fitted_range_ else {}),
            **({"published": self.published_name, "source": self.source}
               if self.published_name else {}),
        }

    # --- Parameters in optimiser space ---------------------------------------------------
    def theta_from_params(self, params: Mapping[str, float]) -> np.ndarray:
        """Natural parameters -> optimiser vector (log of the positive scales)."""
        missing = [p for p in self.param_names if p not in params]
        if missing:
            raise ScalinglabError(f"{self.name} law: missing parameter(s) {', '.join(missing)}")
        with np.errstate(divide="ignore"):
            return np.array(
                [np.log(params[p]) if p in self.log_params else float(params[p])
                 for p in self.param_names],
                dtype=float,
            )

    def params_from_theta(self, theta: np.ndarray) -> dict[str, float]:
        """Optimiser vector -> natural parameters (a runaway resample may overflow to inf)."""
        with np.errstate(over="ignore"):
            return {
                p: float(np.exp(t)) if p in self.log_params else float(t)
                for p, t in zip(self.param_names, theta, strict=True)
            }

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [self.exponent_bounds.get(p, (None, None)) for p in self.param_names]

    # --- The form, for the fitting machine (subclasses implement) ------------------------
    def log_inputs(self, data: pd.DataFrame | Mapping[str, Any], source: str) -> np.ndarray:
        """log of each input column, shape (len(inputs), n_rows); bad values name the row."""
        return np.log(np.stack([positive_column(data, c, source) for c in self.inputs]))

    def log_predict(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """log L for `theta` of shape (p,) or (k, p): result (n,) or (k, n)."""
        raise NotImplementedError

    def log_predict_jac(self, theta: np.ndarray, log_x: np.ndarray) -> ValueAndJacobian:
        """log L (n,) and its Jacobian with respect to theta (p, n)."""
        raise NotImplementedError

    def start_candidates(self, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
        """Starting points (k, p) in optimiser space, to be screened by their objective."""
        raise NotImplementedError

    def recentre(self, theta: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """The same curve's theta (p,) or (k, p) when log inputs are measured from `shift`.

        The fitting machine optimises with centred log inputs (log x - mean): that decouples
        each scale from its exponent (e.g. log A from alpha) and halves the L-BFGS iterations.
        `recentre(recentre(theta, s), -s)` is `theta`.
        """
        raise NotImplementedError


def positive_column(
    data: pd.DataFrame | Mapping[str, Any], column: str, source: str
) -> np.ndarray:
    """A column as finite positive floats, or a one-line error naming column, row and value."""
    if column not in data:
        have = list(data.columns) if isinstance(data, pd.DataFrame) else list(data)
        raise ScalinglabError(
            f"{source}: missing column {column!r} (have: {', '.join(map(str, have)) or 'none'})"
        )
    raw = data[column]
    values = np.atleast_1d(np.asarray(pd.to_numeric(pd.Series(np.atleast_1d(raw)), errors="coerce"),
                                      dtype=float))
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = np.atleast_1d(np.asarray(raw, dtype=object))[row]
        raise ScalinglabError(
            f"{source}: row {row + 1}, column {column!r}: {shown!r} must be a positive number"
        )
    return values


def theta_grid(*axes: np.ndarray) -> np.ndarray:
    """Cartesian product of 1-D axes as rows of an (n, len(axes)) array."""
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1)
