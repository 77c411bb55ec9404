"""Measure the error model's constants on a pilot run (none set by hand).

    e_h = c_h * h                        EM discretisation with the exact drift
    e_b = b_k                            drift approximation: RMS |X_T(f^k) - X_T(f)|
    e_v^2 = c_v * T * h * sum_{l=2..k} delta_l^2 (1/p_l - 1)      ML-EM randomisation
    error^2 = e_h^2 + e_b^2 + e_v^2      (the three sources are treated as uncorrelated)

`configure` turns the model into configurations for a target error.
"""
from dataclasses import dataclass, field

import numpy as np

from ..numerics.kernels import DIAG_SQ
from ..numerics.rng import PILOT_SEED_OFFSET
from ..numerics.solve import reference_states, solve, strong_error


@dataclass
class ErrorModel:
    """Measured constants of the error model (see module docstring)."""

    c_h: float
    bias: np.ndarray         # b_l = RMS |X_T(f^l) - X_T(f)| on the pilot, l = 0..L (b_0 = 0)
    c_v: float
    delta: np.ndarray        # delta_l = RMS |f^l - f^{l-1}| along trajectories, l = 0..L (delta_0 = 0)
    T: float
    min_steps: int
    pilot: dict = field(default_factory=dict)
    moments: np.ndarray = None   # (L+1, N_DIAG) pilot averages of the kernels.DIAG_* moments per level

    def to_dict(self):
        """JSON-ready form (floats round-trip exactly through json)."""
        d = dict(vars(self))
        for k in ("bias", "delta", "moments"):
            d[k] = None if d[k] is None else np.asarray(d[k]).tolist()
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        for k in ("bias", "delta", "moments"):
            d[k] = None if d[k] is None else np.asarray(d[k], dtype=float)
        return cls(**d)


def calibrate(problem, ladder, seed, n_paths=400, reference="exact"):
    """Measure (c_h, b_l, c_v, delta_l) on a pilot run.

    The pilot uses seed + PILOT_SEED_OFFSET, so its paths are not the measured ones.
    `pilot["cost"]` is the total counted cost of its solves (all paths; the references
    count nothing, as everywhere in the sweep). With reference = "finest" the errors are
    measured against the finest level's own SDE: c_h comes from EM with that level, and
    b_l is level l's terminal difference from it (b_L = 0).
    """
    s = int(seed) + PILOT_SEED_OFFSET
    T = problem.T
    n0 = max(problem.min_steps, 16)
    n1 = 4 * n0
    ref = reference_states(problem, ladder, reference, s, n_paths, 16 * n1)
    exact = solve(problem, ladder, "diag", 0, n1, n_paths, s)
    # the diagnostic run evaluates every level at every step, which the kernel does not
    # count (it counts the exact drift it integrates); the pilot's cost adds it here
    diag_cost = float(exact.n_steps) * n_paths * float(np.sum(ladder.cost[1:]))
    runs = [exact]           # every solve of the pilot: its counted cost is disclosed
    moments = exact.diag.mean(axis=0) / n1      # per level: averages over paths and steps
    delta = np.sqrt(moments[:, DIAG_SQ])
    delta[0] = 0.0
    # b_l: terminal effect of level l's drift error alone (same grid and path)
    for l in range(1, ladder.levels + 1):
        runs.append(solve(problem, ladder, "em", l, n1, n_paths, s))
    # what the reference integrates, on the pilot grid: the exact drift (runs[0]) or the finest level
    target = runs[ladder.levels if reference == "finest" else 0]
    # c_h from the finest pilot grid, where EM is closest to its asymptotic order
    c_h = strong_error(target.x, ref.x)[0] / (T / n1)
    bias = np.array([0.0] + [strong_error(r.x, target.x)[0] for r in runs[1:ladder.levels + 1]])
    # c_v: ML-EM with p_l = 1/2 against EM on the same level, grid and path
    k = min(ladder.levels, 4)
    c_v = 1.0  # only a one-level ladder keeps this: ML-EM then has no randomisation to model
    if k >= 2:
        probs = np.full(ladder.levels + 1, 0.5)
        em_k = solve(problem, ladder, "em", k, n1, n_paths, s)
        ml_k = solve(problem, ladder, "mlem", k, n1, n_paths, s, probs=probs)
        runs += [em_k, ml_k]
        pred = T * (T / n1) * np.sum(delta[2:k + 1] ** 2 * (1 / probs[2:k + 1] - 1))
        if pred > 0:
            c_v = strong_error(ml_k.x, em_k.x)[0] ** 2 / pred
    return ErrorModel(float(c_h), bias, float(c_v), delta, T, int(problem.min_steps),
                      pilot={"seed": s, "n_paths": n_paths, "n_steps": n1, "reference": reference,
                              "cost": diag_cost + float(sum(r.cost.sum() for r in runs))}, moments=moments)
