"""Sweep designs: which runs a sweep trains, from a TOML file or a built-in preset.

A design is one of four kinds, each a classic way to measure a scaling law:

- `grid`: a geometric ladder of model sizes x a geometric ladder of token budgets, for L(N, D).
  A token ladder D, D/2, D/4, D/8 costs under 2D in all, so scanning D is cheap.
- `isoflop`: for each compute budget C, model sizes spread geometrically around the expected
  optimum N_opt = sqrt(C / (6 r)) (r tokens per parameter, 20 by Chinchilla), tokens D = C / (6 N)
  here; planning then sets D = C / (the exact FLOPs per token of the shape), so every run of a
  budget records `flops` = C (Chinchilla's Approach 2).
- `curves`: one long warmup-stable-decay run per size, learning curves kept, with cooldown
  branches ending at fractions of its budget, so each size also yields final losses at several D
  for little extra compute (the L(C) envelope of Kaplan / Chinchilla's Approach 1).
- `scan`: one hyperparameter at geometric values at a fixed size, to see the broad basin before
  trusting a sweep. `together` names fields that change with it, one value per scanned value
  (e.g. the learning rate that goes with each batch size).

Every design crosses its runs with `families` and `seeds`. Sizes are non-embedding parameters N:
the training engine's size ladder picks the shape, so the measured N differs a little.

With `trainer = { command = "..." }` the runs are a researcher's own command instead (grid,
isoflop and scan; see `command`): sizes are taken as given, every key of `[hparams]` is a
placeholder of the command and part of each run's key, and a list of values is crossed (each
value its own run, named in the run name, as a scan's values are).

TOML layout (flat; ladders are a list or a table `{min, max, count}`):

    name = "my-grid"
    kind = "grid"
    corpus = "stdlib"    # or corpora = ["digits", "arithmetic"]: the same runs on each
    families = ["transformer", "lstm"]
    seeds = [0, 1]
    params = {min = 1e4, max = 1e5, count = 3}
    tokens = [2.5e5, 5e5, 1e6, 2e6]
    [overrides]          # passed to every run's `RunConfig` (e.g. n_ctx)
    n_ctx = 64
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from scalinglab.errors import ScalinglabError
from scalinglab.sweep import command as commands

KINDS = ("grid", "isoflop", "curves", "scan")
FAMILIES = ("transformer", "lstm")
DEVICES = ("cpu", "cuda")
# Hyperparameters a `scan` may vary, each a `RunConfig` field (n_layer at fixed N scans the
# width/depth ratio: the ladder solves d_model for the rest).
SCAN_HYPERPARAMETERS = ("lr", "n_ctx", "batch_tokens", "n_layer", "warmup_tokens", "weight_decay")
INTEGER_HYPERPARAMETERS = ("n_ctx", "batch_tokens", "n_layer")
# `RunConfig` fields a design sets itself; `overrides` may not set them.
DESIGN_FIELDS = ("corpus", "family", "params", "tokens", "seed", "schedule", "cooldown_tokens",
                 "device", "threads")


def geometric(low: float, high: float, count: int) -> list[float]:
    """`count` values from `low` to `high`, evenly spaced in log, to 3 significant digits."""
    if count == 1:
        return [round3(low)]
    ratio = (high / low) ** (1.0 / (count - 1))
    return [round3(low * ratio**i) for i in range(count)]


def round3(value: float) -> float:
    """Three significant digits: run names and config hashes stay readable and stable."""
    return float(f"{value:.3g}")


def _ladder(value: Any) -> Any:
    """Accept a number, a list of numbers, or a table `{min, max, count}` (geometric)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [value]
    if isinstance(value, dict):
        allowed = {"min", "max", "count"}
        unknown = set(value) - allowed
        if unknown or not {"min", "max"} <= set(value):
            raise ValueError(
                "a ladder table needs keys min, max and optionally count "
                f"(got {', '.join(sorted(value))})"
            )
        low, high, count = value["min"], value["max"], value.get("count", 2)
        if not (isinstance(count, int) and count >= 1):
            raise ValueError(f"count must be a whole number >= 1, got {count!r}")
        if not (isinstance(low, int | float) and isinstance(high, int | float) and 0 < low <= high):
            raise ValueError(f"need 0 < min <= max, got min={low!r}, max={high!r}")
        return geometric(float(low), float(high), count)
    return value


PositiveFloat = Annotated[float, Field(gt=0)]
Ladder = Annotated[list[PositiveFloat], BeforeValidator(_ladder), Field(min_length=1)]
NAME_PATTERN = r"^[A-Za-z0-9._-]+$"


def _engine_choice(allowed: tuple[str, ...]) -> AfterValidator:
    """One of `allowed` (what the lab's engine knows), or with a trainer command any name:
    the command decides what it means. `parse_design` says which (validation context)."""
    expected = " or ".join([", ".join(repr(a) for a in allowed[:-1]), repr(allowed[-1])])

    def check(value: str, info: ValidationInfo) -> str:
        if value in allowed or (info.context or {}).get("command"):
            return value
        raise PydanticCustomError("literal_error", "Input should be {expected}",
                                  {"expected": expected})

    return AfterValidator(check)


Family = Annotated[str, Field(pattern=NAME_PATTERN), _engine_choice(FAMILIES)]
HparamValue = bool | int | float | str


class Trainer(BaseModel):
    """A researcher's own training command, run once per run (see `command`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)  # added to the environment of each run
    cwd: str | None = None  # where it runs (default: where the sweep is launched)


class SlurmKeys(BaseModel):
    """Resources of each Slurm job (`[slurm]`, or the --slurm-* options of `sweep run`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = None
    gpus: int | None = Field(default=None, ge=0)  # per job (default: 1 for device cuda, else 0)
    cpus: int | None = Field(default=None, ge=1)  # per job (default: the run's threads)
    time: float | None = Field(default=None, gt=0)  # minutes per job
    mem: str | None = Field(default=None, pattern=r"^[0-9]+[KMGT]?$")  # Slurm's --mem, e.g. 16G


class _Common(BaseModel):
    """Keys every design shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    corpus: str = "stdlib"
    families: list[Family] = Field(default=["transformer"], min_length=1)
    seeds: list[Annotated[int, Field(ge=0, lt=2**32)]] = Field(default=[0], min_length=1)
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int | None = Field(
        default=None, ge=1, description="threads per run; default: 1 for small runs, all for big"
    )
    overrides: dict[str, Any] = Field(default_factory=dict)
    # Several corpora: the same runs on each (replaces `corpus`; run names start with it).
    corpora: list[str] = Field(default_factory=list)
    # A researcher's own trainer instead of the lab's engine, and its placeholders.
    trainer: Trainer | None = None
    hparams: dict[str, HparamValue | Annotated[list[HparamValue], Field(min_length=1)]] = \
        Field(default_factory=dict)
    slurm: SlurmKeys = Field(default_factory=SlurmKeys)

    def runs(self) -> list[RunSpec]:
        """Every run of the design, on `corpus` or on each of `corpora`."""
        if self.trainer is not None:
            return self._command_runs(self.trainer)
        if self.hparams:
            raise ValueError("[hparams] are the placeholders of a trainer command; set trainer = "
                             "{ command = \"...\" }, or use [overrides] for the lab's engine")
        if not self.corpora:
            return self._runs()
        return [RunSpec.make(spec.config, spec.budget, spec.varied, prefix=f"{corpus}-")
                for corpus in self.corpora
                for spec in self.model_copy(update={"corpus": corpus, "corpora": []})._runs()]

    def _runs(self) -> list[RunSpec]:
        raise NotImplementedError

    def base_config(self, family: str, seed: int) -> dict[str, Any]:
        """The `RunConfig` fields every run of this design shares."""
        clash = sorted(set(self.overrides) & set(DESIGN_FIELDS))
        if clash:
            raise ValueError(f"overrides may not set {', '.join(clash)}; use the design's keys")
        return {"corpus": self.corpus, "family": family, "seed": seed, "device": self.device,
                **self.overrides}

    def _crossed(self) -> Iterable[tuple[str, int]]:
        for family in self.families:
            for seed in self.seeds:
                yield family, seed

    # --- a trainer command's runs -------------------------------------------------------------

    def _points(self) -> list[CommandPoint]:
        """The (params, tokens) points of a trainer-command design, before families, seeds
        and hparams are crossed."""
        raise NotImplementedError

    def _command_runs(self, trainer: Trainer) -> list[RunSpec]:
        """Runs of a trainer command: points x families x seeds x the hparams' lists."""
        points = self._points()
        if self.overrides:
            raise ValueError("[overrides] sets the lab engine's RunConfig, which a trainer command "
                             "does not read; put your command's settings in [hparams]")
        if self.corpora or "corpus" in self.model_fields_set:
            raise ValueError("corpus and corpora name the lab engine's data; a trainer command "
                             "reads its own: pass it through [hparams]")
        self._check_placeholders(trainer, points)
        listed = [k for k, v in self.hparams.items() if isinstance(v, list)]
        choices = [v if isinstance(v, list) else [v] for v in self.hparams.values()]
        specs = []
        for family, seed in self._crossed():
            for point in points:
                for values in itertools.product(*choices):
                    hparams = {**dict(zip(self.hparams, values, strict=True)), **point.varied}
                    config = {"trainer": "command", "command": trainer.command,
                              "env": dict(trainer.env), "cwd": trainer.cwd, "family": family,
                              "seed": seed, "params": point.params, "tokens": point.tokens,
                              "hparams": hparams, "budget": point.budget}
                    named = [*point.named, *listed]
                    specs.append(RunSpec(name=command_run_name(config, named), config=config,
                                         budget=point.budget))
        return specs

    def _check_placeholders(self, trainer: Trainer, points: list[CommandPoint]) -> None:
        """Every placeholder the command uses is defined, and no hparam hides a lab one."""
        scanned = [k for k in points[0].varied] if points else []
        for key in [*self.hparams, *scanned]:
            if not key.isidentifier():
                raise ValueError(f"hparams.{key}: a placeholder name is letters, digits and _")
            if key in commands.RESERVED_NAMES:
                raise ValueError(f"hparams.{key}: {key!r} is the lab's (placeholders the lab "
                                 f"fills: {', '.join(commands.LAB_PLACEHOLDERS)}; columns it "
                                 "writes: " + ", ".join(commands.LAB_COLUMNS) + ")")
        clash = sorted(set(self.hparams) & set(scanned))
        if clash:
            raise ValueError(f"hparams.{clash[0]} is also scanned; set it in one place")
        defined = [*commands.LAB_PLACEHOLDERS, *self.hparams, *scanned]
        if any(point.budget is not None for point in points):
            defined.insert(len(commands.LAB_PLACEHOLDERS), commands.BUDGET_PLACEHOLDER)
        used = commands.placeholders(trainer.command)
        for name in used:
            if name not in defined:
                raise ValueError(f"trainer.command uses {{{name}}}, which the design does not "
                                 f"define (defined: {', '.join(defined)})")
        if "out" not in used:
            raise ValueError("trainer.command does not use {out}, the run's folder, where it "
                             "writes metrics.jsonl")


class GridDesign(_Common):
    """Model sizes x token budgets (every pair is one run, cosine schedule to its own end)."""

    kind: Literal["grid"]
    params: Ladder
    tokens: Ladder

    def _runs(self) -> list[RunSpec]:
        return [
            RunSpec.make({**self.base_config(family, seed), "params": n, "tokens": d,
                                "schedule": "cosine"})
            for family, seed in self._crossed()
            for n in self.params
            for d in self.tokens
        ]

    def _points(self) -> list[CommandPoint]:
        return [CommandPoint(n, d) for n in self.params for d in self.tokens]


class IsoflopDesign(_Common):
    """For each budget C, `sizes` model sizes from N_opt/spread to N_opt*spread, D = C / (6N)."""

    kind: Literal["isoflop"]
    budgets: Ladder
    sizes: int = Field(default=5, ge=1)
    spread: float = Field(default=4.0, ge=1.0)
    tokens_per_param: PositiveFloat = 20.0

    def _runs(self) -> list[RunSpec]:
        specs = []
        for family, seed in self._crossed():
            for budget in self.budgets:
                optimum = math.sqrt(budget / (6.0 * self.tokens_per_param))
                for n in geometric(optimum / self.spread, optimum * self.spread, self.sizes):
                    tokens = round3(budget / (6.0 * n))
                    specs.append(RunSpec.make({
                        **self.base_config(family, seed), "params": n, "tokens": tokens,
                        "schedule": "cosine"}, budget=budget))
        return specs

    def _points(self) -> list[CommandPoint]:
        """As `_runs`, with D = C / (6N): a trainer command's FLOPs are 6 N D."""
        points = []
        for budget in self.budgets:
            optimum = math.sqrt(budget / (6.0 * self.tokens_per_param))
            for n in geometric(optimum / self.spread, optimum * self.spread, self.sizes):
                points.append(CommandPoint(n, round3(budget / (6.0 * n)), budget=budget))
        return points


class CurvesDesign(_Common):
    """One long WSD run per size, with cooldown branches ending at fractions of its budget.

    The budget is `tokens` for every size, or `tokens_per_param` x N (one of the two). With
    `budgets` (compute in FLOPs) instead, the branches end where each size has spent exactly
    each budget, D = C / (its exact FLOPs per token), keeping those with D in
    [`min_tokens`, `max_tokens`]; the run ends at the largest. The same runs then form IsoFLOP
    profiles (Approach 2) as well as learning curves and an (N, D) grid.
    """

    kind: Literal["curves"]
    params: Ladder
    tokens: PositiveFloat | None = None
    tokens_per_param: PositiveFloat | None = None
    cooldowns: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default=[0.25, 0.5])
    budgets: Ladder | None = None
    min_tokens: PositiveFloat | None = None
    max_tokens: PositiveFloat | None = None

    def _runs(self) -> list[RunSpec]:
        if self.budgets is not None:
            return self._budget_runs()
        if (self.tokens is None) == (self.tokens_per_param is None):
            raise ValueError("set exactly one of tokens, tokens_per_param")
        specs = []
        for family, seed in self._crossed():
            for n in self.params:
                total = self.tokens if self.tokens is not None else n * self.tokens_per_param
                total = round3(total)
                branches = sorted({round3(f * total) for f in self.cooldowns})
                specs.append(RunSpec.make({
                    **self.base_config(family, seed), "params": n, "tokens": total,
                    "schedule": "wsd", "cooldown_tokens": branches}))
        return specs

    def _points(self) -> list[CommandPoint]:
        raise ValueError("kind 'curves' needs the cooldown branches of the lab's own engine; a "
                         "trainer command runs with kind grid, isoflop or scan")

    def _budget_runs(self) -> list[RunSpec]:
        """Runs whose branches end at exact compute budgets; planning turns each budget into
        tokens with the run's exact FLOPs per token (`plan._resolved`)."""
        if self.tokens is not None or self.tokens_per_param is not None:
            raise ValueError("budgets replace tokens and tokens_per_param: set only budgets")
        budgets = tuple(sorted(float(b) for b in self.budgets or ()))
        window = (self.min_tokens or 0.0, self.max_tokens or float("inf"))
        if window[0] >= window[1]:
            raise ValueError("min_tokens must be below max_tokens")
        specs = []
        for family, seed in self._crossed():
            for n in self.params:
                provisional = round3(window[0] or 1e6)  # replaced when the run is planned
                specs.append(RunSpec.make({
                    **self.base_config(family, seed), "params": n, "tokens": provisional,
                    "schedule": "wsd"}, branch_budgets=budgets, token_window=window))
        return specs


class ScanDesign(_Common):
    """One hyperparameter at several values, at a fixed size and token budget."""

    kind: Literal["scan"]
    # a `RunConfig` field for the lab's engine; with a trainer command, a placeholder name
    hyperparameter: Annotated[str, _engine_choice(SCAN_HYPERPARAMETERS)]
    values: Ladder
    params: PositiveFloat
    tokens: PositiveFloat
    together: dict[str, list[int | float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _together_matches_values(self) -> ScanDesign:
        for key, column in self.together.items():
            if key in DESIGN_FIELDS or key == self.hyperparameter:
                raise ValueError(f"together may not set {key}; use the design's keys")
            if len(column) != len(self.values):
                raise ValueError(f"together.{key} has {len(column)} values; the scan has "
                                 f"{len(self.values)}")
        return self

    def _runs(self) -> list[RunSpec]:
        integer = self.hyperparameter in INTEGER_HYPERPARAMETERS
        specs = []
        for family, seed in self._crossed():
            for i, value in enumerate(self.values):
                config = {**self.base_config(family, seed), "params": self.params,
                          "tokens": self.tokens, "schedule": "cosine",
                          **{key: column[i] for key, column in self.together.items()},
                          self.hyperparameter: int(round(value)) if integer else value}
                specs.append(RunSpec.make(config, varied=self.hyperparameter))
        return specs

    def _points(self) -> list[CommandPoint]:
        return [CommandPoint(self.params, self.tokens, named=(self.hyperparameter,),
                             varied={**{key: column[i] for key, column in self.together.items()},
                                     self.hyperparameter: value})
                for i, value in enumerate(self.values)]


Design = Annotated[
    GridDesign | IsoflopDesign | CurvesDesign | ScanDesign, Field(discriminator="kind")
]
_DESIGN_ADAPTER: TypeAdapter[Any] = TypeAdapter(Design)


@dataclass(frozen=True)
class CommandPoint:
    """One (params, tokens) point of a trainer-command design, with what a scan varies there."""

    params: float
    tokens: float
    budget: float | None = None
    varied: dict[str, Any] = field(default_factory=dict, hash=False)  # scanned placeholders
    named: tuple[str, ...] = ()  # those shown in the run name


@dataclass(frozen=True)
class RunSpec:
    """One planned run: a readable name and the `RunConfig` fields (threads left to executors)."""

    name: str
    config: dict[str, Any] = field(hash=False)
    budget: float | None = None  # the isoflop budget this run belongs to, if any
    varied: str | None = None  # the hyperparameter a scan varies, if any
    prefix: str = ""  # e.g. the corpus, when a design runs on several
    # A curves run whose branches end at these compute budgets (FLOPs), kept where the tokens
    # fall in `token_window`; resolved to tokens when the run's exact shape is known.
    branch_budgets: tuple[float, ...] = ()
    token_window: tuple[float, float] = (0.0, float("inf"))

    @classmethod
    def make(cls, config: dict[str, Any], budget: float | None = None,
             varied: str | None = None, prefix: str = "",
             branch_budgets: tuple[float, ...] = (),
             token_window: tuple[float, float] = (0.0, float("inf"))) -> RunSpec:
        return cls(name=prefix + run_name(config, varied), config=config, budget=budget,
                   varied=varied, prefix=prefix, branch_budgets=branch_budgets,
                   token_window=token_window)

    @property
    def params(self) -> float:
        return float(self.config["params"])


def run_name(config: dict[str, Any], varied: str | None = None) -> str:
    """`transformer-N1e04-D2e05-s0`, plus the scanned hyperparameter if any (`-lr0.003`)."""
    parts = [str(config["family"]), f"N{config['params']:.3g}", f"D{config['tokens']:.3g}"]
    if varied is not None:
        parts.append(f"{varied}{config[varied]:.3g}")
    parts.append(f"s{config['seed']}")
    return "-".join(parts).replace("+", "")


def command_run_name(config: dict[str, Any], named: list[str]) -> str:
    """`gpt-N1e04-D2e05-lr0.003-s0`: a trainer-command run, with the hparams that vary."""
    parts = [str(config["family"]), f"N{config['params']:.3g}", f"D{config['tokens']:.3g}"]
    for key in named:
        value = config["hparams"][key]
        text = f"{value:.3g}" if isinstance(value, float) else commands.value_text(value)
        parts.append(f"{key}{text}")
    parts.append(f"s{config['seed']}")
    return "-".join(parts).replace("+", "")


def parse_design(data: dict[str, Any], source: str = "design") -> Design:
    """Validate a design from its TOML data; any problem is one line naming the key."""
    kind = data.get("kind")
    if kind not in KINDS:
        got = "missing" if kind is None else repr(kind)
        raise ScalinglabError(f"{source}: key 'kind' is {got}; allowed: {', '.join(KINDS)}")
    try:
        design = _DESIGN_ADAPTER.validate_python(data, context={"command": "trainer" in data})
        runs = design.runs()
    except ValidationError as error:
        raise ScalinglabError(f"{source}: {_describe(error)}") from None
    except ValueError as error:
        raise ScalinglabError(f"{source}: {error}") from None
    if design.trainer is None:
        _check_run_configs(design, runs, source)
    names = [spec.name for spec in runs]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise ScalinglabError(f"{source}: two runs would both be {duplicate!r}; remove a duplicate")
    return design


def override_keys() -> tuple[str, ...]:
    """The `RunConfig` fields an `[overrides]` table may set (all but the design's own)."""
    from scalinglab.train import RunConfig

    return tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in DESIGN_FIELDS)


def _check_run_configs(design: Any, runs: list[RunSpec], source: str) -> None:
    """Every run's config must be a valid `RunConfig`: unknown override keys, wrong types and
    out-of-range values are one line naming the key and what is allowed."""
    from scalinglab.train import RunConfig

    allowed = override_keys()
    for key in design.overrides:
        if key not in allowed and key not in DESIGN_FIELDS:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ScalinglabError(f"{source}: unknown key 'overrides.{key}' ({hint}allowed keys: "
                                  f"{', '.join(allowed)})")
    adapter = TypeAdapter(RunConfig)
    for spec in runs:
        try:
            adapter.validate_python(spec.config)
        except ValidationError as error:
            first = error.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            named = message.split()[0].removeprefix("--").replace("-", "_") if message else ""
            key = key or (named if named in design.overrides else "")
            where = f"key 'overrides.{key}'" if key in design.overrides else (
                f"key {key!r}" if key else f"run {spec.name}")
            got = f" (got {first['input']!r})" if first["loc"] else ""
            raise ScalinglabError(f"{source}: {where}: {message}{got}") from None


def _describe(error: ValidationError) -> str:
    """The first pydantic error as `key 'a.b': message (allowed: ...)`."""
    first = error.errors()[0]
    location = [str(p) for p in first["loc"][1:]]  # drop the union tag
    key = ".".join(location) or "(top level)"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        model = {"grid": GridDesign, "isoflop": IsoflopDesign, "curves": CurvesDesign,
                 "scan": ScanDesign}[first["loc"][0]]
        allowed = ", ".join(k for k in model.model_fields)
        return f"unknown key {key!r} (allowed keys: {allowed})"
    if first["type"] == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        return f"key {key!r}: {first['input']!r} is not allowed (allowed: {expected})"
    if first["type"] == "missing":
        return f"missing key {key!r}"
    if first["type"] == "value_error":
        return f"key {key!r}: {message.removeprefix('Value error, ')}"
    return f"key {key!r}: {message} (got {first['input']!r})"


def load_design(path: str | Path) -> Design:
    """Read and validate a sweep TOML file."""
    path = Path(path)
    if not path.is_file():
        raise ScalinglabError(f"{path}: no such file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ScalinglabError(f"{path}: not valid TOML ({error})") from None
    data.setdefault("name", path.stem)
    return parse_design(data, source=str(path))


# --- Presets ---------------------------------------------------------------------------------
# Sized for the reference machine (2 Zen 3 cores): cpu-tiny finishes in a couple of minutes,
# cpu-small in about an hour; gpu-small is an isoflop sweep for one GPU, its budgets capped so
# its longest run reads the ~30 MB stdlib corpus at most about 6 times.
PRESETS: dict[str, dict[str, Any]] = {
    "cpu-tiny": {
        "name": "cpu-tiny", "kind": "grid", "families": ["transformer"],
        "params": {"min": 1e4, "max": 4e4, "count": 3},
        "tokens": [2.5e5, 5e5, 1e6],
    },
    "cpu-small": {
        "name": "cpu-small", "kind": "grid", "families": ["transformer", "lstm"],
        "params": {"min": 1e4, "max": 3e5, "count": 5},
        "tokens": [1e6, 2e6, 4e6, 8e6],
    },
    "gpu-small": {
        "name": "gpu-small", "kind": "isoflop", "device": "cuda", "families": ["transformer"],
        "budgets": {"min": 1e13, "max": 1e15, "count": 3}, "sizes": 5, "spread": 3.0,
    },
    # Outside the 15-minute demo: the same curves sweep on four corpora (Henighan et al. 2020),
    # for `scalinglab modalities` (markov checks the fitted E against the exact entropy,
    # arithmetic gives `scalinglab capabilities` its accuracies). 20 runs, 7.5e13 FLOPs: 30-60
    # minutes on 2 cores at the 1-2e10 FLOP/s per thread measured for 3e4-1e5-parameter
    # transformers. digits has 105k training tokens, so its largest runs repeat it ~80 times.
    "modalities": {
        "name": "modalities", "kind": "curves", "families": ["transformer"],
        "corpora": ["stdlib", "digits", "arithmetic", "markov"],
        "params": {"min": 1e4, "max": 2e5, "count": 5}, "tokens_per_param": 40,
        "cooldowns": [0.25, 0.5],
    },
}


def preset(name: str) -> Design:
    """A built-in design by name."""
    if name not in PRESETS:
        raise ScalinglabError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    return parse_design(dict(PRESETS[name]), source=f"preset {name}")


def resolve(file: str | Path | None, preset_name: str | None) -> Design:
    """The design named on the command line: a TOML file or `--preset`, exactly one."""
    if (file is None) == (preset_name is None):
        raise ScalinglabError("give a sweep TOML file or --preset NAME (one of them)")
    return load_design(file) if file is not None else preset(preset_name or "")
