"""Kaplan's lecture, experiment by experiment: `scalinglab reproduce NAME`.

Each experiment (`Experiment`) is a set of sweep designs made for one question and an analysis
that ends in a `Finding`: a verdict in words beside the published number (science.md,
section 6): "reproduced", "not reproduced" (and by how much) or "not identifiable at this
scale" (and what would be needed), with its figure. `run_experiment` runs the designs in a
store (resumable and parallel like every sweep), analyses the finished runs and writes
`NAME.json` and `NAME.html` (the figure and the verdict) next to the store.
"""

from scalinglab.reproductions.base import Experiment, Finding
from scalinglab.reproductions.registry import EXPERIMENTS, experiment_designs, run_experiment

__all__ = ["EXPERIMENTS", "Experiment", "Finding", "experiment_designs", "run_experiment"]
