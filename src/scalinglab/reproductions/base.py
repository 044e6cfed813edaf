"""What an experiment is (`Experiment`) and what it ends in (`Finding`), and its page."""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalinglab.files import write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from scalinglab.analyses import Tables

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_IDENTIFIABLE = "not identifiable at this scale"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_IDENTIFIABLE)
MAX_EXPONENT_WIDTH = 0.5  # the identifiability range of an exponent (laws.identifiability)


def exponent_verdict(interval: tuple[float, float], published: float) -> str:
    """An exponent's verdict: not identifiable when its interval is missing or wider than
    0.5; reproduced when it holds the published value; not reproduced otherwise."""
    lo, hi = interval
    if not (math.isfinite(lo) and math.isfinite(hi) and hi - lo <= MAX_EXPONENT_WIDTH):
        return NOT_IDENTIFIABLE
    return REPRODUCED if lo <= published <= hi else NOT_REPRODUCED


@dataclass
class Finding:
    """An experiment's result: `verdict` (one of `VERDICTS`), `ours` and `published` in words,
    `numbers` (JSON-ready) and the figure that shows it."""

    experiment: str
    verdict: str
    ours: str
    published: str
    numbers: dict[str, Any] = field(default_factory=dict)
    figure: Figure | None = None
    notes: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        return f"{self.verdict}: {self.ours} (published: {self.published})"

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "verdict": self.verdict, "ours": self.ours,
                "published": self.published, "sentence": self.sentence(),
                "numbers": self.numbers, "notes": list(self.notes)}


@dataclass(frozen=True)
class Experiment:
    """One of the lecture's experiments.

    `designs(scale, seed)` gives the sweep designs (dicts for `parse_design`); at `scale` 1 they
    take about `minutes` on the 2-core CPU machine, and `scale` multiplies their token budgets
    (and, where the experiment says so, sizes). `analyze(tables, n_resamples, seed)` turns the
    finished runs into a `Finding`.
    """

    name: str
    title: str
    source: str  # the paper and figure it reproduces
    minutes: float
    designs: Callable[[float, int], list[dict[str, Any]]]
    analyze: Callable[[Tables, int, int], Finding]


def write_page(finding: Finding, experiment: Experiment, path: Path, source: str) -> None:
    """A self-contained page: the title, the verdict beside the published result, the figure
    (inline SVG) and the numbers."""
    svg = ""
    if finding.figure is not None:
        buffer = io.StringIO()
        finding.figure.savefig(buffer, format="svg")
        svg = buffer.getvalue()
        svg = svg[svg.index("<svg"):]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in finding.notes)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(experiment.title)}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}}
.verdict{{font-size:1.2rem;font-weight:bold}}</style></head><body>
<h1>{html.escape(experiment.title)}</h1>
<p>Reproduces {html.escape(experiment.source)}. Data: {html.escape(source)}.</p>
<p class="verdict">Verdict: {html.escape(finding.verdict)}</p>
<p>Ours: {html.escape(finding.ours)}</p>
<p>Published: {html.escape(finding.published)}</p>
<figure>{svg}</figure>
{f"<ul>{notes}</ul>" if notes else ""}
</body></html>
"""
    write_text(path, page)
