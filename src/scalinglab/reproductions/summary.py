"""One page for every experiment run into a folder: `index.html`, the lecture's report.

Rebuilt after each `scalinglab reproduce` from the folder's NAME.json (verdict, ours, published)
and NAME.html (its figure), in the lecture's order; an experiment not yet run is listed as such
(one whose JSON cannot be read, with why), so the page always says what is still missing.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from scalinglab.files import write_text

INDEX = "index.html"


def write_summary(out_dir: Path, experiments: dict[str, tuple[str, str]]) -> Path:
    """Write `out_dir/index.html`; `experiments` maps name -> (title, source), in order."""
    rows, sections = [], []
    for name, (title, source) in experiments.items():
        finding = _read_finding(out_dir / f"{name}.json")
        if not isinstance(finding, dict):
            status = finding or "not run"
            rows.append(f"<tr><td>{html.escape(title)}</td><td>{html.escape(status)}</td>"
                        "<td></td></tr>")
            continue
        verdict, ours, published = (html.escape(str(finding.get(k, "")))
                                    for k in ("verdict", "ours", "published"))
        numbers = finding.get("numbers", {})
        run = f"scale {numbers.get('scale', '?')}, seed {numbers.get('seed', '?')}"
        rows.append(f'<tr><td><a href="#{name}">{html.escape(title)}</a></td>'
                    f"<td><b>{verdict}</b></td><td>{html.escape(run)}</td></tr>")
        sections.append(
            f'<h2 id="{name}">{html.escape(title)}</h2><p>Reproduces {html.escape(source)} '
            f'(<a href="{name}.html">its page</a>).</p><p><b>Verdict: {verdict}</b></p>'
            f"<p>Ours: {ours}</p><p>Published: {published}</p>"
            f"<figure>{_figure(out_dir / f'{name}.html')}</figure>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Kaplan's lecture on the lab's runs</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}}
td{{padding:0.2rem 0.6rem;border-bottom:1px solid #ddd}}</style></head><body>
<h1>Kaplan's lecture, experiment by experiment, on the lab's own runs</h1>
<table><tr><th>experiment</th><th>verdict</th><th>run</th></tr>{"".join(rows)}</table>
{"".join(sections)}
</body></html>
"""
    path = out_dir / INDEX
    write_text(path, page)
    return path


def _read_finding(path: Path) -> dict | str | None:
    """The experiment's JSON; None when it has not been run; why, when it cannot be read."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return f"{path.name} could not be read ({type(error).__name__}); rerun the experiment"
    return data if isinstance(data, dict) else f"{path.name} is not an experiment's result"


def _figure(page: Path) -> str:
    """The inline SVG of an experiment's page ("" if it has none)."""
    try:
        text = page.read_text()
    except OSError:
        return ""
    start, end = text.find("<svg"), text.rfind("</svg>")
    return text[start:end + len("</svg>")] if 0 <= start < end else ""
