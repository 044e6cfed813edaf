"""Modalities: the same sweep on several corpora, each with L = E + (C0/C)^a and N_opt(C).

Henighan et al. (2020) fitted L(C) = E + (C0/C)^a per modality (images, video, math, text) and
found the compute-optimal model size N_opt(C) follows nearly one trajectory for all of them.
Here each corpus of a measurements table (column `corpus`) gets its envelope fit
(`analyses.envelope`): L(C) through the lower envelope and Approach 1's N_opt ∝ C^a. Whether
the corpora share one N_opt exponent is read from the difference of each corpus's exponent from
the first corpus's, with a 95% interval (the corpora are fitted on disjoint runs, so their
bootstraps are independent; each interval is taken as a normal's): consistent with one
trajectory when every difference's interval holds 0, different when any excludes it.
Overlapping intervals are not the test: two 95% intervals can overlap while their difference
excludes zero.

The check that E is really the data's entropy: on `markov` the irreducible loss is known
exactly (`data.markov`). A model that has seen k tokens of a window can do no better than the
source's conditional entropy given k tokens, which equals the entropy rate H once k reaches
the chain's order; averaged over a window of n_ctx positions the floor is

    floor = (H(X_1..X_order) - H(X_1) + (n_ctx - order + 1) H) / n_ctx,

a hair above H (positions 1..order-1 lack full context). It is exact for the positions the
lab scores: the markov validation split is one chain, so no window crosses into another chain
(`data.markov`; the source's own probabilities score the floor to 0.15% on them, tested).

The fitted E must hold this floor inside its bootstrap interval and lie within
`E_TOLERANCE` (2%) of it. The interval alone is not enough: a wide interval holds almost any
floor, and a narrow one can miss by a hair that does not matter. Two percent (a chosen round
number) is ~0.04 nats at the default source, six standard errors of the validation set's own
noise (0.007 nats on the default 16,384 tokens), so a miss beyond it is the fit's, not the
measurement's; an E that misses by more has not found the data's entropy. Verdicts:
reproduced (within 2%, and the floor inside the interval when there is one), not identifiable
(inside, but E more than 2% off: the interval is too wide to test; or E not identified by the
runs at all, e.g. pushed to zero by a curve the law does not describe), not reproduced (the
floor outside the interval, or E more than 2% off with no interval). Beside E, the best run's
own loss against the floor is reported: a model-free upper bound on how close training got.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analyses.envelope import EnvelopeFit, fit_envelope
from scalinglab.analyses.fitted import FIT_ERRORS, fmt
from scalinglab.errors import ScalinglabError

# The engine's markov corpus (`data.get_corpus("markov")` as `train_run` builds it).
MARKOV_DEFAULTS = {"vocab_size": 16, "order": 2, "seed": 0, "concentration": 0.5}
DEFAULT_N_CTX = 128  # `Corpus.n_ctx_default`, used when the table has no `n_ctx` column
E_TOLERANCE = 0.02  # |E - floor| / floor that still counts as "E is the entropy" (see above)


def _entropy(probabilities: np.ndarray) -> float:
    p = probabilities[probabilities > 0]
    return float(-(p * np.log(p)).sum())


def markov_entropy(vocab_size: int = 16, order: int = 2, seed: int = 0,
                   concentration: float = 0.5, n_ctx: int | None = None) -> tuple[float, float]:
    """The markov source's entropy rate H and the best mean loss over a window of `n_ctx`.

    Both in nats per token; computed from the transition matrix and its stationary
    distribution, without sampling. With `n_ctx` None the floor is H itself.
    """
    from scalinglab.data.markov import entropy_rate, stationary, transition_matrix

    P = transition_matrix(vocab_size, order, concentration, seed)
    pi = stationary(P)
    H = entropy_rate(P, pi)
    if n_ctx is None:
        return H, H
    if n_ctx < order:
        raise ScalinglabError(f"markov: n_ctx {n_ctx} is shorter than the order {order}")
    # A state is the last `order` tokens, oldest first; its last token is state % vocab_size.
    last_token = np.bincount(np.arange(len(pi)) % vocab_size, weights=pi, minlength=vocab_size)
    floor = (_entropy(pi) - _entropy(last_token) + (n_ctx - order + 1) * H) / n_ctx
    return H, float(floor)


@dataclass
class EntropyCheck:
    """Fitted E of the markov corpus against the source's exact loss floor."""

    entropy_rate: float  # H, nats/token
    loss_floor: float  # best mean loss over a window of n_ctx (what E estimates)
    n_ctx: int
    fitted_e: float
    interval: tuple[float, float]  # 95% bootstrap interval of E (NaN without a bootstrap)
    source: dict[str, Any]
    not_identified: str = ""  # why the runs do not identify E ("" when they do)
    best_loss: float = float("nan")  # the lowest loss any markov run measured

    @property
    def inside(self) -> bool | None:
        """Is the floor inside E's interval? None without an interval."""
        lo, hi = self.interval
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return None
        return bool(lo <= self.loss_floor <= hi)

    @property
    def relative_error(self) -> float:
        """(E - floor) / floor."""
        return (self.fitted_e - self.loss_floor) / self.loss_floor

    @property
    def within_tolerance(self) -> bool:
        """Is E within `E_TOLERANCE` of the floor?"""
        return bool(abs(self.relative_error) <= E_TOLERANCE)

    @property
    def verdict(self) -> str:
        """reproduced, not identifiable or not reproduced (see the module doc)."""
        if self.not_identified:
            return "not identifiable"
        if self.inside is False:
            return "not reproduced"
        if self.within_tolerance:
            return "reproduced"
        return "not identifiable" if self.inside else "not reproduced"

    def text(self) -> str:
        lo, hi = self.interval
        floor = (f"exact floor {self.loss_floor:.4f} (entropy rate H = {self.entropy_rate:.4f}, "
                 f"n_ctx {self.n_ctx}) nats/token")
        gap = 100 * (self.best_loss / self.loss_floor - 1)
        best = f"; the lowest loss measured is {gap:+.2f}% from it" if np.isfinite(gap) else ""
        if self.not_identified:
            return (f"markov: E not identified by these runs ({self.not_identified}); the "
                    f"{floor} cannot test it{best}: {self.verdict}")
        where = {True: "floor inside E's interval", False: "floor OUTSIDE E's interval",
                 None: "no interval to check"}[self.inside]
        within = "within" if self.within_tolerance else "not within"
        return (f"markov: fitted E = {fmt(self.fitted_e)} [{fmt(lo)}, {fmt(hi)}], {floor}: "
                f"{where}; E - floor = {100 * self.relative_error:+.1f}%, {within} the "
                f"{100 * E_TOLERANCE:g}% tolerance{best}: {self.verdict}")

    def to_dict(self) -> dict[str, Any]:
        return {"entropy_rate": self.entropy_rate, "loss_floor": self.loss_floor,
                "n_ctx": self.n_ctx, "fitted_e": self.fitted_e, "interval": list(self.interval),
                "inside": self.inside, "relative_error": self.relative_error,
                "tolerance": E_TOLERANCE, "within_tolerance": self.within_tolerance,
                "verdict": self.verdict, "source": dict(self.source),
                "not_identified": self.not_identified, "best_loss": self.best_loss,
                "summary": self.text()}


@dataclass
class Modalities:
    """Per corpus: its envelope fit; why a corpus has none; the N_opt verdict; the markov check."""

    family: str
    corpora: dict[str, EnvelopeFit] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    markov: EntropyCheck | None = None

    def n_opt_exponents(self) -> dict[str, tuple[float, float, float]]:
        """Corpus -> (N_opt exponent, lo, hi) for the corpora with an allocation."""
        out = {}
        for corpus, fit in self.corpora.items():
            if fit.allocation is None:
                continue
            lo, hi = fit.allocation.intervals.get("n_opt_exponent", (np.nan, np.nan))
            out[corpus] = (float(fit.allocation.fit.n_exponent), float(lo), float(hi))
        return out

    def exponent_differences(self) -> dict[str, tuple[float, float, float]]:
        """Corpus -> (its N_opt exponent minus the first corpus's, lo, hi) for every other
        corpus with an interval (module doc)."""
        spans = {c: v for c, v in self.n_opt_exponents().items()
                 if np.isfinite(v[1]) and np.isfinite(v[2])}
        if len(spans) < 2:
            return {}
        (base, (b, b_lo, b_hi)), *others = spans.items()
        out = {}
        for corpus, (value, lo, hi) in others:
            sd = np.hypot((hi - lo) / 3.92, (b_hi - b_lo) / 3.92)
            diff = value - b
            out[f"{corpus} - {base}"] = (diff, diff - 1.96 * sd, diff + 1.96 * sd)
        return out

    @property
    def one_trajectory(self) -> bool | None:
        """Does every exponent difference's interval hold 0? None with fewer than two."""
        differences = self.exponent_differences()
        if not differences:
            return None
        return all(lo <= 0 <= hi for _, lo, hi in differences.values())

    def summary(self) -> str:
        parts = []
        for corpus, fit in self.corpora.items():
            text = f"{corpus}: {fit.loss_law.param_text(['E', 'a'])}"
            if fit.allocation is not None:
                text += f", {fit.allocation.text().split(', D_opt')[0]}"
            parts.append(text)
        verdict = {True: "N_opt exponents consistent with one trajectory",
                   False: "N_opt exponents differ between corpora",
                   None: "too few N_opt intervals to compare"}[self.one_trajectory]
        differences = "; ".join(f"{k}: {fmt(d)} [{fmt(lo)}, {fmt(hi)}]"
                                for k, (d, lo, hi) in self.exponent_differences().items())
        text = "; ".join(parts) + f". {verdict}" + (f" ({differences})" if differences else "")
        text += "."
        if self.markov is not None:
            text += f" {self.markov.text()}."
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "corpora": {k: v.to_dict() for k, v in self.corpora.items()},
            "skipped": dict(self.skipped),
            "n_opt_exponents": {k: {"exponent": v[0], "interval": [v[1], v[2]]}
                                for k, v in self.n_opt_exponents().items()},
            "exponent_differences": {k: {"difference": v[0], "interval": [v[1], v[2]]}
                                     for k, v in self.exponent_differences().items()},
            "one_trajectory": self.one_trajectory,
            "markov": None if self.markov is None else self.markov.to_dict(),
            "summary": self.summary(),
        }


def modalities(
    table: pd.DataFrame,
    n_resamples: int = 200,
    seed: int = 0,
    family: str | None = None,
    markov_source: dict[str, Any] | None = None,
) -> Modalities:
    """Envelope fits per corpus of `table` for one family, and the markov entropy check.

    `family` defaults to transformer when present, else the commonest. `markov_source` gives
    the markov corpus's `vocab_size`, `order`, `seed`, `concentration` (default: the engine's);
    `n_ctx` comes from the table's `n_ctx` column, else 128.
    """
    if "corpus" not in table.columns:
        raise ScalinglabError("modalities: the table has no 'corpus' column")
    families = table["family"].astype(str)
    if family is None:
        family = "transformer" if (families == "transformer").any() else families.mode().iloc[0]
    elif family not in set(families):
        raise ScalinglabError(f"family {family!r} is not in the table; allowed: "
                              f"{', '.join(sorted(set(families)))}")
    rows = table[families == family]
    out = Modalities(family=family)
    for corpus in sorted(rows["corpus"].astype(str).unique()):
        group = rows[rows["corpus"].astype(str) == corpus].reset_index(drop=True)
        try:
            out.corpora[corpus] = fit_envelope(corpus, group, n_resamples, seed,
                                               require_allocation=False)
        except FIT_ERRORS as error:
            out.skipped[corpus] = str(error).strip().splitlines()[0] or type(error).__name__
    if "markov" in out.corpora:
        out.markov = entropy_check(out.corpora["markov"], markov_source)
    return out


def entropy_check(fit: EnvelopeFit, markov_source: dict[str, Any] | None = None
                  ) -> EntropyCheck:
    """Compare a markov envelope's fitted E with the source's exact loss floor."""
    source = {**MARKOV_DEFAULTS, **(markov_source or {})}
    unknown = set(source) - set(MARKOV_DEFAULTS)
    if unknown:
        raise ScalinglabError(f"markov source: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"allowed: {', '.join(MARKOV_DEFAULTS)}")
    n_ctx = DEFAULT_N_CTX
    if "n_ctx" in fit.rows.columns and fit.rows["n_ctx"].notna().any():
        values = fit.rows["n_ctx"].dropna().astype(int).unique()
        if len(values) > 1:
            raise ScalinglabError(f"markov runs use several n_ctx ({', '.join(map(str, values))})"
                                  "; the loss floor depends on it: compare one n_ctx at a time")
        n_ctx = int(values[0])
    H, floor = markov_entropy(int(source["vocab_size"]), int(source["order"]),
                              int(source["seed"]), float(source["concentration"]), n_ctx)
    interval = fit.loss_law.intervals.get("E", (float("nan"), float("nan")))
    known = fit.loss_law.identification.get("E")
    why = "" if known is None or known.identified else (known.reason or "not identified")
    best = float(fit.rows["loss"].min()) if len(fit.rows) else float("nan")
    return EntropyCheck(H, floor, n_ctx, float(fit.params["E"]), interval, source, why, best)
