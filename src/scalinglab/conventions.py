"""Accounting conventions: which N a law reads and how compute C is counted, end to end.

A derived exponent such as a = beta/(alpha+beta) assumes C is proportional to N D in the
convention of the fit; small models are far from that (their output layer and attention cost
more than 6N per token), so a plan must find its optimum in the convention the law was fitted
in, and spend exactly the budget it was given. Porian et al. (2024) showed the convention alone
moves the compute-optimal exponent; `analyses.conventions` repeats their ablation on our runs.

    exact               N = all parameters,    C = the run's exact FLOPs (weights, attention,
                                               output layer), FLOPs per token from its shape
    exact-nonembedding  N = non-embedding,     C = exact FLOPs
    kaplan              N = non-embedding,     C = 6 N D (Kaplan et al. 2020)
    6nd                 N = all parameters,    C = 6 N D (Hoffmann et al. 2022's published runs)
    recorded            N and C as a table records them (a user's or a paper's table)

`Convention.view(table)` rewrites a measurements table so that `params` and `flops` hold the
convention's N and C: every fit, envelope and IsoFLOP profile downstream then reads one
convention without knowing about it. `TokenCost` gives FLOPs per token as a function of the
law's N, so decisions spend budgets in the same convention.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.accounting import (
    lstm_flops_per_token,
    lstm_params,
    transformer_flops_per_token,
    transformer_params,
)
from scalinglab.errors import ScalinglabError


@dataclass(frozen=True)
class Convention:
    """One way of counting N and C (see the module doc)."""

    name: str
    params_column: str  # "params" or "params_nonembedding"
    exact_flops: bool  # True: the recorded exact FLOPs; False: 6 N D with this N
    description: str

    def view(self, table: pd.DataFrame, source: str = "table") -> pd.DataFrame:
        """A copy of `table` whose `params` and `flops` are this convention's N and C.

        The recorded columns stay beside them as `params_total` and `flops_exact`.
        """
        need = [self.params_column, "tokens"] + (["flops"] if self.exact_flops else [])
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise ScalinglabError(
                f"{source}: the {self.name} convention needs column(s) {', '.join(missing)}"
            )
        n = table[self.params_column].astype(float)
        out = table.assign(params_total=table.get("params"), flops_exact=table.get("flops"))
        flops = out["flops"] if self.exact_flops else 6.0 * n * table["tokens"].astype(float)
        return out.assign(params=n, flops=flops)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params_column": self.params_column,
                "exact_flops": self.exact_flops, "description": self.description}


CONVENTIONS = {
    c.name: c
    for c in (
        Convention("exact", "params", True,
                   "N = all parameters; C = exact FLOPs (weights, attention, output layer)"),
        Convention("exact-nonembedding", "params_nonembedding", True,
                   "N = non-embedding parameters; C = exact FLOPs"),
        Convention("kaplan", "params_nonembedding", False,
                   "N = non-embedding parameters; C = 6ND (Kaplan et al. 2020)"),
        Convention("6nd", "params", False,
                   "N = all parameters; C = 6ND (Hoffmann et al. 2022)"),
        Convention("recorded", "params", True,
                   "N and C as recorded in the data (plans count C = 6ND)"),
    )
}


def default_convention(table: pd.DataFrame) -> str:
    """The lab's own runs (non-embedding counts recorded): exact FLOPs with non-embedding N,
    Kaplan's choice for small models; any other table: N and C as it records them."""
    counted = "params_nonembedding" in table.columns and not np.allclose(
        table["params_nonembedding"].astype(float), table["params"].astype(float))
    return "exact-nonembedding" if counted else "recorded"


def get_convention(name: str) -> Convention:
    if name not in CONVENTIONS:
        raise ScalinglabError(
            f"unknown convention {name!r}; choose one of {', '.join(CONVENTIONS)}"
        )
    return CONVENTIONS[name]


@dataclass(frozen=True)
class TokenCost:
    """Training FLOPs per token as a function of a law's N, in one convention.

    With `exact` False it is 6N. With `exact` True it is the exact count of the family's
    ladder shapes (`models.ladder`) at `vocab_size` and `n_ctx`, interpolated in log-log
    between shapes so an optimiser can move N continuously; `shape(n)` names the ladder shape
    a run would train.
    """

    exact: bool = False
    params_column: str = "params"
    family: str = "transformer"
    vocab_size: int = 256
    n_ctx: int = 128
    ladder: tuple[float, float] = field(default=(1e2, 1e11), repr=False)
    # Measured (N, FLOPs per token) of a table's runs, when their shapes are not known.
    measured: tuple[tuple[float, float], ...] = ()

    def flops_per_token(self, n: float | np.ndarray) -> np.ndarray:
        n = np.asarray(n, float)
        if not self.exact:
            return 6.0 * n
        if self.measured:
            return self._measured_per_token(n)
        counts, per_token = self._table[0], self._table[1]
        return np.exp(np.interp(np.log(n), np.log(counts), np.log(per_token),
                                left=np.nan, right=np.nan))

    def _measured_per_token(self, n: np.ndarray) -> np.ndarray:
        """Log-log interpolation between the runs' sizes; beyond them, the end segments'
        slopes carried on (one size: proportional to N)."""
        log_n = np.log([p[0] for p in self.measured])
        log_f = np.log([p[1] for p in self.measured])
        x = np.log(n)
        if len(log_n) == 1:
            return np.exp(log_f[0] + x - log_n[0])
        inside = np.interp(x, log_n, log_f)
        low = log_f[0] + (x - log_n[0]) * (log_f[1] - log_f[0]) / (log_n[1] - log_n[0])
        high = log_f[-1] + (x - log_n[-1]) * (log_f[-1] - log_f[-2]) / (log_n[-1] - log_n[-2])
        return np.exp(np.where(x < log_n[0], low, np.where(x > log_n[-1], high, inside)))

    def nearest_shape(self, n: float) -> tuple[Any, float, float]:
        """The family's ladder shape whose N (in this convention) is closest to `n` in log,
        with its exact N and FLOPs per token."""
        counts, per_token, shapes = self._table
        i = int(np.argmin(np.abs(np.log(counts) - np.log(n))))
        return shapes[i], float(counts[i]), float(per_token[i])

    def covers(self, n: float) -> bool:
        if not self.exact or self.measured:
            return n > 0
        counts = self._table[0]
        return bool(counts[0] <= n <= counts[-1])

    @cached_property
    def _table(self) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """The ladder's shapes sorted by N: (N, FLOPs per token, shape)."""
        from scalinglab.models.ladder import lstm_shape, transformer_shape

        make = transformer_shape if self.family == "transformer" else lstm_shape
        shapes = {make(float(n)) for n in np.geomspace(*self.ladder, 400)}
        rows = []
        for shape in shapes:
            if self.family == "transformer":
                counts = transformer_params(shape.n_layer, shape.d_model, self.vocab_size,
                                            self.n_ctx)
                per_token = transformer_flops_per_token(shape.n_layer, shape.d_model,
                                                        self.vocab_size, self.n_ctx)
            else:
                counts = lstm_params(shape.n_layer, shape.d_model, self.vocab_size)
                per_token = lstm_flops_per_token(shape.n_layer, shape.d_model, self.vocab_size)
            n = counts.total if self.params_column == "params" else counts.nonembedding
            rows.append((float(n), per_token, shape))
        rows.sort(key=lambda r: (r[0], r[1]))
        # Keep N strictly increasing so the interpolation is a function.
        kept = [rows[0]]
        for row in rows[1:]:
            if row[0] > kept[-1][0] and row[1] >= kept[-1][1]:
                kept.append(row)
        return (np.array([r[0] for r in kept]), np.array([r[1] for r in kept]),
                [r[2] for r in kept])

    def to_dict(self) -> dict[str, Any]:
        if self.measured:
            return {"exact": self.exact, "params_column": self.params_column,
                    "measured": [list(p) for p in self.measured]}
        return {"exact": self.exact, "params_column": self.params_column,
                "family": self.family, "vocab_size": self.vocab_size, "n_ctx": self.n_ctx}


def accounting_for(convention: Convention, table: pd.DataFrame | None = None,
                   **shape: Any) -> dict[str, Any]:
    """What a fitted law records about its convention (`Law.accounting`): the convention and,
    where known, the family, vocabulary and context its exact FLOPs per token need."""
    exact = convention.exact_flops and convention.name != "recorded"
    found = {**(_shape_settings(table) if table is not None and exact else {}),
             **{k: v for k, v in shape.items() if v}}
    if exact and table is not None and not {"family", "vocab_size", "n_ctx"} <= set(found):
        try:
            found = token_cost_for(convention, table).to_dict()
        except ScalinglabError:
            pass
    return {"convention": convention.name, "exact": exact,
            "params_column": convention.params_column, **(found if exact else {})}


def token_cost_for(convention: Convention, table: pd.DataFrame | None = None,
                   family: str | None = None, vocab_size: int | None = None,
                   n_ctx: int | None = None) -> TokenCost:
    """The `TokenCost` of a convention for the runs in `table` (family, vocabulary, context read
    from it where not given)."""
    if not convention.exact_flops or convention.name == "recorded":
        return TokenCost(exact=False, params_column=convention.params_column)
    found = _shape_settings(table) if table is not None else {}
    family = family or found.get("family")
    vocab_size = vocab_size or found.get("vocab_size")
    n_ctx = n_ctx or found.get("n_ctx")
    missing = [k for k, v in (("family", family), ("vocab_size", vocab_size), ("n_ctx", n_ctx))
               if not v]
    if missing and table is not None and {"flops", "tokens"} <= set(table.columns):
        # Shapes unknown: FLOPs per token as the runs measured them, by size.
        n = table[convention.params_column if convention.params_column in table.columns
                  else "params"].astype(float)
        per_token = (table["flops_exact" if "flops_exact" in table.columns else "flops"]
                     .astype(float) / table["tokens"].astype(float))
        by_size = per_token.groupby(n).median().sort_index()
        return TokenCost(exact=True, params_column=convention.params_column,
                         measured=tuple((float(k), float(v)) for k, v in by_size.items()))
    if missing:
        raise ScalinglabError(
            f"the {convention.name} convention plans with the model family's exact FLOPs per "
            f"token: give {', '.join('--' + m.replace('_', '-') for m in missing)}"
        )
    if family not in ("transformer", "lstm"):
        raise ScalinglabError(f"exact FLOPs per token are known for transformer and lstm, "
                              f"not {family!r}")
    return TokenCost(exact=True, params_column=convention.params_column, family=str(family),
                     vocab_size=int(vocab_size), n_ctx=int(n_ctx))


def _shape_settings(table: pd.DataFrame) -> dict[str, Any]:
    """Family, vocabulary and context of a table's runs, where the table records them."""
    found: dict[str, Any] = {}
    if "family" in table.columns and table["family"].nunique() == 1:
        found["family"] = str(table["family"].iloc[0])
    if "n_ctx" in table.columns and table["n_ctx"].nunique() == 1:
        found["n_ctx"] = int(table["n_ctx"].iloc[0])
    total = "params_total" if "params_total" in table.columns else "params"  # a view keeps it
    if {total, "params_nonembedding", "d_model"} <= set(table.columns):
        # Embeddings: a token table in and one out (untied), plus learned positions.
        row = table.iloc[0]
        embedding = float(row[total]) - float(row["params_nonembedding"])
        positions = found.get("n_ctx", 0) if found.get("family") == "transformer" else 0
        vocab = (embedding / float(row["d_model"]) - positions) / 2.0
        if vocab >= 1 and abs(vocab - round(vocab)) < 1e-6:
            found["vocab_size"] = int(round(vocab))
    return found
