"""scalinglab: measure, fit, use and show neural scaling laws."""

from scalinglab.errors import ScalinglabError

__version__ = "0.1.0"
__all__ = ["ScalinglabError", "__version__"]
