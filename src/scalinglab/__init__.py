"""scalinglab: measure, fit, use and show neural scaling laws.

The notebook surface (`scalinglab.api`) is exported here and loaded on first use, so that
`import scalinglab` (and every CLI command) stays fast and never imports torch:

    from scalinglab import read_runs, fit, bootstrap, predict, plan, plot_fit
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scalinglab.errors import ScalinglabError

if TYPE_CHECKING:
    from scalinglab.api import bootstrap, fit, plan, plot_fit, predict, read_runs

__version__ = "0.1.0"
__all__ = ["ScalinglabError", "__version__", "bootstrap", "fit", "plan", "plot_fit", "predict",
           "read_runs"]
_API = frozenset(__all__[2:])


def __getattr__(name: str) -> Any:
    """Load the notebook API on first use (PEP 562)."""
    if name in _API:
        from scalinglab import api

        return getattr(api, name)
    raise AttributeError(f"module 'scalinglab' has no attribute {name!r}")
