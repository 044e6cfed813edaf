"""The lab's analyses, each an API function the CLI, the demo and the report call.

    compare(table, "transformer", "lstm", by="family")   # compute multiplier C_B(L)/C_A(L)
    fit_positions(positions, table)                      # L(t) per model; context gain by family
    modalities(table)                                    # L(C), N_opt(C) per corpus; markov E check
    capabilities(table, accuracies)                      # exact match vs size next to loss

Building blocks: `fit_envelope` (L(C) through the lower envelope plus Approach 1, one group's
trend) and `fit_law` / `FittedLaw` (a law fitted with its design-keeping bootstrap).
"""

from scalinglab.analyses.capabilities import Capabilities, capabilities
from scalinglab.analyses.compare import Comparison, compare, compare_envelopes, compute_multiplier
from scalinglab.analyses.envelope import Allocation, EnvelopeFit, fit_envelope, lower_envelope
from scalinglab.analyses.fitted import FittedLaw, fit_law
from scalinglab.analyses.modalities import EntropyCheck, Modalities, markov_entropy, modalities
from scalinglab.analyses.positions import ContextGain, PositionFits, fit_positions
from scalinglab.analyses.sources import Tables, load_data, load_sweeps

__all__ = [
    "Allocation",
    "Capabilities",
    "Comparison",
    "ContextGain",
    "EntropyCheck",
    "EnvelopeFit",
    "FittedLaw",
    "Modalities",
    "PositionFits",
    "Tables",
    "capabilities",
    "compare",
    "compare_envelopes",
    "compute_multiplier",
    "fit_envelope",
    "fit_law",
    "fit_positions",
    "load_data",
    "load_sweeps",
    "lower_envelope",
    "markov_entropy",
    "modalities",
]
