"""What every numeric command-line option allows, in one table, checked before a command runs.

Each option keeps the same meaning in every command that has it (`--bootstrap` is a number of
resamples everywhere), so one rule per option name serves the whole CLI: the Typer layer calls
`check_options` with the values it parsed, and a value out of range is one line naming the
option, the value and what is allowed. The library checks its own inputs as well (`RunConfig`,
`accounting`, `decide`); this table is what the CLI promises before any work starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scalinglab.errors import ScalinglabError


@dataclass(frozen=True)
class Rule:
    """Allowed values: a finite number in [low, high] (open ends when `*_open`), or `also`."""

    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    also: tuple[float, ...] = ()
    meaning: str = ""  # what `also` means, e.g. "all cores"
    noun: str = ""  # what is counted, e.g. "FLOPs"

    def allows(self, value: float) -> bool:
        if value in self.also:
            return True
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None
                    and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"in {left}{_g(self.low)}, {_g(self.high)}{right}"
        elif self.low == 0 and self.low_open:
            text = f"a positive number{' of ' + self.noun if self.noun else ''} (finite)"
        elif self.low == 0:
            text = "0 or more (finite)"
        elif self.low is not None:
            text = f"at least {_g(self.low)}" + (" (exclusive)" if self.low_open else "")
        else:
            text = "a finite number"
        if self.also:
            extra = " or ".join(_g(v) for v in self.also)
            text = f"{extra} ({self.meaning}) or {text}" if self.meaning else f"{extra} or {text}"
        return text


def _g(value: float) -> str:
    return f"{value:g}"


MIN_RESAMPLES = 20
POSITIVE = Rule(low=0, low_open=True)
NON_NEGATIVE = Rule(low=0)
AT_LEAST_1 = Rule(low=1)

# One rule per option name, whatever the command.
RULES: dict[str, Rule] = {
    # sizes and budgets
    "--params": Rule(low=0, low_open=True, noun="parameters"),
    "--tokens": Rule(low=0, low_open=True, noun="tokens"),
    "--tokens-per-step": Rule(low=0, low_open=True, noun="tokens"),
    "--compute": Rule(low=0, low_open=True, noun="FLOPs"),
    "--train-max": POSITIVE,
    "--inference-tokens": NON_NEGATIVE,
    "--unique-tokens": POSITIVE,
    "--warmup-tokens": NON_NEGATIVE,
    "--cooldown-tokens": POSITIVE,
    "--eval-tokens": AT_LEAST_1,
    "--batch-tokens": AT_LEAST_1,
    # shapes
    "--n-layer": AT_LEAST_1,
    "--d-model": AT_LEAST_1,
    "--n-head": AT_LEAST_1,
    "--n-ctx": AT_LEAST_1,
    "--vocab": AT_LEAST_1,
    "--vocab-size": Rule(low=2),
    "--min-digits": AT_LEAST_1,
    "--max-digits": AT_LEAST_1,
    "--markov-order": AT_LEAST_1,
    "--markov-vocab": Rule(low=2),
    # optimisation
    "--lr": POSITIVE,
    # statistics
    # 0: no intervals. Below 20 resamples a 95% interval's 2.5% tails are the extreme draws or
    # nothing (--bootstrap 1 printed zero-width intervals that excluded the estimate).
    "--bootstrap": Rule(low=MIN_RESAMPLES, also=(0,), meaning="no intervals"),
    "--drop-highest-loss": NON_NEGATIVE,
    "--seed": Rule(low=0, high=2**32 - 1),
    "--noise": Rule(low=0, high=1, high_open=True),  # a relative standard deviation
    "--scale": POSITIVE,
    # machines and money
    "--jobs": Rule(low=1, also=(-1,), meaning="all cores"),
    "--workers": AT_LEAST_1,
    "--threads": NON_NEGATIVE,
    "--mfu": Rule(low=0, low_open=True, high=1),
    "--n-gpus": AT_LEAST_1,
    "--price-per-hour": NON_NEGATIVE,
    "--gpu-hours": Rule(low=0, low_open=True, noun="GPU-hours"),
    "--budget-usd": Rule(low=0, low_open=True, noun="dollars"),
    "--peak-flops": Rule(low=0, low_open=True, noun="FLOP/s"),
    "--ffn-mult": POSITIVE,
    "--n-kv-heads": AT_LEAST_1,
    # clusters
    "--slurm-gpus": NON_NEGATIVE,
    "--slurm-cpus": AT_LEAST_1,
    "--slurm-time": Rule(low=0, low_open=True, noun="minutes"),
    # accuracy laws
    "--chance": Rule(low=0, high=1, high_open=True),
    "--max-hours": POSITIVE,
}


def check_option(flag: str, value: Any) -> None:
    """Raise `ScalinglabError` if `value` (a number or a list of numbers) breaks `flag`'s rule."""
    rule = RULES.get(flag)
    if rule is None or value is None or isinstance(value, bool):
        return
    values: Iterable[Any] = value if isinstance(value, list | tuple) else [value]
    for item in values:
        if isinstance(item, int | float) and not rule.allows(float(item)):
            raise ScalinglabError(f"{flag} must be {rule.describe()}, got {item!r}")


def check_options(values: Mapping[str, Any]) -> None:
    """Check every {flag: value} pair against `RULES`."""
    for flag, value in values.items():
        check_option(flag, value)
