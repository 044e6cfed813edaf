"""Write a benchmark's section into docs/benchmarks.md between its markers."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def record_section(name: str, markdown: str) -> None:
    """Replace the text between `<!-- name:start -->` and `<!-- name:end -->` with `markdown`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text()
    if start not in text or end not in text:
        text = text.rstrip() + f"\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    BENCHMARKS_MD.write_text(f"{head}{start}\n{markdown.strip()}\n{end}{tail}")
