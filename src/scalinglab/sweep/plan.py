"""Planning a sweep: each run's exact FLOPs, its thread count, the queue order, the wall time.

- FLOPs come from the training engine's own plan of each run (`train.plan_run`): the exact
  FLOPs per token of the shape the size ladder picks, times the tokens it will really train,
  cooldown branches included. So a plan's FLOPs match what the runs record. An isoflop run's
  tokens are set here from its budget and that exact count, so the runs of one budget share
  one `flops` value in the measurements table (what IsoFLOP fitting groups by). A trainer
  command's runs keep their sizes as given and plan 6 N D FLOPs (`command`).
- Threads: a run below `SMALL_RUN_PARAMS` non-embedding parameters gets one thread, so small runs
  pack side by side; a bigger one gets every thread of a machine (see `executors`).
- Queue: big runs first (one at a time, all threads), then small runs in decreasing FLOPs, the
  longest-first rule that keeps the last cores from idling at the end of a sweep.
- Wall time: first a bound from the accounting alone (the sweep's FLOPs at a peak no CPU
  thread or GPU reaches), which refuses an impossible `--max-hours` at once; then a quick
  throughput probe trains a few sizes of each family (none above `PROBE_MAX_PARAMS`) for a
  second or two, and the queue is simulated on the executor's cores.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from scalinglab.errors import ScalinglabError
from scalinglab.sweep.command import FLOPS_PER_PARAM_TOKEN, command_hash
from scalinglab.sweep.design import Design, RunSpec, round3
from scalinglab.sweep.executors import SMALL_RUN_PARAMS

PROBE_SECONDS = 1.5
# The probe trains no model bigger than this (memory and time stay small); bigger runs are
# estimated at the largest probed size's FLOP/s, which overestimates their time (FLOP/s grows
# with size on CPUs).
PROBE_MAX_PARAMS = 3e6
# Speeds no hardware reaches, for a lower bound on a sweep's wall time from its FLOPs alone:
# a CPU core's fp32 peak is 2 AVX-512 FMA units x 16 lanes x 2 FLOPs x ~3.5 GHz = 2.2e11; an
# H200's dense bf16 peak is 9.9e14 FLOP/s (NVIDIA H200 datasheet, 2024).
PEAK_FLOPS_PER_THREAD = 2.5e11
PEAK_FLOPS_PER_GPU = 2e15
# CPU threads of a GPU run: they only sample batches, so a node's GPUs, not its cores, bound it.
GPU_RUN_THREADS = 2


@dataclass(frozen=True)
class RunPlan:
    """One run of a sweep, resolved: config hash, exact shape size, tokens, FLOPs, threads."""

    spec: RunSpec
    hash: str
    params_nonembedding: int
    tokens: float  # tokens trained, cooldown branches included
    flops: float
    threads: int
    gpus: float

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def config(self) -> dict[str, Any]:
        return self.spec.config


def plan_sweep(design: Design, big_run_threads: int) -> list[RunPlan]:
    """Resolve every run of `design` with the training engine (no training)."""
    if design.trainer is not None:
        return _plan_commands(design, big_run_threads)
    from scalinglab.train import RunConfig, plan_run

    plans = []
    seen: set[str] = set()
    for spec in design.runs():
        spec = _resolved(spec)
        config = RunConfig(**spec.config)
        run_hash = config.config_hash()
        if run_hash in seen:
            continue  # two design points that resolve to the same run are trained once
        seen.add(run_hash)
        engine = plan_run(config)
        branch_steps = sum(end - start for start, end in engine.branches)
        tokens = float((engine.steps + branch_steps) * engine.batch_tokens)
        small = engine.shape.params_nonembedding < SMALL_RUN_PARAMS
        if design.device == "cuda":
            threads = design.threads or GPU_RUN_THREADS
        else:
            threads = design.threads or (1 if small else big_run_threads)
        plans.append(RunPlan(
            spec=spec, hash=run_hash, params_nonembedding=engine.shape.params_nonembedding,
            tokens=tokens, flops=engine.model_config.flops_per_token() * tokens,
            threads=min(threads, big_run_threads), gpus=1.0 if design.device == "cuda" else 0.0))
    return plans


def _plan_commands(design: Design, big_run_threads: int) -> list[RunPlan]:
    """A trainer command's runs: sizes as given, FLOPs 6 N D, threads by the same rule."""
    plans = []
    seen: set[str] = set()
    for spec in design.runs():
        run_hash = command_hash(spec.config)
        if run_hash in seen:
            continue
        seen.add(run_hash)
        params, tokens = float(spec.config["params"]), float(spec.config["tokens"])
        if design.device == "cuda":
            threads = design.threads or GPU_RUN_THREADS
        else:
            threads = design.threads or (1 if params < SMALL_RUN_PARAMS else big_run_threads)
        plans.append(RunPlan(
            spec=spec, hash=run_hash, params_nonembedding=round(params), tokens=tokens,
            flops=FLOPS_PER_PARAM_TOKEN * params * tokens, threads=min(threads, big_run_threads),
            gpus=1.0 if design.device == "cuda" else 0.0))
    return plans


def _resolved(spec: RunSpec) -> RunSpec:
    """The spec with `params` set to the exact size of the shape the ladder picks (so two
    targets that land on one shape are one run) and an isoflop run's tokens set to hit its
    budget in the FLOPs the run records."""
    from scalinglab.train import RunConfig, plan_run

    engine = plan_run(RunConfig(**spec.config))
    exact = engine.shape.params_nonembedding
    config = dict(spec.config)
    if plan_run(RunConfig(**{**config, "params": exact})).shape == engine.shape:
        config["params"] = float(exact)
    if spec.budget is not None:
        config["tokens"] = round3(spec.budget / engine.model_config.flops_per_token())
    if spec.branch_budgets:
        config.update(_budget_branches(spec, engine.model_config.flops_per_token()))
    if config == spec.config:
        return spec
    return RunSpec.make(config, budget=spec.budget, varied=spec.varied, prefix=spec.prefix)


def _budget_branches(spec: RunSpec, flops_per_token: float) -> dict[str, Any]:
    """Tokens and cooldown branches of a curves run whose branches end at compute budgets."""
    lo, hi = spec.token_window
    ends = sorted({round3(b / flops_per_token) for b in spec.branch_budgets})
    ends = [d for d in ends if lo <= d <= hi]
    if not ends:
        raise ScalinglabError(
            f"{spec.name}: no compute budget puts its branch between {lo:.3g} and {hi:.3g} "
            f"tokens at {flops_per_token:.3g} FLOPs per token; drop the size or widen the window"
        )
    return {"tokens": ends[-1], "cooldown_tokens": ends[:-1]}


def queue_order(plans: Iterable[RunPlan]) -> list[RunPlan]:
    """Big (many-thread) runs first, then by decreasing FLOPs (see the module doc)."""
    return sorted(plans, key=lambda p: (-p.threads, -p.flops, p.name))


def next_fitting(queue: list[RunPlan], free_threads: int,
                 free_gpus: float = 0.0) -> RunPlan | None:
    """The head of the queue if it fits in the free threads and GPUs (strict order: big runs
    never starve behind small ones), else None."""
    if queue and queue[0].threads <= free_threads and queue[0].gpus <= free_gpus:
        return queue.pop(0)
    return None


# --- wall-time estimate ---------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    """Measured tokens/s of one family at a few sizes, with one thread count, on one device."""

    family: str
    threads: int
    device: str
    points: tuple[tuple[float, float], ...]  # (params_nonembedding, FLOP/s)
    overhead_seconds: float  # set-up time of a run (corpus, model, evaluations)

    def flops_per_second(self, params: float) -> float:
        """Log-log interpolation between probed sizes, flat beyond them."""
        xs = [math.log(p) for p, _ in self.points]
        ys = [math.log(f) for _, f in self.points]
        x = math.log(params)
        if x <= xs[0]:
            return math.exp(ys[0])
        for (x0, y0), (x1, y1) in zip(zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True),
                                      strict=False):
            if x <= x1:
                return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
        return math.exp(ys[-1])


def probe_throughput(plans: list[RunPlan], seconds: float = PROBE_SECONDS,
                     on_probe: Callable[[str], None] | None = None) -> dict[tuple, Throughput]:
    """Train the smallest, largest (and a middle) run of each family for `seconds` each."""
    groups: dict[tuple, list[RunPlan]] = {}
    for plan in plans:
        key = (plan.config["family"], plan.threads, plan.config.get("device", "cpu"))
        groups.setdefault(key, []).append(plan)
    result = {}
    for key, members in groups.items():
        members = sorted(members, key=lambda p: (p.params_nonembedding, -p.tokens))
        sizes = sorted({p.params_nonembedding for p in members})
        sizes = [s for s in sizes if s <= PROBE_MAX_PARAMS]
        if not sizes:  # every run too big to probe quickly: no estimate for this group
            if on_probe is not None:
                on_probe(f"nothing: every {key[0]} run is above {PROBE_MAX_PARAMS:.0e} "
                         "parameters, too big to probe in seconds")
            continue
        picks = {sizes[0], sizes[-1]}
        if sizes[-1] > 10 * sizes[0]:
            picks.add(min(sizes, key=lambda s: abs(math.log(s / math.sqrt(sizes[0] * sizes[-1])))))
        points, overheads = [], []
        for size in sorted(picks):
            plan = next(p for p in members if p.params_nonembedding == size)
            if on_probe is not None:
                on_probe(f"{plan.name} ({plan.threads} thread{'s' * (plan.threads > 1)})")
            rate, overhead = _probe_one(plan, seconds)
            points.append((float(size), rate))
            overheads.append(overhead)
        result[key] = Throughput(key[0], key[1], key[2], tuple(points), max(overheads))
    return result


def _probe_one(plan: RunPlan, seconds: float) -> tuple[float, float]:
    """(FLOP/s, set-up seconds) of `plan`, from a training run stopped after `seconds`."""
    from scalinglab.train import RunConfig, train_run

    config = RunConfig(**{**plan.config, "threads": plan.threads, "eval_count": 1})
    marks: list[tuple[float, float, float]] = []  # (time, tokens, flops)
    began = time.perf_counter()

    def progress(update: dict[str, Any]) -> None:
        marks.append((time.perf_counter(), float(update["tokens"]), float(update["flops"])))

    def should_stop() -> bool:
        return len(marks) >= 2 and time.perf_counter() - marks[0][0] >= seconds

    result = train_run(config, out_dir=None, progress=progress, should_stop=should_stop)
    if len(marks) >= 2 and marks[-1][0] > marks[0][0] and marks[-1][1] > marks[0][1]:
        rate = (marks[-1][2] - marks[0][2]) / (marks[-1][0] - marks[0][0])
        overhead = max(0.0, marks[0][0] - began - marks[0][1] * result.flops_per_token / rate)
        return rate, overhead
    elapsed = time.perf_counter() - began  # the whole run fit in the probe
    return result.flops_per_token * result.tokens / elapsed, 0.0


def estimate_seconds(plan: RunPlan, throughput: dict[tuple, Throughput]) -> float | None:
    """Estimated wall seconds of one run, or None if its group was not probed."""
    key = (plan.config["family"], plan.threads, plan.config.get("device", "cpu"))
    if key not in throughput:
        return None
    probe = throughput[key]
    return probe.overhead_seconds + plan.flops / probe.flops_per_second(plan.params_nonembedding)


def simulate_wall_seconds(plans: list[RunPlan], seconds: dict[str, float], capacity: int,
                          gpus: float = 0.0) -> float:
    """Wall time of the queue on `capacity` threads and `gpus` GPUs, scheduled as the driver
    does (a run that can never fit runs alone, as there)."""
    queue = queue_order(plans)
    clock, free, free_gpus = 0.0, capacity, gpus
    running: list[tuple[float, RunPlan]] = []
    while queue or running:
        while (plan := next_fitting(queue, free, free_gpus)) is not None:
            running.append((clock + seconds[plan.hash], plan))
            free, free_gpus = free - plan.threads, free_gpus - plan.gpus
        if not running:
            plan = queue.pop(0)
            running.append((clock + seconds[plan.hash], plan))
            free, free_gpus = free - plan.threads, free_gpus - plan.gpus
        running.sort(key=lambda item: item[0])
        clock, done = running.pop(0)
        free, free_gpus = free + done.threads, free_gpus + done.gpus
    return clock


def fastest_seconds(plans: list[RunPlan], capacity: int, gpus: float = 0.0) -> float:
    """A lower bound on the sweep's wall time: its FLOPs at `PEAK_FLOPS_PER_THREAD` on every
    thread (and `PEAK_FLOPS_PER_GPU` on every GPU), with no set-up time."""
    cpu = sum(p.flops for p in plans if not p.gpus)
    gpu = sum(p.flops for p in plans if p.gpus)
    seconds = cpu / (max(capacity, 1) * PEAK_FLOPS_PER_THREAD)
    if gpu:
        seconds = max(seconds, gpu / (max(gpus, 1.0) * PEAK_FLOPS_PER_GPU))
    return seconds


def check_lower_bound(plans: list[RunPlan], capacity: int, gpus: float,
                      max_hours: float | None) -> None:
    """Refuse at once a sweep that could not finish within `--max-hours` even at peak speed."""
    if max_hours is None:
        return
    hours = fastest_seconds(plans, capacity, gpus) / 3600.0
    if hours > max_hours:
        total = sum(p.flops for p in plans)
        raise ScalinglabError(
            f"the sweep's {total:.3g} FLOPs need at least {hours:.3g} h on {capacity} "
            f"thread{'s' * (capacity != 1)} "
            f"even at {PEAK_FLOPS_PER_THREAD:.2g} FLOP/s each (faster than any CPU core), over "
            f"--max-hours {max_hours:g}; shrink the design or raise --max-hours")


def check_budget(hours: float, max_hours: float | None) -> None:
    """Refuse a sweep whose estimate exceeds `--max-hours`."""
    if max_hours is not None and hours > max_hours:
        raise ScalinglabError(
            f"the sweep needs an estimated {hours:.2f} h on this machine, over --max-hours "
            f"{max_hours:g}; shrink the design or raise --max-hours")
