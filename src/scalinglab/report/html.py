"""One self-contained HTML report: fits summary, every figure with its caption, nothing external.

The page embeds each figure as inline SVG (vector, selectable text, no files to lose) and needs
no JavaScript, web fonts or network: it opens offline in any browser. Next to it, in
`<stem>_files/`, go each figure as PNG and SVG, each fit as FIT.json (loadable by
`scalinglab plan --fit`), and `fits.json` with the summary table, for papers and scripts.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # the report never opens a window

import pandas as pd  # noqa: E402

from scalinglab import __version__, files, laws  # noqa: E402
from scalinglab.analyses.study import Study, fmt  # noqa: E402
from scalinglab.errors import ScalinglabError  # noqa: E402
from scalinglab.jsonable import to_jsonable  # noqa: E402
from scalinglab.report import figures  # noqa: E402

PNG_DPI = 150


@dataclass
class ReportSummary:
    """What `build_report` wrote and what it found: paths, figures shown and skipped, fits."""

    path: Path
    files_dir: Path
    figures: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    fits: list[dict[str, Any]] = field(default_factory=list)
    allocations: dict[str, dict[str, Any]] = field(default_factory=dict)
    backtest: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)  # the whole study, as JSON

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "report": str(self.path),
            "files": str(self.files_dir),
            "figures": self.figures,
            "skipped": self.skipped,
            **{k: v for k, v in self.study.items() if k not in ("skipped",)},
            "fits_not_possible": self.study.get("skipped", {}),
        })


def build_report(
    fits: Study,
    out_path: str | Path,
    title: str = "Scaling-law report",
    source: str = "",
) -> ReportSummary:
    """Draw and write the report of a study (`analyses.study`); return what was written.

    The report fits nothing: every number, interval and verdict comes from `fits`, so the page,
    the printed summary and the JSON show the same numbers.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() not in (".html", ".htm"):
        raise ScalinglabError(f"{out_path}: the report is an HTML file; name it *.html")
    files.check_output_file(out_path, "-o")
    files_dir = files.check_output_folder(out_path.with_name(out_path.stem + "_files"), "-o")
    try:
        files_dir.mkdir(exist_ok=True)
    except OSError as error:
        raise files.write_error(error, files_dir) from None

    drawn = figures.draw_all(fits)
    computed = fits.to_dict()
    summary = ReportSummary(path=out_path, files_dir=files_dir)
    summary.fits = computed["fits"]
    summary.allocations = computed["allocations"]
    summary.backtest = computed["backtest"]
    summary.study = computed

    sections = []
    for number, result in enumerate([r for r in drawn if r.figure is not None], start=1):
        svg = _svg(result.figure, prefix=f"f{number}-")
        files.write_text(files_dir / f"{result.name}.svg", svg)
        files.write_with(files_dir / f"{result.name}.png",
                         lambda handle, f=result.figure: f.savefig(handle, format="png",
                                                                   dpi=PNG_DPI))
        sections.append(_figure_html(number, result, svg))
        summary.figures.append(result.name)
    summary.skipped = {r.name: r.caption for r in drawn if r.figure is None}
    _write_fit_files(fits, files_dir, summary)

    page = _page(title, source, fits.full, fits, summary, sections)
    files.write_text(out_path, page)
    return summary


def _write_fit_files(fits: Study, files_dir: Path, summary: ReportSummary) -> None:
    """FIT.json per law (with bootstrap samples), and fits.json with the whole summary."""
    for fitted in fits.laws.values():
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", fitted.key).strip("_") or "fit"
        laws.save_fit(files_dir / f"fit_{stem}.json", fitted.law, fitted.boot)
    files.write_text(files_dir / "fits.json", json.dumps(summary.to_dict(), indent=2) + "\n")


def _svg(figure: Any, prefix: str) -> str:
    """The figure as an inline `<svg>` element whose ids are unique within the page.

    Matplotlib names glyphs and clip paths with ids that repeat across figures; one page holds
    many figures, so every id (and every reference to it) gets the figure's prefix.
    """
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r'(xlink:href|href)="#([^"]+)"',
                  lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", text)
    # Scale with the page: drop the fixed size in pt, keep the viewBox.
    text = re.sub(r'<svg([^>]*?)\swidth="[^"]*"\sheight="[^"]*"', r"<svg\1", text, count=1)
    return text.replace("<svg", '<svg role="img" class="plot"', 1)


def _figure_html(number: int, result: figures.FigureResult, svg: str) -> str:
    caption = html.escape(result.caption)
    classes = "report-figure wide" if result.wide else "report-figure"
    return (
        f'<figure id="{result.name}" class="{classes}">\n'
        f"<h3>Figure {number}. {html.escape(result.title)}</h3>\n{svg}\n"
        f"<figcaption>{caption} "
        f'<span class="files">({result.name}.png, {result.name}.svg)</span></figcaption>\n'
        "</figure>"
    )


def _fits_table(fits: Study) -> str:
    """One row per fitted law: formula, parameters with 95% intervals, convergence."""
    rows = []
    for fitted in fits.laws.values():
        result = fitted.law.result_
        converged = fitted.converged
        flag = "yes" if converged else "<strong>NO</strong>"
        starts = "" if result is None else f"{result.n_starts_at_best}/{result.n_starts}"
        rows.append(
            "<tr>"
            f"<td>{html.escape(fitted.label)}</td>"
            f"<td><code>{html.escape(fitted.formula())}</code></td>"
            f"<td>{html.escape(fitted.param_text())}</td>"
            f"<td>{len(fitted.data)}</td>"
            f'<td class="{"ok" if converged else "bad"}">{flag}</td>'
            f"<td>{starts}</td>"
            f"<td>{fmt(fitted.objective) if fitted.objective is not None else ''}</td>"
            f"<td>{html.escape(fitted.note)}</td>"
            "</tr>"
        )
    for name, allocation in (("Approach 1 (envelope)",
                              fits.envelope.allocation if fits.envelope else None),
                             ("Approach 2 (IsoFLOP)", fits.isoflop)):
        if allocation is None:
            continue
        rows.append(
            f"<tr><td>{name}</td><td><code>N_opt = k C^a, D_opt = k' C^b</code></td>"
            f"<td>{html.escape(allocation.text())}</td><td>{len(allocation.fit.points)}</td>"
            '<td class="ok">least squares</td><td></td><td></td>'
            "<td>log-log least squares through the compute-optimal points</td></tr>"
        )
    if not rows:
        return "<p>No law could be fitted to this table.</p>"
    head = ("<tr><th>Fit</th><th>Law</th><th>Parameters [95% interval]</th><th>Points</th>"
            "<th>Converged</th><th>Starts at best</th><th>Objective</th><th>Fitted on</th></tr>")
    return f'<table class="fits">\n<thead>{head}</thead>\n<tbody>\n' + "\n".join(rows) + (
        "\n</tbody>\n</table>")


def _study_notes(fits: Study) -> str:
    """The convention, the fit regime and the seed noise, in words."""
    items = []
    if fits.convention is not None:
        items.append(f"Accounting: {html.escape(fits.convention.description)}.")
    if "regime" in fits.verdicts:
        items.append(html.escape(fits.verdicts["regime"]))
    if fits.noise is not None:
        items.append(f"Seed noise: {html.escape(fits.noise.describe())}.")
    else:
        items.append("One seed per configuration: seed-to-seed noise is not measured, and "
                     "intervals exclude it.")
    if "allocation" in fits.verdicts:
        items.append(f"Compute-optimal exponent: {html.escape(fits.verdicts['allocation'])}")
    return "<ul class=\"notes\">" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _data_summary(table: pd.DataFrame, source: str) -> str:
    """One paragraph: how many rows, runs and families, and the ranges of N, D and C."""
    def span(column: str) -> str:
        return f"{fmt(table[column].min())} to {fmt(table[column].max())}"

    families = ", ".join(sorted(table["family"].astype(str).unique()))
    parts = [
        f"{len(table)} rows from {table['run'].nunique()} runs ({html.escape(families)})",
        f"N {span('params')} parameters",
        f"D {span('tokens')} tokens",
        f"C {span('flops')} FLOPs",
        f"loss {span('loss')} nats/token",
    ]
    where = f"<code>{html.escape(source)}</code>: " if source else ""
    return f"<p>{where}{'; '.join(parts)}.</p>"


def _group_note(fits: Study) -> str:
    """Which rows the single-group laws describe, when the table holds several groups."""
    if not fits.group:
        return ""
    return (f"<p>Laws of one model family on one corpus are fitted to the "
            f"<strong>{html.escape(fits.group)}</strong> runs ({fits.table['run'].nunique()} "
            "runs); the family and corpus comparisons use every run.</p>")


def _page(title: str, source: str, table: pd.DataFrame, fits: Study,
          summary: ReportSummary, sections: list[str]) -> str:
    n_boot = max((f.get("n_resamples", 0) for f in summary.fits), default=0)
    skipped = "".join(
        f"<li><strong>{html.escape(name)}</strong>: {html.escape(reason)}</li>"
        for name, reason in summary.skipped.items()
    )
    fit_problems = "".join(
        f"<li><strong>{html.escape(key)}</strong>: {html.escape(reason)}</li>"
        for key, reason in fits.skipped.items()
    )
    unconverged = [f.label for f in fits.laws.values() if not f.converged]
    warning = (
        f'<p class="warning">Did not converge: {html.escape(", ".join(unconverged))}. '
        "Treat those parameters as unreliable.</p>" if unconverged else ""
    )
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
{_data_summary(table, source)}
{_group_note(fits)}
<p class="meta">scalinglab {html.escape(__version__)}, {when}. Intervals are 95% bootstrap
intervals from resamples that keep the design ({n_boot} resamples; each fit says how they were
made). A parameter whose interval is wider than the stated identifiability range reads "not
identified". Figures, fits (FIT.json) and this summary as JSON are in
<code>{html.escape(summary.files_dir.name)}/</code>.</p>
{_study_notes(fits)}
</header>
<main>
<section id="fits">
<h2>Fitted laws</h2>
{warning}
{_fits_table(fits)}
</section>
<section id="figures">
<h2>Figures</h2>
{chr(10).join(sections) if sections else "<p>No figure could be drawn from this table.</p>"}
</section>
<section id="not-shown">
<h2>Not shown</h2>
<ul>{skipped or "<li>Every figure was drawn.</li>"}</ul>
{"<h3>Fits not possible on this data</h3><ul>" + fit_problems + "</ul>" if fit_problems else ""}
</section>
</main>
</body>
</html>
"""


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
h3 { font-size: 1em; margin: 0 0 0.4em 0; }
.meta { color: #666; font-size: 0.9em; }
table.fits { border-collapse: collapse; font-size: 0.85em; width: 100%; }
table.fits th, table.fits td { border: 1px solid #ddd; padding: 0.3em 0.5em; text-align: left;
                               vertical-align: top; }
table.fits th { background: #f4f4f4; }
td.ok { color: #1a7f37; } td.bad, .warning { color: #b00020; }
#figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
           gap: 1.2em; }
#figures > h2 { grid-column: 1 / -1; }
figure.report-figure { margin: 0; padding: 0.8em; border: 1px solid #e2e2e2; border-radius: 4px;
                       background: #fff; }
figure.wide { grid-column: 1 / -1; }
svg.plot { width: 100%; height: auto; display: block; }
figcaption { font-size: 0.88em; color: #333; margin-top: 0.4em; }
figcaption .files { color: #888; }
code { font-size: 0.95em; }
"""

__all__ = ["ReportSummary", "build_report"]
