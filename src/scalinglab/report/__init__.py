"""The report: paper-style figures of the measurements and fits, in one self-contained HTML file.

`figures` draws one figure per analysis (each skipped, with a reason, when the data lacks what it
needs); `html` fits the laws, draws the figures and writes `report.html` plus PNG, SVG and JSON
files next to it.
"""

from scalinglab.report.html import ReportSummary, build_report

__all__ = ["ReportSummary", "build_report"]
