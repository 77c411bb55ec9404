"""The methods compared, each declaring its tuner and its theoretical cost exponent."""
from dataclasses import dataclass
from typing import Callable

from . import tuning


@dataclass(frozen=True)
class Method:
    """A solver with its tuner and its expected slope d log(cost) / d log(error)."""

    name: str
    label: str
    tune: Callable
    slope: Callable  # gamma -> theoretical slope (negative)

    def theory_slope(self, gamma):
        return float(self.slope(gamma))


METHODS = {
    "em": Method("em", "EM (finest needed level)", tuning.tune_em, lambda g: -(g + 1.0)),
    # gamma < 2: eps^-(1 + gamma/2); gamma > 2: eps^-gamma; gamma = 2: eps^-2 log^2 (slope -2 up to the log)
    "mlem": Method("mlem", "ML-EM", tuning.tune_mlem, lambda g: -max(g, 1.0 + g / 2.0)),
}
