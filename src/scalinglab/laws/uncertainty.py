"""Uncertainty that keeps the design: the one bootstrap every analysis of the lab uses.

A resample must keep what the experiment was (science.md, section 3): every model size, every
token count, every branch. Resampling "runs" of a sweep in which each size has one run would
resample sizes, and a quarter of the resamples of a six-size design hold three sizes or fewer,
exactly determining a three-parameter law: the intervals then measure the resampling, not the
science. So a resample is made in one of three ways (`method`, docs/uncertainty.md argues why):

- "parametric": every row kept; new log losses drawn from the fitted law plus the measured noise
  (`NoiseModel`): an offset per run (seed noise, shared by the rows of one trained model) and an
  independent term per row. The noise comes from seed replicates where the data have them, and
  otherwise from the fit's residuals, in which case the intervals exclude seed noise and say so.
- "seeds": the runs of each configuration (family, corpus, size, budget) resampled among
  themselves: every configuration stays, with a new draw of its seeds. Needs >= 2 seeds each.
- "cases": runs drawn with replacement (Efron's case bootstrap). Right only when runs are
  independent single measurements and numerous (Besiroglu et al. 2024 on Chinchilla's 245
  models), so one resample rarely loses a region of the design.

"auto" takes "cases" when every run is a single row and there are at least `MIN_CASES` runs,
and "parametric" otherwise. Every refit starts from the full-data optimum plus the best screened
grid starts; resample draws come from one seeded generator in the parent process, so the samples
do not depend on `n_jobs`. Failed refits (not converged, non-finite) are counted, never hidden.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import Law, positive_column
from scalinglab.laws.fitting import multistart, screen
from scalinglab.progress import report

METHODS = ("auto", "parametric", "seeds", "cases")
INTERVALS = ("auto", "percentile", "basic")
# "auto" resamples cases only with at least this many single-row runs (Chinchilla has 245).
MIN_CASES = 30
# Local runs per resample of runs (cases, seeds): the full-data optimum, then the best screened
# grid starts up to this many. On the Chinchilla data a third start agreed with the first two in
# 997 of 1000 resamples. A parametric resample is drawn around the full-data optimum, which is
# its natural start: one local run (a grid start added nothing on the quick demo's L(N, D) but
# 7 of 100 unconverged refits, and tripled the time).
DEFAULT_STARTS_PER_RESAMPLE = 2
PARAMETRIC_STARTS_PER_RESAMPLE = 1
# Resamples per parallel task (bigger chunks amortise process start-up and pickling).
CHUNKS_PER_JOB = 4
SERIAL_CHUNKS = 20  # a serial bootstrap reports its progress 20 times
# Columns that, with the run's budget (its largest token count), name one configuration:
# runs that share them and differ in `seed` are seed replicates.
CONFIGURATION_COLUMNS = ("family", "corpus", "params_nonembedding", "params")


@dataclass(frozen=True)
class NoiseModel:
    """Log-space noise of one measured loss: `run_sd` shared by a run's rows, `row_sd` per row.

    `source` is "seeds" (measured from `n_replicated` configurations trained with several
    seeds) or "residuals" (one seed per configuration: the fit's residual spread, which cannot
    separate seed noise from evaluation noise and excludes the seed-to-seed spread of a new run).
    """

    run_sd: float
    row_sd: float
    source: str
    n_replicated: int = 0

    @property
    def total_sd(self) -> float:
        """Spread of one new measurement around the law (a new run, one evaluation)."""
        return float(np.hypot(self.run_sd, self.row_sd))

    @property
    def includes_seed_noise(self) -> bool:
        return self.source == "seeds"

    def describe(self) -> str:
        if self.includes_seed_noise:
            return (f"seed noise {100 * self.run_sd:.2g}% per run and {100 * self.row_sd:.2g}% "
                    f"per evaluation, measured from {self.n_replicated} configurations "
                    "trained with several seeds")
        return (f"noise {100 * self.run_sd:.2g}% per run and {100 * self.row_sd:.2g}% per "
                "evaluation from the fit's residuals; one seed per configuration, so seed "
                "noise is not measured and intervals exclude it")

    def to_dict(self) -> dict[str, Any]:
        return {"run_sd": self.run_sd, "row_sd": self.row_sd, "total_sd": self.total_sd,
                "source": self.source, "n_replicated": self.n_replicated,
                "includes_seed_noise": self.includes_seed_noise, "text": self.describe()}


def configurations(table: pd.DataFrame) -> pd.Series:
    """A label per row naming its configuration: the run's settings except its seed."""
    columns = [c for c in CONFIGURATION_COLUMNS if c in table.columns]
    budget = table.groupby(table["run"].astype(str))["tokens"].transform("max") \
        if "tokens" in table.columns else pd.Series(0, index=table.index)
    parts = [table[c].astype(str) for c in columns] + [budget.map("{:.6g}".format)]
    label = parts[0]
    for part in parts[1:]:
        label = label + "|" + part
    return label


def replicate_groups(table: pd.DataFrame) -> list[list[str]]:
    """Run ids of each configuration trained with two or more seeds (needs a `seed` column)."""
    if "seed" not in table.columns or "run" not in table.columns:
        return []
    runs = table.assign(_config=configurations(table), _run=table["run"].astype(str))
    groups = runs.groupby("_config")["_run"].unique()
    return [sorted(map(str, g)) for g in groups if len(g) >= 2]


def seed_noise(table: pd.DataFrame, log_loss: np.ndarray | None = None) -> NoiseModel | None:
    """Run and row noise from seed replicates (two-way ANOVA, seeds x token counts), or None.

    Within each configuration, the log losses at token counts every seed measured form a
    seeds x cells matrix; the residual mean square estimates row_sd^2, and the seed mean square
    row_sd^2 + m run_sd^2 (m cells). Both are pooled over configurations.
    """
    groups = replicate_groups(table)
    if not groups:
        return None
    y = np.log(table["loss"].to_numpy(float)) if log_loss is None else log_loss
    frame = pd.DataFrame({"run": table["run"].astype(str).to_numpy(),
                          "tokens": np.round(table["tokens"].to_numpy(float)), "y": y})
    ss_res = df_res = ss_seed = df_seed = weight = 0.0
    for runs in groups:
        cells = frame[frame["run"].isin(runs)].pivot_table(index="run", columns="tokens",
                                                           values="y", aggfunc="mean")
        cells = cells.dropna(axis=1)
        k, m = cells.shape
        if m == 0:
            continue
        values = cells.to_numpy()
        row_means, col_means = values.mean(axis=1), values.mean(axis=0)
        grand = values.mean()
        ss_seed += m * float(np.sum((row_means - grand) ** 2))
        df_seed += k - 1
        weight += (k - 1) * m
        resid = values - row_means[:, None] - col_means[None, :] + grand
        ss_res += float(np.sum(resid**2))
        df_res += (k - 1) * (m - 1)
    if df_seed == 0:
        return None
    row_var = ss_res / df_res if df_res > 0 else 0.0
    run_var = max(0.0, (ss_seed - df_seed * row_var) / weight)
    return NoiseModel(float(np.sqrt(run_var)), float(np.sqrt(row_var)), "seeds", len(groups))


def residual_noise(residuals: np.ndarray, runs: pd.Series | np.ndarray,
                   n_params: int) -> NoiseModel:
    """Run and row noise from a fit's log residuals (one seed per configuration).

    Within-run scatter around each run's mean residual gives row_sd; the spread of run means
    beyond what row noise explains gives run_sd, counting the fit's parameters against the
    runs' degrees of freedom (conservative: a law spends some of them on the size trend).
    Seed noise is not separated from misfit here, and the source says so.
    """
    codes, _ = pd.factorize(pd.Series(np.asarray(runs)).astype(str))
    n_runs = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_runs)
    means = np.bincount(codes, weights=residuals, minlength=n_runs) / counts
    within = residuals - means[codes]
    if residuals.size > n_runs:
        row_var = float(np.sum(within**2)) / (residuals.size - n_runs)
    else:  # one row per run: all scatter is per row
        row_var = float(np.sum(residuals**2)) / max(1, residuals.size - n_params)
        return NoiseModel(0.0, float(np.sqrt(row_var)), "residuals")
    between_df = max(1, n_runs - n_params)
    ms_between = float(np.sum(counts * means**2)) / between_df
    run_var = max(0.0, (ms_between - row_var) / float(np.mean(counts)))
    return NoiseModel(float(np.sqrt(run_var)), float(np.sqrt(row_var)), "residuals")


def noise_model(law: Law, table: pd.DataFrame, source: str = "table") -> NoiseModel:
    """The noise a parametric resample draws: seed replicates where measured, else residuals.

    With seeds, evaluation noise is the larger of the seed ANOVA's and what the residuals leave
    after seed noise: a law that misfits its data gets wider intervals, not narrower ones.
    """
    log_y = np.log(positive_column(table, "loss", source))
    residuals = log_y - np.log(law.predict(table))
    from_residuals = residual_noise(residuals, table["run"], law.n_params)
    seeds = seed_noise(table, log_y)
    if seeds is None:
        return from_residuals
    row_var = max(seeds.row_sd**2, from_residuals.total_sd**2 - seeds.run_sd**2)
    return NoiseModel(seeds.run_sd, float(np.sqrt(row_var)), "seeds", seeds.n_replicated)


def choose_method(table: pd.DataFrame, method: str = "auto") -> str:
    """The resampling scheme for `table` (see the module doc); explicit choices are checked."""
    if method not in METHODS:
        raise ScalinglabError(f"unknown bootstrap method {method!r}; choose {', '.join(METHODS)}")
    runs = table["run"].astype(str)
    if method == "auto":
        single_rows = runs.nunique() == len(table)
        return "cases" if single_rows and len(table) >= MIN_CASES else "parametric"
    if method == "seeds":
        configs = pd.DataFrame({"config": configurations(table), "run": runs})
        seeds_per_config = configs.groupby("config")["run"].nunique()
        if "seed" not in table.columns or seeds_per_config.min() < 2:
            raise ScalinglabError(
                "bootstrap method 'seeds' needs at least 2 seeds of every configuration; "
                f"{int((seeds_per_config < 2).sum())} configuration(s) have one"
            )
    return method


def case_resamples(runs: pd.Series | np.ndarray, n_resamples: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices of each resample: as many runs as there are, drawn with replacement,
    each bringing all of its rows."""
    run_codes, _ = pd.factorize(pd.Series(np.asarray(runs)).astype(str))
    rows_of_run = [np.flatnonzero(run_codes == code) for code in range(run_codes.max() + 1)]
    draws = rng.integers(0, len(rows_of_run), size=(n_resamples, len(rows_of_run)))
    return [np.concatenate([rows_of_run[r] for r in draw]) for draw in draws]


def run_resamples(runs: pd.Series | np.ndarray, n_resamples: int, seed: int) -> list[np.ndarray]:
    """`case_resamples` with its own seeded generator."""
    return case_resamples(runs, n_resamples, np.random.default_rng(seed))


def seed_resamples(table: pd.DataFrame, n_resamples: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices of each resample: within every configuration, its runs drawn with
    replacement (so every size and budget of the design is in every resample)."""
    configs = configurations(table).to_numpy()
    runs = table["run"].astype(str).to_numpy()
    plan = []
    for config in pd.unique(configs):
        members = pd.unique(runs[configs == config])
        plan.append([np.flatnonzero(runs == r) for r in members])
    out = []
    for _ in range(n_resamples):
        parts = []
        for rows_of_run in plan:
            for r in rng.integers(0, len(rows_of_run), size=len(rows_of_run)):
                parts.append(rows_of_run[r])
        out.append(np.concatenate(parts))
    return out


def parametric_draws(centre: np.ndarray, runs: pd.Series | np.ndarray, noise: NoiseModel,
                     n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Log losses (n_resamples, n_rows): `centre` plus a run offset and per-row noise."""
    run_codes, _ = pd.factorize(pd.Series(np.asarray(runs)).astype(str))
    n_runs = int(run_codes.max()) + 1
    offsets = rng.normal(0.0, noise.run_sd, size=(n_resamples, n_runs))[:, run_codes]
    return centre[None, :] + offsets + rng.normal(0.0, noise.row_sd,
                                                  size=(n_resamples, centre.size))


@dataclass
class Bootstrap:
    """Parameter samples from refits on design-keeping resamples, and intervals from them."""

    law: Law
    samples: pd.DataFrame  # one row per resample, one column per parameter (natural units)
    converged: np.ndarray = field(repr=False)  # bool per resample
    n_starts_at_best: np.ndarray = field(repr=False)  # int per resample
    seed: int = 0
    method: str = "cases"
    noise: NoiseModel | None = None
    interval: str = "percentile"
    # The lowest measured loss of the rows fitted: E, the loss no model goes below, cannot lie
    # above it, so no interval of E reaches past it (a reflected one could).
    lowest_loss: float | None = None

    @property
    def n_resamples(self) -> int:
        return len(self.samples)

    @property
    def ok(self) -> np.ndarray:
        """Resamples whose refit converged to finite parameters."""
        finite = np.isfinite(self.samples.to_numpy(float)).all(axis=1)
        return finite & self.converged

    @property
    def n_converged(self) -> int:
        return int(self.ok.sum())

    @property
    def n_failed(self) -> int:
        return self.n_resamples - self.n_converged

    def interval_of(self, values: np.ndarray, point: np.ndarray | float,
                    level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """The interval of a quantity from its per-resample `values` (successful resamples).

        "percentile": the resamples' quantiles; "basic": reflected around the point estimate
        (2 point - quantiles), which corrects a resampling bias of a nonlinear estimator.
        """
        values = np.asarray(values, float)[self.ok]
        lo_q, hi_q = _tails(level)
        if values.shape[0] == 0:
            nan = np.full(np.shape(point), np.nan)
            return nan, nan
        with np.errstate(all="ignore"):
            lo = np.nanpercentile(values, lo_q, axis=0)
            hi = np.nanpercentile(values, hi_q, axis=0)
        if self.interval == "basic":
            point = np.asarray(point, float)
            lo, hi = 2 * point - hi, 2 * point - lo
        return lo, hi

    def log_interval(self, values: np.ndarray, point: np.ndarray | float,
                      level: float) -> tuple[np.ndarray, np.ndarray]:
        """Interval of a positive quantity, reflected in log space for "basic"."""
        with np.errstate(all="ignore"):
            lo, hi = self.interval_of(np.log(values), np.log(point), level)
        return np.exp(lo), np.exp(hi)

    def intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Interval of every parameter, e.g. {"alpha": (0.32, 0.37)}; a reflected ("basic")
        end beyond a parameter's bound is held at the bound."""
        out = {}
        for name, (low, high) in zip(self.law.param_names, self.law.bounds(), strict=True):
            values = self.samples[name].to_numpy(float)
            point = self.law.params_[name]
            if name in self.law.log_params:
                lo, hi = self.log_interval(values, point, level)
                if name == "E" and self.lowest_loss is not None and hi > self.lowest_loss:
                    lo, hi = self._percentile_e(values, level)
            else:
                lo, hi = self.interval_of(values, point, level)
                lo, hi = np.clip([lo, hi], -np.inf if low is None else low,
                                 np.inf if high is None else high)
            out[name] = (float(lo), float(hi))
        return out

    def _percentile_e(self, values: np.ndarray, level: float) -> tuple[float, float]:
        """E's interval where reflection puts it above the lowest measured loss: the
        resamples' own quantiles (inside E's domain), held at that loss."""
        assert self.lowest_loss is not None
        lo_q, hi_q = _tails(level)
        kept = np.asarray(values, float)[self.ok]
        with np.errstate(all="ignore"):
            lo, hi = np.nanpercentile(kept, lo_q), np.nanpercentile(kept, hi_q)
        return float(min(lo, self.lowest_loss)), float(min(hi, self.lowest_loss))

    def laws(self) -> list[Law]:
        """One fitted law per resample (same options as the full fit)."""
        out = []
        for row in self.samples.to_dict("records"):
            law = self.law.clone()
            law.params_ = {k: float(v) for k, v in row.items()}
            out.append(law)
        return out

    def quantity(
        self, compute: Callable[[Law], Any], level: float = 0.95, positive: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Interval of any quantity computed from a law (a float or an array); a resample
        where it cannot be computed counts as NaN."""
        values = []
        for law in self.laws():
            try:
                values.append(np.asarray(compute(law), float))
            except (ScalinglabError, ValueError, ArithmeticError):
                values.append(np.full(np.shape(compute(self.law)), np.nan))
        point = np.asarray(compute(self.law), float)
        stacked = np.array(values)
        if positive:
            return self.log_interval(stacked, point, level)
        return self.interval_of(stacked, point, level)

    def derived_intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Intervals of the law's derived quantities (e.g. Chinchilla's allocation exponents)."""
        names = list(self.law.derived())
        out = {}
        for name in names:
            lo, hi = self.quantity(lambda law, name=name: law.derived().get(name, np.nan), level)
            out[name] = (float(lo), float(hi))
        return out

    def predictions(self, data: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Predicted loss of every resample at every row of `data`: shape (resamples, rows)."""
        theta = np.array([self.law.theta_from_params(r) for r in self.samples.to_dict("records")])
        with np.errstate(all="ignore"):
            return np.exp(self.law.log_predict(theta, self.law.log_inputs(data, "data")))

    def predict_interval(
        self, data: pd.DataFrame | Mapping[str, Any], level: float = 0.95,
        include_noise: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Interval of the law's predicted loss at each row of `data`.

        `include_noise`: an interval for a new measured run instead of the law's mean, with the
        noise model's run and row noise added to every resample's prediction.
        """
        preds = self.predictions(data)
        point = self.law.predict(data)
        if include_noise and self.noise is not None:
            rng = np.random.default_rng([self.seed, 1])
            preds = preds * np.exp(rng.normal(0.0, self.noise.total_sd, size=preds.shape))
        return self.log_interval(preds, point, level)

    def summary(self) -> dict[str, Any]:
        """How the intervals were made, for FIT.json, the report and the CLI."""
        return {"method": self.method, "interval": self.interval, "seed": self.seed,
                "n_resamples": self.n_resamples, "n_converged": self.n_converged,
                "n_failed": self.n_failed,
                "noise": None if self.noise is None else self.noise.to_dict()}


def bootstrap(
    law: Law,
    table: pd.DataFrame,
    n_resamples: int = 1000,
    seed: int = 0,
    n_jobs: int = 1,
    starts_per_resample: int | None = None,
    source: str = "table",
    method: str = "auto",
    interval: str = "auto",
    noise: NoiseModel | None = None,
) -> Bootstrap:
    """Refit `law` on `n_resamples` design-keeping resamples of `table` (see the module doc).

    Fits `law` on the full table first if it is not fitted (the law is not otherwise changed).
    `noise` overrides the measured noise model of a parametric bootstrap. `interval` "auto" is
    "basic" for a parametric bootstrap (it corrects the bias of a nonlinear fit's extrapolation;
    calibrated in docs/benchmarks.md) and "percentile" for resampled runs (Epoch's choice on
    Chinchilla's 245 runs, where the two agree). `n_jobs` > 1 (or -1
    for all cores) fits chunks of resamples in parallel processes; the result is the same for
    any `n_jobs`.
    """
    if n_resamples < 1:
        raise ScalinglabError(
            f"--bootstrap must be a positive number of resamples, got {n_resamples}"
        )
    if n_jobs == 0 or n_jobs < -1:
        raise ScalinglabError("--jobs must be a positive number of processes, or -1 for all cores")
    if interval not in INTERVALS:
        raise ScalinglabError(f"unknown interval {interval!r}; choose {', '.join(INTERVALS)}")
    if "run" not in table.columns:
        raise ScalinglabError(f"{source}: missing column 'run' (the bootstrap's unit is a run)")
    if law.params_ is None:
        law.fit(table, source)
    method = choose_method(table, method)
    if interval == "auto":
        interval = "basic" if method == "parametric" else "percentile"
    if starts_per_resample is None:
        starts_per_resample = (PARAMETRIC_STARTS_PER_RESAMPLE if method == "parametric"
                               else DEFAULT_STARTS_PER_RESAMPLE)
    log_x = law.log_inputs(table, source)
    log_y = np.log(positive_column(table, "loss", source))
    rng = np.random.default_rng(seed)

    if method == "parametric":
        noise = noise if noise is not None else noise_model(law, table, source)
        centre = np.log(law.predict(table))
        draws = parametric_draws(centre, table["run"], noise, n_resamples, rng)
        everything = np.arange(len(table))
        resamples = [(everything, draws[i]) for i in range(n_resamples)]
    else:
        rows = (case_resamples(table["run"], n_resamples, rng) if method == "cases"
                else seed_resamples(table, n_resamples, rng))
        resamples = [(r, log_y[r]) for r in rows]
        if noise is None:
            residuals = log_y - np.log(law.predict(table))
            noise = seed_noise(table, log_y) or residual_noise(residuals, table["run"],
                                                               law.n_params)

    starts = _resample_starts(law, log_x, log_y, starts_per_resample)
    chunks = [c for c in np.array_split(np.arange(n_resamples), _n_chunks(n_jobs, n_resamples))
              if len(c)]
    tasks = [(law.clone(), log_x, [resamples[i] for i in c], starts) for c in chunks]
    if n_jobs == 1 or len(tasks) == 1:
        results = (_fit_resamples(*task) for task in tasks)
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(
            delayed(_fit_resamples)(*task) for task in tasks
        )
    parts = []
    task_name = f"bootstrap ({law.name})"
    report(task_name, 0, n_resamples)
    for part in results:  # each resample is fitted alone: chunking changes no number
        parts.append(part)
        report(task_name, sum(len(p[1]) for p in parts), n_resamples)
    thetas = np.vstack([p[0] for p in parts])
    samples = pd.DataFrame([law.params_from_theta(t) for t in thetas], columns=law.param_names)
    return Bootstrap(
        law=law,
        samples=samples,
        converged=np.concatenate([p[1] for p in parts]),
        n_starts_at_best=np.concatenate([p[2] for p in parts]),
        seed=seed,
        method=method,
        noise=noise,
        interval=interval,
        lowest_loss=float(np.exp(log_y.min())),
    )


def _resample_starts(
    law: Law, log_x: np.ndarray, log_y: np.ndarray, n_starts: int
) -> list[np.ndarray]:
    """The full-data optimum, then the best distinct screened grid starts on the full data."""
    best = law.theta_from_params(law.params_)
    starts = [best]
    if n_starts > 1:
        candidates = law.start_candidates(log_x, log_y)
        values = screen(law, candidates, log_x, log_y)
        for i in np.argsort(values, kind="stable"):
            if len(starts) >= n_starts or not np.isfinite(values[i]):
                break
            if not any(np.allclose(candidates[i], s) for s in starts):
                starts.append(candidates[i])
    return starts


def _fit_resamples(
    law: Law,
    log_x: np.ndarray,
    resamples: list[tuple[np.ndarray, np.ndarray]],
    starts: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit each (rows, log losses) resample from the given starts; runs in a worker process
    when parallel."""
    thetas, converged, at_best = [], [], []
    empty = np.empty((0, law.n_params))
    for rows, log_y in resamples:
        theta, _, result = multistart(law, log_x[:, rows], log_y, empty, 0, forced=starts)
        thetas.append(theta)
        converged.append(result.converged and np.isfinite(result.objective))
        at_best.append(result.n_starts_at_best)
    return np.array(thetas), np.array(converged, bool), np.array(at_best, int)


def _n_chunks(n_jobs: int, n_resamples: int) -> int:
    if n_jobs == 1:  # serial: chunks only so that progress can be reported between them
        return max(1, min(n_resamples, SERIAL_CHUNKS))
    workers = (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    return max(1, min(n_resamples, workers * CHUNKS_PER_JOB))


def _tails(level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ScalinglabError(f"interval level must be between 0 and 1, got {level}")
    tail = 50.0 * (1.0 - level)
    return tail, 100.0 - tail


@dataclass(frozen=True)
class StatisticBootstrap:
    """Values of a statistic on design-keeping resamples of a table; failures counted."""

    values: np.ndarray  # (resamples, k); NaN rows where the statistic could not be computed
    method: str
    seed: int
    noise: NoiseModel | None

    @property
    def n_failed(self) -> int:
        return int((~np.isfinite(self.values).all(axis=1)).sum())

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        lo_q, hi_q = _tails(level)
        ok = self.values[np.isfinite(self.values).all(axis=1)]
        if len(ok) < 2:
            nan = np.full(self.values.shape[1], np.nan)
            return nan, nan
        return np.percentile(ok, lo_q, axis=0), np.percentile(ok, hi_q, axis=0)

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "seed": self.seed, "n_resamples": len(self.values),
                "n_failed": self.n_failed,
                "noise": None if self.noise is None else self.noise.to_dict()}


def bootstrap_statistic(
    table: pd.DataFrame,
    statistic: Callable[[pd.DataFrame], np.ndarray | Sequence[float]],
    n_resamples: int,
    seed: int = 0,
    method: str = "auto",
    noise: NoiseModel | None = None,
    errors: tuple[type[BaseException], ...] = (ScalinglabError, ValueError, ArithmeticError),
) -> StatisticBootstrap:
    """`statistic` (a table -> numbers function that prepares its own rows, e.g. an envelope
    and the allocation through it) on `n_resamples` design-keeping resamples of `table`.

    "parametric" perturbs every row's measured loss by the noise model (a run offset and row
    noise; `noise` defaults to the seed spread where measured); "seeds" and "cases" draw runs
    as for a law. A resample where the statistic fails is a NaN row, counted in `n_failed`.
    """
    method = choose_method(table, method)
    rng = np.random.default_rng(seed)
    log_y = np.log(table["loss"].to_numpy(float))
    if method == "parametric":
        if noise is None:
            noise = seed_noise(table, log_y)
        if noise is None:
            raise ScalinglabError(
                "a parametric bootstrap of this statistic needs a noise model: seed replicates "
                "in the data, or one measured elsewhere"
            )
        draws = parametric_draws(log_y, table["run"], noise, n_resamples, rng)
        tables = (table.assign(loss=np.exp(d)) for d in draws)
    else:
        rows = (case_resamples(table["run"], n_resamples, rng) if method == "cases"
                else seed_resamples(table, n_resamples, rng))
        tables = (table.iloc[r].reset_index(drop=True) for r in rows)
    values = []
    width = None
    for resample in tables:
        try:
            value = np.atleast_1d(np.asarray(statistic(resample), float))
            width = value.size
        except errors:
            value = None
        values.append(value)
    width = width or 1
    out = np.array([v if v is not None else np.full(width, np.nan) for v in values])
    return StatisticBootstrap(out, method, seed, noise)
