"""Loss to downstream accuracy: the second stage of a two-stage scaling law.

Stage 1 is L(N, D) (any two-variable law of `laws`); stage 2 maps a run's loss to its accuracy
on a task. Both stages are fitted on the same runs, and a prediction chains them: the accuracy a
model of N parameters on D tokens reaches is acc(L(N, D)). Two forms, selectable:

- `sigmoid` (the Llama 3 report, 2024, section 3.2.1: accuracy as a sigmoid of the correct
  answer's loss): acc = floor + (ceiling - floor) / (1 + exp((L - L0) / s)), with floor and
  ceiling in [0, 1] (a known chance level fixes the floor) and s > 0;
- `exponential` (Gadre et al. 2024, "Language models scale reliably with over-training and on
  downstream tasks", Eq. 4: top-1 error = eps - k exp(-gamma L)): acc = 1 - eps + k exp(-gamma L),
  with eps in [0, 1] and k, gamma > 0.

Fitted by least squares on accuracy (both papers' choice) from a grid of starts, with the
optimiser's report kept (`FitResult`). `chained_interval` is the two-stage bootstrap: each of
stage 1's resamples of L(N, D) is paired with a resample of stage 2 refitted on runs drawn with
replacement, so the interval carries both stages' uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit

from scalinglab.errors import ScalinglabError
from scalinglab.laws.result import FitResult
from scalinglab.progress import report

FORMS = ("sigmoid", "exponential")
SAME_OPTIMUM_RTOL = 1e-6
LEVEL = 0.95


def _sigmoid(theta: np.ndarray, loss: np.ndarray) -> np.ndarray:
    floor, ceiling, l0, scale = theta
    return floor + (ceiling - floor) * expit(-(loss - l0) / scale)


def _exponential(theta: np.ndarray, loss: np.ndarray) -> np.ndarray:
    eps, k, gamma = theta
    return 1.0 - eps + k * np.exp(-gamma * loss)


_CURVES = {"sigmoid": _sigmoid, "exponential": _exponential}
PARAM_NAMES = {"sigmoid": ("floor", "ceiling", "L0", "s"), "exponential": ("eps", "k", "gamma")}


@dataclass
class AccuracyLaw:
    """acc(L) for one task, in one of `FORMS`; `fit` learns `params_` and `result_`.

    `chance` fixes the sigmoid's floor (e.g. 0.25 for four-way multiple choice).
    """

    form: str = "sigmoid"
    task: str = "task"
    chance: float | None = None
    params_: dict[str, float] | None = None
    result_: FitResult | None = None
    n_runs_: int = 0
    loss_range_: tuple[float, float] = (float("nan"), float("nan"))
    samples_: list[dict[str, float]] = field(default_factory=list)  # bootstrap refits

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ScalinglabError(f"unknown accuracy law {self.form!r}; choose "
                                  f"{', '.join(FORMS)}")
        if self.chance is not None and not 0.0 <= self.chance < 1.0:
            raise ScalinglabError(f"--chance must be in [0, 1), got {self.chance}")

    # --- fitting ---------------------------------------------------------------------------
    def fit(self, loss: np.ndarray, accuracy: np.ndarray,
            starts: list[np.ndarray] | None = None) -> AccuracyLaw:
        """Least squares on accuracy from a grid of starts (or the given ones); returns self."""
        loss, accuracy = _checked(loss, accuracy, self.task, self._n_free())
        theta, result = self._solve(loss, accuracy, starts)
        self.params_ = dict(zip(PARAM_NAMES[self.form], map(float, theta), strict=True))
        self.result_ = result
        self.n_runs_ = int(loss.size)
        self.loss_range_ = (float(loss.min()), float(loss.max()))
        return self

    def _n_free(self) -> int:
        return len(PARAM_NAMES[self.form]) - (self.form == "sigmoid" and self.chance is not None)

    def _bounds(self, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        spread = max(float(np.ptp(loss)), 1e-3)
        if self.form == "sigmoid":
            return (np.array([0.0, 0.0, loss.min() - 3 * spread, 1e-4 * spread]),
                    np.array([1.0, 1.0, loss.max() + 3 * spread, 10 * spread]))
        return np.array([0.0, 1e-12, 1e-4]), np.array([1.0, np.inf, 100.0 / loss.mean()])

    def _starts(self, loss: np.ndarray, accuracy: np.ndarray) -> list[np.ndarray]:
        spread = max(float(np.ptp(loss)), 1e-3)
        low, high = float(accuracy.min()), float(accuracy.max())
        if self.form == "sigmoid":
            floor = self.chance if self.chance is not None else max(0.0, low - 0.02)
            return [np.array([floor, min(1.0, max(high + 0.02, floor + 0.05)), l0, s * spread])
                    for l0 in np.quantile(loss, [0.1, 0.3, 0.5, 0.7, 0.9])
                    for s in (0.05, 0.2, 0.6)]
        starts = []
        for gamma in np.geomspace(0.1, 20.0, 12) / loss.mean():
            basis = np.exp(-gamma * loss)  # acc = (1 - eps) + k basis is linear: solve it
            k, intercept = np.polyfit(basis, accuracy, 1)
            eps = 1.0 - intercept
            starts.append(np.array([np.clip(eps, 0.0, 1.0), max(k, 1e-6), gamma]))
        return starts

    def _solve(self, loss: np.ndarray, accuracy: np.ndarray,
               starts: list[np.ndarray] | None = None) -> tuple[np.ndarray, FitResult]:
        curve = _CURVES[self.form]
        lo, hi = self._bounds(loss)
        fixed = self.form == "sigmoid" and self.chance is not None

        def full(free: np.ndarray) -> np.ndarray:
            return np.concatenate([[self.chance], free]) if fixed else free

        def residuals(free: np.ndarray) -> np.ndarray:
            theta = full(free)
            if self.form == "sigmoid" and theta[1] < theta[0]:  # ceiling below floor
                return np.full(loss.size, 1e3)
            return curve(theta, loss) - accuracy

        keep = slice(1, None) if fixed else slice(None)
        runs = []
        for start in starts if starts is not None else self._starts(loss, accuracy):
            start = np.clip(start, lo + 1e-12, np.where(np.isfinite(hi), hi - 1e-12, start))
            try:
                runs.append(least_squares(residuals, start[keep], bounds=(lo[keep], hi[keep]),
                                          method="trf", x_scale="jac", max_nfev=2000))
            except ValueError:
                continue
        if not runs:
            raise ScalinglabError(f"task {self.task!r}: the {self.form} accuracy law could not "
                                  "be fitted from any start")
        best = min(runs, key=lambda r: r.cost)
        at_best = sum(r.cost <= best.cost * (1 + SAME_OPTIMUM_RTOL) + 1e-15 for r in runs)
        theta = full(best.x)
        warnings = []
        for name, value, low, high in zip(PARAM_NAMES[self.form][fixed:], best.x, lo[keep],
                                          hi[keep], strict=True):
            if np.isclose(value, low) or (np.isfinite(high) and np.isclose(value, high)):
                warnings.append(f"{name} at the bound of its range ({value:.4g})")
        result = FitResult(converged=bool(best.success), objective=float(2 * best.cost),
                           n_starts=len(runs), n_starts_at_best=int(at_best),
                           message=str(best.message), n_points=int(loss.size),
                           warnings=tuple(warnings))
        return theta, result

    # --- using -----------------------------------------------------------------------------
    def predict(self, loss: np.ndarray | float) -> np.ndarray:
        if self.params_ is None:
            raise ScalinglabError(f"task {self.task!r}: the accuracy law is not fitted")
        theta = np.array([self.params_[k] for k in PARAM_NAMES[self.form]])
        return _CURVES[self.form](theta, np.asarray(loss, float))

    def with_params(self, params: dict[str, float]) -> AccuracyLaw:
        return AccuracyLaw(self.form, self.task, self.chance, dict(params))

    def bootstrap(self, loss: np.ndarray, accuracy: np.ndarray, n_resamples: int,
                  seed: int = 0) -> AccuracyLaw:
        """Refit on runs drawn with replacement (each run is one (loss, accuracy) point);
        store the refits in `samples_`. Returns self.

        A refit starts from the full fit and from the grid's best few starts on the full data:
        a resample's optimum lies near the full one, and 15 starts per resample cost 10x more
        for the same answer.
        """
        loss, accuracy = _checked(loss, accuracy, self.task, self._n_free())
        if self.params_ is None:
            self.fit(loss, accuracy)
        assert self.params_ is not None
        full = np.array([self.params_[k] for k in PARAM_NAMES[self.form]])
        grid = self._starts(loss, accuracy)
        curve = _CURVES[self.form]
        grid.sort(key=lambda t: float(np.sum((curve(t, loss) - accuracy) ** 2)))
        starts = [full, *grid[:2]]
        rng = np.random.default_rng(seed)
        self.samples_ = []
        for done in range(n_resamples):
            report(f"bootstrap ({self.task})", done, n_resamples)
            rows = rng.integers(0, loss.size, loss.size)
            if np.unique(loss[rows]).size < self._n_free() + 1:
                continue  # a resample too thin to fit: counted by its absence
            try:
                refit = AccuracyLaw(self.form, self.task, self.chance).fit(
                    loss[rows], accuracy[rows], starts)
            except ScalinglabError:
                continue
            assert refit.params_ is not None
            self.samples_.append(refit.params_)
        report(f"bootstrap ({self.task})", n_resamples, n_resamples)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "form": self.form, "chance": self.chance,
                "params": self.params_, "n_runs": self.n_runs_,
                "loss_range": list(self.loss_range_),
                "fit": None if self.result_ is None else self.result_.to_dict(),
                "bootstrap_params": self.samples_}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "accuracy fit") -> AccuracyLaw:
        try:
            law = cls(str(data["form"]), str(data["task"]), data.get("chance"))
            names = PARAM_NAMES[law.form]
            law.params_ = {k: float(data["params"][k]) for k in names}
            law.samples_ = [{k: float(s[k]) for k in names}
                            for s in data.get("bootstrap_params") or []]
            law.n_runs_ = int(data.get("n_runs", 0))
            law.loss_range_ = tuple(float(v) for v in data.get("loss_range", [np.nan] * 2))
        except (KeyError, TypeError, ValueError) as error:
            raise ScalinglabError(f"{source}: not a valid accuracy law ({error})") from None
        return law


def _checked(loss: Any, accuracy: Any, task: str, n_free: int) -> tuple[np.ndarray, np.ndarray]:
    loss, accuracy = np.asarray(loss, float), np.asarray(accuracy, float)
    if not (np.isfinite(loss).all() and np.isfinite(accuracy).all()):
        raise ScalinglabError(f"task {task!r}: losses and accuracies must be finite numbers")
    if ((accuracy < 0) | (accuracy > 1)).any():
        bad = accuracy[(accuracy < 0) | (accuracy > 1)][0]
        raise ScalinglabError(f"task {task!r}: accuracy {bad:g} is outside [0, 1] (give "
                              "fractions, not percentages)")
    if np.unique(loss).size <= n_free:
        raise ScalinglabError(f"task {task!r}: {np.unique(loss).size} distinct runs cannot "
                              f"fit a law of {n_free} parameters; need at least {n_free + 1}")
    return loss, accuracy


def task_points(measurements: pd.DataFrame, accuracies: pd.DataFrame,
                source: str = "accuracies") -> pd.DataFrame:
    """Join a (run, task, accuracy) table to each run's final loss: run, task, loss, accuracy.

    A run's loss is its finished row with the most tokens (`measurements.final_rows`): the
    model whose accuracy was measured.
    """
    from scalinglab.measurements import final_rows

    missing = [c for c in ("run", "task", "accuracy") if c not in accuracies.columns]
    if missing:
        raise ScalinglabError(f"{source}: missing column(s) {', '.join(map(repr, missing))} "
                              "(expected run, task, accuracy)")
    ends = final_rows(measurements)
    ends = ends.loc[ends.groupby("run")["tokens"].idxmax(), ["run", "loss"]]
    table = accuracies[["run", "task", "accuracy"]].copy()
    table["run"] = table["run"].astype(str)
    joined = table.merge(ends.assign(run=ends["run"].astype(str)), on="run", how="left")
    unknown = joined.loc[joined["loss"].isna(), "run"]
    if len(unknown):
        raise ScalinglabError(f"{source}: run {unknown.iloc[0]!r} has an accuracy but no "
                              "finished row in the measurements")
    joined["accuracy"] = pd.to_numeric(joined["accuracy"], errors="coerce")
    if joined["accuracy"].isna().any():
        row = int(joined["accuracy"].isna().to_numpy().argmax())
        raise ScalinglabError(f"{source}: row {row + 1}, column 'accuracy': "
                              f"{accuracies['accuracy'].iloc[row]!r} is not a number")
    return joined


def chained_interval(law_samples: list[Any], accuracy_law: AccuracyLaw,
                     points: dict[str, np.ndarray], level: float = LEVEL
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The two-stage interval of acc(L(N, D)) at each point.

    Resample i of stage 1 (a fitted two-variable law) is paired with resample i mod m of stage 2,
    so the spread holds both stages' uncertainty (not one stage's with the other fixed).
    """
    stage2 = accuracy_law.samples_
    if not law_samples or not stage2:
        nan = np.full(len(next(iter(points.values()))), np.nan)
        return nan, nan
    values = np.array([accuracy_law.with_params(stage2[i % len(stage2)]).predict(
        law.predict(points)) for i, law in enumerate(law_samples)])
    tail = 100 * (1 - level) / 2
    with np.errstate(all="ignore"):
        return (np.nanpercentile(values, tail, axis=0),
                np.nanpercentile(values, 100 - tail, axis=0))


def load_accuracy_law(path: Any, task: str | None = None) -> AccuracyLaw:
    """The accuracy law of `task` from an ACCURACY.json (`scalinglab fit-accuracy --out`);
    `task` may be omitted when the file holds one."""
    from scalinglab.files import read_json_object

    data = read_json_object(path, "accuracy fit")
    if data.get("kind") != "accuracy-of-loss":
        raise ScalinglabError(f"{path}: not an accuracy fit (see `scalinglab fit-accuracy "
                              "--out`)")
    tasks = {str(t.get("task")): t for t in data.get("tasks") or [] if isinstance(t, dict)}
    if task is None:
        if len(tasks) != 1:
            raise ScalinglabError(f"{path}: holds {len(tasks)} tasks; name one with --task "
                                  f"({', '.join(tasks)})")
        task = next(iter(tasks))
    if task not in tasks:
        raise ScalinglabError(f"{path}: no task {task!r}; tasks: {', '.join(tasks)}")
    return AccuracyLaw.from_dict(tasks[task], str(path))
