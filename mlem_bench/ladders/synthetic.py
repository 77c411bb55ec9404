"""Ladders of drift approximators f^1, ..., f^L with known error and cost.

A synthetic ladder perturbs the exact drift by a smooth bounded field per level,
f^l(t, x) = f(t, x) + eps_l * u_l(t, x), with |u_l(t, x)| <= 1 (Euclidean norm),
eps_l = eps1 * 2^-(l-1) and counted cost c_l = cost1 * 2^(gamma (l-1)).
Level 0 denotes the exact drift (cost 0); it serves references and order tests.

Two structures (docs/method.md, "Nested ladders"):

* independent (default): one random field u_l per level, drawn independently. The
  terminal bias b_l a level leaves is then irregular (neighbouring fields may cancel or
  add along trajectories), and not always decreasing.
* nested: one field u shared by every level, f^l = f + eps_l u. The level differences are
  f^l - f^{l-1} = -eps_l u (delta_l = eps_l |u|, as in the independent ladder up to a
  constant), and the terminal bias is b_l = eps_l B + O(eps_l^2) with one constant B, so it
  halves from level to level: b_l falls geometrically and monotonically.
"""
from dataclasses import dataclass

import numpy as np

from ..numerics.drift import MAX_LEVELS, SyntheticArrays
from ..numerics.rng import STREAM_LADDER_NORMALS, STREAM_LADDER_UNIFORMS, stream_normals, stream_uniforms

STRUCTURES = ("independent", "nested")    # [ladder].structure


@dataclass(frozen=True)
class SyntheticLadder:
    """Synthetic gamma-ladder (DESIGN section 3).

    Parameters
    ----------
    gamma : float
        Cost exponent: cost(f^l) = cost1 * (eps1 / eps_l)^gamma.
    levels : int
        Number of levels L.
    eps1, cost1 : float
        Error bound and counted cost of level 1.
    seed : int
        Seed of the random Fourier features that make the perturbations u_l.
    n_features : int
        Fourier features per level and component.
    lengthscale : float
        Length scale of the features in x (and t); fixes a level-independent Lipschitz constant.
    work_per_unit : float
        0 counts cost only; > 0 makes one evaluation of level l also do
        round(c_l * work_per_unit) iterations of real, non-removable work.
    structure : str
        "independent" (one field u_l per level) or "nested" (one field u for every level).
    """

    gamma: float
    levels: int
    eps1: float
    cost1: float = 1.0
    seed: int = 0
    n_features: int = 8
    lengthscale: float = 1.0
    work_per_unit: float = 0.0
    structure: str = "independent"

    def __post_init__(self):
        checks = [
            ("gamma", self.gamma > 0, "must be > 0"),
            ("levels", 1 <= self.levels < MAX_LEVELS, f"must be an integer in [1, {MAX_LEVELS - 1}]"),
            ("eps1", self.eps1 > 0 and np.isfinite(self.eps1), "must be a finite number > 0"),
            ("cost1", self.cost1 > 0 and np.isfinite(self.cost1), "must be a finite number > 0"),
            ("n_features", self.n_features >= 1, "must be >= 1"),
            ("lengthscale", self.lengthscale > 0, "must be > 0"),
            ("work_per_unit", self.work_per_unit >= 0, "must be >= 0"),
            ("structure", self.structure in STRUCTURES, f"must be one of {', '.join(STRUCTURES)}"),
        ]
        for field, ok, what in checks:
            if not ok:
                raise ValueError(f"[ladder].{field} {what} (got {getattr(self, field)!r})")

    # Facts the tests and the tuner read.
    @property
    def eps(self):
        """eps_l for l = 0..L (eps_0 = 0: the exact drift)."""
        l = np.arange(self.levels + 1)
        e = self.eps1 * 2.0 ** -(l - 1.0)
        e[0] = 0.0
        return e

    @property
    def cost(self):
        """Counted cost c_l for l = 0..L (c_0 = 0)."""
        l = np.arange(self.levels + 1)
        c = self.cost1 * 2.0 ** (self.gamma * (l - 1.0))
        c[0] = 0.0
        return c

    def arrays(self, dim):
        """The ladder's kernel arrays (`numerics.drift.SyntheticArrays`) in dimension `dim`."""
        L, M = self.levels + 1, self.n_features
        rows = L * M
        # Frequencies ~ N(0, 1/lengthscale^2), phases uniform, amplitudes uniform
        # signs normalised to sum |a| = 1 per component: |u_c| <= 1/sqrt(d).
        z = stream_normals(self.seed, STREAM_LADDER_NORMALS, rows, dim + 1)
        u = stream_uniforms(self.seed, STREAM_LADDER_UNIFORMS, rows, dim + 1)
        freq = (z[:, :dim] / self.lengthscale).reshape(L, M, dim)
        tfreq = (z[:, dim] / self.lengthscale).reshape(L, M)
        phase = (2 * np.pi * u[:, dim]).reshape(L, M)
        amp = (2 * u[:, :dim] - 1).reshape(L, M, dim)
        amp /= np.abs(amp).sum(axis=1, keepdims=True) * np.sqrt(dim)
        if self.structure == "nested":
            # every level carries level 1's field (the same draw as the independent ladder's u_1)
            freq, tfreq, phase, amp = (np.repeat(a[1:2], L, axis=0) for a in (freq, tfreq, phase, amp))
        work = np.rint(self.cost * self.work_per_unit).astype(np.int64)
        return SyntheticArrays(self.eps.copy(), self.cost.copy(), np.ascontiguousarray(freq), tfreq,
                               phase, np.ascontiguousarray(amp), work)
