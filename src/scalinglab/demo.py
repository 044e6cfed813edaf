"""The main job: measure, fit, predict and show scaling laws end to end, from runs made here.

`run_demo` does what a researcher would, on the embedded `stdlib` corpus:

1. a sweep (`sweep.run_sweep`): transformers over >= 1.5 decades of non-embedding N and LSTMs,
   one warmup-stable-decay run per size with cooldown branches, so each size yields final losses
   at several D (L(N), L(D), L(C) and L(N, D) from one sweep);
2. the fits, through the report (`report.build_report`): L(N), L(D), the L(C) envelope,
   Chinchilla's L(N, D) with bootstrap intervals, IsoFLOP minima and N_opt(C), D_opt(C);
3. a backtest that is a real prediction: L(N, D) fitted only on measurements below a compute
   threshold picks the compute-optimal model for `backtest_multiple` x that compute, predicts its
   loss with a bootstrap interval, and then trains it and compares;
4. `report.html` and a printed summary.

Nothing is cached or hard-coded: every number comes from this invocation's runs (a rerun with the
same output folder reuses finished runs from its store, as any sweep does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab import decide, laws
from scalinglab.conventions import TokenCost
from scalinglab.errors import ScalinglabError
from scalinglab.files import write_text
from scalinglab.jsonable import to_jsonable
from scalinglab.measurements import final_rows
from scalinglab.models.ladder import transformer_shape

# The backtest's law: Chinchilla's form on non-embedding parameters (Kaplan et al. 2020 found
# embeddings blur the size trend of small models, and ours are small).
BACKTEST_PARAMS_COLUMN = "params_nonembedding"
# Laws the backtest may use, chosen on the fitted runs alone (`select_law`).
CANDIDATE_LAWS = ("chinchilla", "kaplan-nd")
# N and D of the backtest run may each exceed the fitted maxima by multiple ** this.
AXIS_EXTRAPOLATION = 0.75
# The backtest's target: absolute relative error under 3% and the measured loss in its interval.
TARGET_ARE = 0.03
# The byte-level corpora's default context, needed to count a candidate model's FLOPs.
VOCAB_SIZE = 256
N_CTX = 128


@dataclass(frozen=True)
class DemoMode:
    """How big a demo to run. Sizes are non-embedding parameter counts of the ladder's shapes."""

    name: str
    transformer_sizes: tuple[float, ...]
    tokens: float  # every transformer size's WSD run
    cooldowns: tuple[float, ...]  # its cooldown branches, as fractions of `tokens`
    lstm_sizes: tuple[float, ...]
    lstm_tokens: float  # LSTM learning curves, for the compute comparison (the standard demo:
    # the transformers' budget, schedule family and batch, so the families are matched)
    batch_tokens: int  # one batch for every run, so equal D means equal optimizer steps
    held_out_sizes: int  # the largest transformer sizes the backtest's fit does not see
    backtest_multiple: float  # the backtest run's compute / the largest fitted run's compute
    n_resamples: int
    # The smallest `replicated` transformer sizes also run with `extra_seeds` more seeds, so
    # seed noise is measured from the demo's own runs (and enters every interval).
    replicated: int = 0
    extra_seeds: int = 0

    def seeds_of(self, seed: int) -> list[int]:
        """The extra seeds of a demo run with `seed` (apart from the fresh seeds 1-3 that
        test the demo's backtest)."""
        return [1000 * (k + 1) + seed for k in range(self.extra_seeds)]


# Why this design (measured on stdlib; docs/demo.md has the numbers):
# - With the batch scaled to each run's budget, a cooldown branch early in a big model's run had
#   a quarter of the optimizer steps of a small model's run at the same D and lost to it: loss
#   followed steps, not N or D, and a fitted L(N, D) put alpha at 0. So: one batch for all runs,
#   and one token budget for every size (a factorial grid in N and D at equal steps per D, in
#   which small models run long enough to saturate, pinning down A/N^alpha).
# - Below ~1e6 tokens every model is still leaving the bigram plateau (~2.5 nats), where loss
#   falls faster than any power law of D; fits that included those points under-predicted the
#   bigger runs by 5-7%. So the branches all end past 1.5e6 tokens: the fitted range is one the
#   law describes.
# Sizes are exact shapes of `models.ladder`, so every size is a distinct model.
MODES = {
    "quick": DemoMode("quick", (3120, 12384, 27792, 55536, 98624), 6e5, (0.5, 0.75),
                      (6720, 21312, 66560), 3e5, 512, 1, 4.0, 100),
    "standard": DemoMode("standard", (3120, 12384, 27792, 55536, 98624, 154000), 6e6,
                         (0.25, 0.375, 0.5, 0.75), (6720, 21312, 66560, 125312), 6e6, 1024, 1,
                         4.0, 200, replicated=3, extra_seeds=2),
    "full": DemoMode("full", (3120, 12384, 27792, 55536, 98624, 154000, 230960, 332448,
                              452368), 2e7, (0.25, 0.375, 0.5, 0.75),
                     (6720, 21312, 66560, 125312, 224672), 1e7, 2048, 3, 10.0, 400,
                     replicated=3, extra_seeds=2),
}


@dataclass
class Backtest:
    """The demo's prediction of a bigger run, and what training it measured."""

    fit_max_flops: float
    flops: float
    params_nonembedding: float
    tokens: float
    predicted: float
    lo: float
    hi: float
    measured: float | None = None
    run: str = ""
    shape: dict[str, int] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    held_out: pd.DataFrame | None = None  # the held-out sweep rows, predicted by the same fit

    @property
    def are(self) -> float | None:
        if self.measured is None:
            return None
        return abs(self.predicted - self.measured) / self.measured

    @property
    def inside(self) -> bool | None:
        return None if self.measured is None else bool(self.lo <= self.measured <= self.hi)

    @property
    def met_target(self) -> bool | None:
        """The demo's target: error under `TARGET_ARE` and the measured loss inside the interval."""
        if self.measured is None:
            return None
        return bool(self.are < TARGET_ARE and self.inside)

    def verdict(self, mode: str) -> str:
        """Whether the prediction met its target, in words (a quick demo says it is a smoke
        test: five sizes over 1.5 decades and one seed cannot pin the law down)."""
        if self.measured is None:
            return "not trained yet"
        outcome = "met" if self.met_target else "MISSED"
        text = (f"the backtest {outcome} its target (error under {100 * TARGET_ARE:g}% and the "
                f"measured loss inside the 95% interval): error {100 * self.are:.2f}%, "
                f"{'inside' if self.inside else 'outside'} the interval")
        if mode == "quick":
            text += ("; the quick demo is a smoke test of the machinery, not of the science: "
                     "its design cannot identify the law")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "fit_max_flops": self.fit_max_flops,
            "flops": self.flops,
            "compute_multiple": self.flops / self.fit_max_flops,
            "params_nonembedding": self.params_nonembedding,
            "tokens": self.tokens,
            "predicted": self.predicted,
            "interval": [self.lo, self.hi],
            "measured": self.measured,
            "are": self.are,
            "inside_interval": self.inside,
            "target_are": TARGET_ARE,
            "met_target": self.met_target,
            "run": self.run,
            "shape": self.shape,
            "fit": self.fit,
            "held_out_sweep_rows": None if self.held_out is None else len(self.held_out),
            "held_out_median_are": None if self.held_out is None else float(np.median(
                np.abs(self.held_out["predicted"] - self.held_out["loss"])
                / self.held_out["loss"])),
        }


def demo_designs(mode: DemoMode, corpus: str = "stdlib", seed: int = 0) -> list[Any]:
    """The sweep designs of a demo: one `curves` design per family, all runs with `seed`, and
    the extra seeds of the smallest transformer sizes (`DemoMode.replicated`)."""
    from scalinglab.sweep.design import parse_design

    designs = []
    for family, sizes, tokens, cooldowns in (
        ("transformer", mode.transformer_sizes, mode.tokens, mode.cooldowns),
        ("lstm", mode.lstm_sizes, mode.lstm_tokens, ()),
    ):
        designs.append(parse_design({
            "name": f"demo-{mode.name}-{family}" + (f"-s{seed}" if seed else ""),
            "kind": "curves",
            "corpus": corpus,
            "families": [family],
            "seeds": [seed],
            "params": list(sizes),
            "tokens": tokens,
            "cooldowns": list(cooldowns),
            "overrides": {"batch_tokens": mode.batch_tokens},
        }, source=f"demo {mode.name}"))
    if mode.replicated and mode.extra_seeds:
        designs.append(parse_design({
            "name": f"demo-{mode.name}-seeds" + (f"-s{seed}" if seed else ""),
            "kind": "curves",
            "corpus": corpus,
            "families": ["transformer"],
            "seeds": mode.seeds_of(seed),
            "params": list(mode.transformer_sizes[: mode.replicated]),
            "tokens": mode.tokens,
            "cooldowns": list(mode.cooldowns),
            "overrides": {"batch_tokens": mode.batch_tokens},
        }, source=f"demo {mode.name}"))
    return designs


def backtest_cost() -> TokenCost:
    """The backtest law's accounting: non-embedding N, exact FLOPs of the ladder's shapes."""
    return TokenCost(exact=True, params_column=BACKTEST_PARAMS_COLUMN, family="transformer",
                     vocab_size=VOCAB_SIZE, n_ctx=N_CTX)


def predict_backtest(table: pd.DataFrame, mode: DemoMode, seed: int = 0) -> Backtest:
    """Fit L(N, D) on all but the largest sizes and predict the compute-optimal bigger run.

    Whole runs are held out (every branch of the largest `held_out_sizes` sizes), so the fit
    sees nothing of the scale it predicts. The law is chosen among `CANDIDATE_LAWS` by how well
    it extrapolates within the fitted runs (`select_law`). The run is compute-optimal under it,
    with N and D each at most `backtest_multiple ** AXIS_EXTRAPOLATION` beyond the fitted
    maxima: at these scales a mis-specified law puts its "optimum" in a corner (all data, no
    size), and a backtest that extrapolates one axis 4x tests that corner, not scaling.
    """
    done = final_rows(table[table["family"] == "transformer"])
    sizes = np.sort(done[BACKTEST_PARAMS_COLUMN].unique())
    if len(sizes) <= mode.held_out_sizes + 3:
        raise ScalinglabError(
            f"the backtest needs more than {mode.held_out_sizes + 3} transformer sizes, "
            f"the sweep has {len(sizes)}"
        )
    train = done[done[BACKTEST_PARAMS_COLUMN] < sizes[-mode.held_out_sizes]]
    threshold = float(train["flops"].max())
    selection = laws.select_law(train, CANDIDATE_LAWS, params_column=BACKTEST_PARAMS_COLUMN,
                                source=f"backtest fit (runs of at most {threshold:.3g} FLOPs)")
    law, scores = selection.law, selection.scores
    law.accounting = {"convention": "exact-nonembedding", **backtest_cost().to_dict()}
    flops = mode.backtest_multiple * threshold
    reach = mode.backtest_multiple**AXIS_EXTRAPOLATION
    n_max, d_max = float(train[BACKTEST_PARAMS_COLUMN].max()), float(train["tokens"].max())
    plan = decide.compute_optimal(law, flops, n_range=(float(sizes[0]), reach * n_max),
                                  tokens_range=(float(train["tokens"].min()), reach * d_max))
    run = plan["shape"]
    shape = transformer_shape(run["n_params"], n_layer=run["n_layer"], d_model=run["d_model"],
                              n_head=run["n_head"])
    n_exact, tokens = shape.params_nonembedding, run["tokens"]
    point = {BACKTEST_PARAMS_COLUMN: [float(n_exact)], "tokens": [tokens]}
    predicted = float(law.predict(point)[0])
    boot = laws.bootstrap(law, train, n_resamples=mode.n_resamples, seed=seed, n_jobs=2)
    lo, hi = boot.predict_interval(point, include_noise=True)
    held_out = done[done[BACKTEST_PARAMS_COLUMN] >= sizes[-mode.held_out_sizes]]
    held_lo, held_hi = boot.predict_interval(held_out, include_noise=True)
    held_out = held_out.assign(predicted=law.predict(held_out), lo=held_lo, hi=held_hi)
    return Backtest(
        fit_max_flops=threshold, flops=flops, params_nonembedding=float(n_exact), tokens=tokens,
        predicted=predicted, lo=float(lo[0]), hi=float(hi[0]),
        shape={"n_layer": shape.n_layer, "d_model": shape.d_model, "n_head": shape.n_head},
        fit={**law.to_dict(), "intervals": {k: list(v) for k, v in boot.intervals().items()},
             "n_points": len(train), "selection_median_are": scores,
             "selection": selection.sentence(), "bootstrap": boot.summary()},
        held_out=held_out,
    )


def backtest_frame(backtest: Backtest, mode: str = "standard") -> pd.DataFrame:
    """The held-out sweep rows and the trained backtest run, as the report's backtest figure
    reads them (`laws.backtest` columns and attrs, plus flops)."""
    held = backtest.held_out if backtest.held_out is not None else pd.DataFrame()
    rows = [{"run": r.run, "x": r.flops, "flops": r.flops, "params": r.params,
             "tokens": r.tokens, "measured": r.loss, "predicted": r.predicted, "lo": r.lo,
             "hi": r.hi} for r in held.itertuples()]
    if backtest.measured is not None:
        rows.append({"run": backtest.run, "x": backtest.flops, "flops": backtest.flops,
                     "params": backtest.params_nonembedding, "tokens": backtest.tokens,
                     "measured": backtest.measured, "predicted": backtest.predicted,
                     "lo": backtest.lo, "hi": backtest.hi})
    frame = pd.DataFrame(rows)
    frame["are"] = (frame["predicted"] - frame["measured"]).abs() / frame["measured"]
    frame.attrs.update({"median_are": float(frame["are"].median()), "x": "flops",
                        "train_max": backtest.fit_max_flops, "n_train": backtest.fit["n_points"],
                        "n_test": len(frame), "level": 0.95, "law": backtest.fit,
                        "verdict": backtest.verdict(mode)})
    return frame


def train_backtest(backtest: Backtest, runs_dir: Path, batch_tokens: int, seed: int = 0,
                   progress: Callable[[dict[str, Any]], None] | None = None) -> pd.DataFrame:
    """Train the predicted run (same schedule family as the sweep: WSD) and record its loss."""
    from scalinglab.train import RunConfig, train_run

    config = RunConfig(params=backtest.params_nonembedding, tokens=round(backtest.tokens),
                       corpus="stdlib", family="transformer", schedule="wsd", seed=seed,
                       batch_tokens=batch_tokens, threads=0, **backtest.shape)
    result = train_run(config, out_dir=runs_dir / f"backtest-{config.config_hash()[:12]}",
                       progress=progress)
    if result.status != "done" or result.final_loss is None:
        raise ScalinglabError(f"the backtest run {result.run} ended {result.status}")
    if result.params_nonembedding != round(backtest.params_nonembedding):
        raise ScalinglabError("the backtest run's shape differs from the predicted one")
    backtest.measured = float(result.final_loss)
    backtest.run = result.run
    return result.measurements


def _backtest_progress(display: Any, backtest: Backtest) -> Callable[[dict[str, Any]], None]:
    """Show the backtest run in the sweep display: its own bar, loss and speed."""
    name = f"backtest N={backtest.params_nonembedding:.3g} D={backtest.tokens:.3g}"
    display.begin(backtest.flops, 0.0)
    display.start("backtest", name, backtest.tokens, backtest.flops)

    def progress(event: dict[str, Any]) -> None:
        display.progress("backtest", event["tokens"], event.get("val_loss") or event.get("loss"),
                         event.get("tokens_per_second"), event.get("flops"))

    return progress


@dataclass
class DemoResult:
    """What `run_demo` made: the report, the backtest and the numbers of the summary."""

    mode: str
    out_dir: Path
    report: Path
    seconds: float
    backtest: Backtest
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        backtest = {**self.backtest.to_dict(), "verdict": self.backtest.verdict(self.mode)}
        return {"mode": self.mode, "out_dir": str(self.out_dir), "report": str(self.report),
                "seconds": self.seconds, "backtest": backtest, **self.summary}


def run_demo(
    out_dir: str | Path = "demo",
    mode: str = "standard",
    workers: int | None = None,
    display_factory: Callable[[str], Any] | None = None,
    on_note: Callable[[str], None] | None = None,
    seed: int = 0,
) -> DemoResult:
    """Run the whole loop (see the module doc) into `out_dir`; return what it found."""
    from scalinglab.analyses.sources import load_sweeps
    from scalinglab.analyses.study import study
    from scalinglab.report.html import build_report
    from scalinglab.sweep.driver import run_sweep

    if mode not in MODES:
        raise ScalinglabError(f"unknown demo mode {mode!r}; choose one of {', '.join(MODES)}")
    settings = MODES[mode]
    note = on_note or (lambda message: None)
    started = time.perf_counter()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ScalinglabError(f"{out}: cannot create the demo folder ({error.strerror})") from None
    store_path = out / "scalinglab.db"

    designs = demo_designs(settings, seed=seed)
    for design in designs:
        note(f"sweep {design.name}: {len(design.runs())} runs")
        if display_factory is None:
            run_sweep(design, store_path, workers=workers, on_note=note)
        else:
            with display_factory(design.name) as display:
                run_sweep(design, store_path, workers=workers, display=display, on_note=note)
    tables = load_sweeps(store_path, [d.name for d in designs])
    table = tables.measurements

    backtest = predict_backtest(table, settings, seed=seed)
    note(f"backtest: training N={backtest.params_nonembedding:.3g}, D={backtest.tokens:.3g} "
         f"({backtest.flops:.3g} FLOPs, {backtest.flops / backtest.fit_max_flops:.1f}x the "
         f"largest fitted run); predicted loss {backtest.predicted:.4f}")
    if display_factory is None:
        train_backtest(backtest, out / "runs", settings.batch_tokens, seed=seed)
    else:
        with display_factory("backtest run") as display:
            train_backtest(backtest, out / "runs", settings.batch_tokens, seed=seed,
                           progress=_backtest_progress(display, backtest))
            display.finish("backtest", "done", backtest.measured, backtest.flops)

    report_path = out / "report.html"
    # One study: the report, the printed summary and demo.json render the same numbers.
    analysis = study(table, n_resamples=settings.n_resamples, seed=seed,
                     position_losses=tables.positions, accuracies=tables.accuracies,
                     backtest=backtest_frame(backtest, mode))
    report = build_report(analysis, report_path, title=f"scalinglab demo ({mode})",
                          source=f"{store_path}")
    summary = summarise(analysis, report, table)
    seconds = time.perf_counter() - started
    result = DemoResult(mode, out, report_path, seconds, backtest, summary)
    write_text(out / "demo.json", json.dumps(to_jsonable(result.to_dict()), indent=2))
    return result


def summarise(analysis: Any, report: Any, table: pd.DataFrame) -> dict[str, Any]:
    """The printed summary's numbers: the study's, as the report shows them."""
    runs = table.groupby("family")["run"].nunique().to_dict()
    sizes = table.groupby("family")["params_nonembedding"].agg(["min", "max"])
    computed = analysis.to_dict()
    comparison = analysis.comparisons.get("lstm")
    return {
        "runs": {k: int(v) for k, v in runs.items()},
        "sizes": {f: [float(r["min"]), float(r["max"])] for f, r in sizes.iterrows()},
        "fits": computed["fits"],
        "param_text": {f.label: f.param_text() for f in analysis.laws.values()},
        "allocations": computed["allocations"],
        "verdicts": computed["verdicts"],
        "seed_noise": computed["seed_noise"],
        "regime": computed["regime"],
        "convention": computed["convention"],
        "figures": report.figures,
        "skipped": report.skipped,
        "transformer_vs_lstm": None if comparison is None else comparison.to_dict(),
    }
