"""Scaling laws as objects with the same verbs, and the machinery that fits them.

    law = get_law("chinchilla").fit(table)      # summed Huber on log residuals, multi-start
    law.params_, law.result_, law.predict(data)
    boot = bootstrap(law, table, n_resamples=1000, seed=0, n_jobs=2)   # keeps the design
    identify(law, boot.intervals())                                     # what the data pin down
    select_law(table)                                                   # --law auto
    backtest(law, table, x="flops", train_max=1e20)                     # held-out ARE
    envelope_fit(table), isoflop_fit(table)                             # Approaches 1 and 2
    isoflop_intervals(table, n_resamples=1000, seed=0)                  # keeps the design
"""

from scalinglab.laws.approaches import (
    AllocationFit,
    AllocationIntervals,
    IsoflopFit,
    envelope_fit,
    isoflop_budgets,
    isoflop_fit,
    isoflop_intervals,
)
from scalinglab.laws.backtest import backtest
from scalinglab.laws.base import Law
from scalinglab.laws.fitting import HUBER_DELTA
from scalinglab.laws.forms import (
    BrokenPowerLaw,
    ChinchillaLaw,
    KaplanLaw,
    PowerLaw,
    SaturatingLaw,
)
from scalinglab.laws.identifiability import identify
from scalinglab.laws.published import published_law
from scalinglab.laws.registry import get_law, law_from_dict, law_names
from scalinglab.laws.result import FitResult
from scalinglab.laws.selection import Selection, select_law
from scalinglab.laws.serialize import SavedFit, fit_summary, load_fit, read_fit, save_fit
from scalinglab.laws.uncertainty import Bootstrap, bootstrap

__all__ = [
    "HUBER_DELTA",
    "AllocationFit",
    "AllocationIntervals",
    "Bootstrap",
    "BrokenPowerLaw",
    "ChinchillaLaw",
    "FitResult",
    "IsoflopFit",
    "KaplanLaw",
    "Law",
    "PowerLaw",
    "SaturatingLaw",
    "SavedFit",
    "Selection",
    "backtest",
    "bootstrap",
    "envelope_fit",
    "fit_summary",
    "get_law",
    "identify",
    "isoflop_budgets",
    "isoflop_fit",
    "isoflop_intervals",
    "law_from_dict",
    "law_names",
    "load_fit",
    "published_law",
    "read_fit",
    "save_fit",
    "select_law",
]
