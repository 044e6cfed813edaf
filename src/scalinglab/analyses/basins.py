"""Hyperparameter basins: how much the loss rises as one hyperparameter moves from its best value.

Kaplan et al. 2020 (Fig. 5) found that at fixed non-embedding N the loss changes only a few
percent as the aspect ratio d_model / n_layer varies over a wide range, and that the learning
rate has a broad basin: scaling laws do not hinge on fine tuning. Here, for a scan of one
hyperparameter h at fixed N (`kind = "scan"` sweeps), the final losses against log h are
interpolated piecewise-linearly and read at `FACTOR` times either side of the best measured h:
the basin is "broad" when the loss there is within `TOLERANCE` of the best on both sides,
"narrow" when it is more than that on either side, and a side the scan did not reach is
"not measured". The measured seed noise, when given, sets how small a rise can be told
from zero: a rise within two noise standard deviations of `TOLERANCE` is "unclear".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalinglabError

FACTOR = 3.0  # Kaplan: within a few percent over a factor of ~3 either way
TOLERANCE = 0.03  # "a few percent"


@dataclass
class Basin:
    """One scan's basin: the best value, and the relative loss rise `FACTOR` x either side."""

    hyperparameter: str
    values: np.ndarray
    losses: np.ndarray
    best: float
    best_loss: float
    rise_below: float  # relative rise at best / FACTOR (NaN if the scan stops short)
    rise_above: float  # relative rise at best * FACTOR
    span: float  # max / min of the scanned values
    noise_sd: float = 0.0  # relative seed noise of one run's loss

    @property
    def verdict(self) -> str:
        rises = [r for r in (self.rise_below, self.rise_above) if np.isfinite(r)]
        if len(rises) < 2:
            return "not measured (the scan does not reach a factor 3 either side of its best)"
        margin = 2 * self.noise_sd
        if all(r <= TOLERANCE - margin for r in rises):
            return "broad"
        if any(r > TOLERANCE + margin for r in rises):
            return "narrow"
        return "unclear (the rise is within the seed noise of the tolerance)"

    def summary(self) -> str:
        def pct(r: float) -> str:
            return f"{100 * r:+.1f}%" if np.isfinite(r) else "not reached"

        return (f"{self.hyperparameter}: best {self.best:.3g} (loss {self.best_loss:.4g}); "
                f"{FACTOR:g}x below {pct(self.rise_below)}, {FACTOR:g}x above "
                f"{pct(self.rise_above)} over a {self.span:.3g}x scan: {self.verdict} "
                f"(Kaplan et al. 2020: within a few percent)")

    def to_dict(self) -> dict[str, Any]:
        return {"hyperparameter": self.hyperparameter, "values": self.values.tolist(),
                "losses": self.losses.tolist(), "best": self.best, "best_loss": self.best_loss,
                "rise_below": self.rise_below, "rise_above": self.rise_above, "span": self.span,
                "noise_sd": self.noise_sd, "verdict": self.verdict, "summary": self.summary()}


def basin(values: np.ndarray, losses: np.ndarray, hyperparameter: str,
          noise_sd: float = 0.0) -> Basin:
    """The basin of a scan: final `losses` at hyperparameter `values` (one model size)."""
    frame = pd.DataFrame({"h": np.asarray(values, float), "loss": np.asarray(losses, float)})
    frame = frame.groupby("h", as_index=False)["loss"].mean().sort_values("h")
    if len(frame) < 3:
        raise ScalinglabError(f"basin of {hyperparameter}: {len(frame)} values; need at least 3")
    if (frame["h"] <= 0).any() or (frame["loss"] <= 0).any():
        raise ScalinglabError(f"basin of {hyperparameter}: values and losses must be positive")
    h, loss = frame["h"].to_numpy(), frame["loss"].to_numpy()
    i = int(np.argmin(loss))

    def rise(target: float) -> float:
        if not h[0] <= target <= h[-1]:
            return float("nan")
        return float(np.interp(np.log(target), np.log(h), loss) / loss[i] - 1.0)

    return Basin(hyperparameter, h, loss, float(h[i]), float(loss[i]), rise(h[i] / FACTOR),
                 rise(h[i] * FACTOR), float(h[-1] / h[0]), noise_sd)
