"""Published laws as fitted law objects, built from the values in `scalinglab.constants`."""

from __future__ import annotations

from scalinglab import constants
from scalinglab.errors import ScalinglabError
from scalinglab.laws.base import Law
from scalinglab.laws.forms import ChinchillaLaw, KaplanLaw

# name -> (law class, options, parameters, where they come from)
PUBLISHED = {
    "chinchilla-hoffmann": (
        ChinchillaLaw, {}, constants.CHINCHILLA_HOFFMANN,
        "Hoffmann et al. 2022, Approach 3 (Eq. 10)",
    ),
    "chinchilla-epoch": (
        ChinchillaLaw, {}, constants.CHINCHILLA_EPOCH,
        "Besiroglu et al. 2024, converged refit of Hoffmann's runs",
    ),
    "kaplan": (
        KaplanLaw, {"params_column": "params_nonembedding"}, constants.KAPLAN_LND,
        "Kaplan et al. 2020, Eq. 1.5 (non-embedding parameters)",
    ),
}


def published_law(name: str) -> Law:
    """A law with `params_` set to published values; `result_` is None (we did not fit it)."""
    if name not in PUBLISHED:
        raise ScalinglabError(
            f"unknown published law {name!r}; choose from {', '.join(PUBLISHED)}"
        )
    cls, options, params, source = PUBLISHED[name]
    law = cls(**options)
    law.params_ = {p: float(params[p]) for p in law.param_names}
    law.published_name = name
    law.source = source
    return law
