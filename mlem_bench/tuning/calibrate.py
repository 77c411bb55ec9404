"""Measure the error model's constants on a pilot run (none set by hand).

    e_h = c_h * h                        EM discretisation with the exact drift
    e_b = b_k                            drift approximation: RMS |X_T(f^k) - X_T(f)|
    e_v^2 = c_v * T * h * sum_{l=2..k} delta_l^2 (1/p_l - 1)      ML-EM randomisation
    error^2 = e_h^2 + e_b^2 + e_v^2      (the three sources are treated as uncorrelated)

`configure` turns the model into configurations for a target error.
"""
import time
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


# the pilots `calibrate` runs ([sweep].pilot): "adaptive" (default) climbs the levels and
# samples the expensive ones; "full" measures every level on every path-step (for comparison)
PILOTS = ("adaptive", "full")
# adaptive pilot: the floors of what any measured level gets (docs/method.md, "The pilot")
MIN_PATH_STEPS = 64     # sampled path-steps of a level's delta_l (relative SE of delta about 1/sqrt(2 x 64))
MIN_BIAS_PATHS = 32     # paths of a level's bias run (relative SE of an RMS over 32 paths about 9%)


def theory_model(ladder, T, min_steps):
    """The error model a practitioner who trusts the theory writes down without a pilot,
    from the ladder's stated facts alone (eps_l, c_l; gamma enters through c_l):

    * b_l = T eps_l: a drift error eps_l held over the horizon (no contraction, no growth);
    * delta_l = sqrt(eps_l^2 + eps_{l-1}^2): two levels with independent errors of their size;
    * c_h = 1: EM's strong error taken as one step h (the textbook order-1 constant);
    * c_v = 1: the randomisation's variance exactly as the model writes it.

    The top level is then the cheapest with T eps_k within the bias budget, the step the
    largest power of two with h within the step budget, and the probabilities the same
    water-filling as the measured model's (`tune_mlem`)."""
    e = np.asarray(ladder.eps, dtype=float)
    delta = np.zeros(e.size)
    delta[2:] = np.hypot(e[2:], e[1:-1])
    delta[1] = e[1]
    bias = T * e
    bias[0] = 0.0
    return ErrorModel(1.0, bias, 1.0, delta, float(T), int(min_steps), pilot={"kind": "theory", "cost": 0.0})


def pilot_steps(problem):
    """n1, the pilot's step count: four times max(min_steps, 16)."""
    return 4 * max(problem.min_steps, 16)


def sample_fractions(cost, path_steps):
    """Per level l >= 1, the fraction q_l of the pilot's path-steps on which it is measured:
    sqrt(c_1 / c_l), never fewer than MIN_PATH_STEPS path-steps, at most all of them.

    The relative variance of a mean of |f^l - f^{l-1}|^2 does not depend on the level, so
    the samples that minimise the summed relative variances at a given cost fall as
    C_l^(-1/2) (the MLMC allocation N_l ~ sqrt(V_l / C_l)): the pilot's cost is then a
    geometric sum dominated by its top level, at the floor."""
    c = np.asarray(cost, dtype=float)
    q = np.ones(c.size)
    q[1:] = np.clip(np.sqrt(c[1] / c[1:]), min(1.0, MIN_PATH_STEPS / path_steps), 1.0)
    return q


def bias_grid(q, n_paths, n_steps, min_steps):
    """(paths, steps) of a level's bias run at sample fraction q: the reduction split evenly
    between paths and steps (b_l is a difference of two solutions on one grid, first-order
    insensitive to the step), at least MIN_BIAS_PATHS paths and the problem's min_steps."""
    r = np.sqrt(q)
    paths = int(min(n_paths, max(MIN_BIAS_PATHS, int(np.ceil(r * n_paths)))))
    steps = int(min(n_steps, max(min_steps, 2 ** int(np.floor(np.log2(max(1.0, r * n_steps)))))))
    return paths, steps


def calibrate(problem, ladder, seed, n_paths=400, reference="exact", pilot="full", stop_bias=0.0):
    """Measure (c_h, b_l, c_v, delta_l) on a pilot run.

    The pilot uses seed + PILOT_SEED_OFFSET, so its paths are not the measured ones.
    `pilot["cost"]` is the total counted cost of its solves (all paths; the references
    count nothing, as everywhere in the sweep). With reference = "finest" the errors are
    measured against the finest level's own SDE: c_h comes from EM with that level, and
    b_l is level l's terminal difference from it (b_L = 0).

    pilot = "full" measures every level on all n_paths x n1 path-steps. pilot = "adaptive"
    (`adaptive_bias`) climbs the levels, stops at the first whose bias is at most
    `stop_bias` (the smallest bias budget any configuration uses) and measures expensive
    levels on a sample; levels above it are not measured (NaN).
    """
    if pilot not in PILOTS:
        raise ValueError(f"pilot must be one of {', '.join(map(repr, PILOTS))} (got {pilot!r})")
    t0 = time.perf_counter()
    s = int(seed) + PILOT_SEED_OFFSET
    T = problem.T
    n1 = pilot_steps(problem)
    ref = reference_states(problem, ladder, reference, s, n_paths, 16 * n1)
    if pilot == "full":
        fractions, top = np.ones(ladder.levels + 1), ladder.levels
        exact, bias, target, runs = full_bias(problem, ladder, s, n_paths, n1, reference, fractions)
    else:
        fractions = sample_fractions(ladder.cost, n_paths * n1)
        exact, bias, target, runs, top = adaptive_bias(problem, ladder, s, n_paths, n1, reference, fractions,
                                                       stop_bias)
    moments = exact.diag.mean(axis=0) / n1      # per level: averages over paths and steps
    moments[top + 1:] = np.nan
    delta = np.sqrt(moments[:, DIAG_SQ])
    delta[0] = 0.0
    # c_h from the finest pilot grid, where EM is closest to its asymptotic order
    c_h = strong_error(target.x, ref.x[:target.x.shape[0]])[0] / (T / n1)
    # c_v: ML-EM with p_l = 1/2 against EM on the same level, grid and path
    k = min(top, 4)
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
                             "kind": pilot, "measured_levels": int(top), "fractions": [float(v) for v in fractions],
                             "cost": float(sum(r.cost.sum() for r in runs)),
                             "wall_s": time.perf_counter() - t0}, moments=moments)


def full_bias(problem, ladder, s, n_paths, n1, reference, fractions):
    """The full pilot: the diagnostic run on every path-step, one EM run per level.
    Returns (diagnostic run, b_l, the run c_h is measured on, every solve)."""
    exact = solve(problem, ladder, "diag", 0, n1, n_paths, s, probs=fractions)
    runs = [exact]           # every solve of the pilot: its counted cost is disclosed
    # b_l: terminal effect of level l's drift error alone (same grid and path)
    for l in range(1, ladder.levels + 1):
        runs.append(solve(problem, ladder, "em", l, n1, n_paths, s))
    # what the reference integrates, on the pilot grid: the exact drift (runs[0]) or the finest level
    target = runs[ladder.levels if reference == "finest" else 0]
    bias = np.array([0.0] + [strong_error(r.x, target.x)[0] for r in runs[1:ladder.levels + 1]])
    return exact, bias, target, runs


def adaptive_bias(problem, ladder, s, n_paths, n1, reference, fractions, stop_bias):
    """The adaptive pilot: climb l = 1, 2, ...; b_l from EM on `bias_grid(q_l)` (the first
    paths of the pilot's, against the exact drift or the finest level on the same grid),
    stopping at the first level with b_l <= stop_bias (with reference = "finest" every level
    is measured: b_l is relative to the top); then one diagnostic run that records level l
    on a fraction q_l of the path-steps, and none above the top measured level.
    Returns (diagnostic run, b_l (NaN above the top), c_h's run, every solve, top)."""
    L = ladder.levels
    bias = np.full(L + 1, np.nan)
    bias[0] = 0.0
    runs, targets = [], {}

    def target_on(paths, steps):
        if (paths, steps) not in targets:
            level = L if finest else 0
            targets[(paths, steps)] = solve(problem, ladder, "em", level, steps, paths, s)
            runs.append(targets[(paths, steps)])
        return targets[(paths, steps)]

    top = L
    finest = reference == "finest"
    if finest:
        bias[L] = 0.0
    for l in range(1, L if finest else L + 1):
        paths, steps = bias_grid(fractions[l], n_paths, n1, problem.min_steps)
        run = solve(problem, ladder, "em", l, steps, paths, s)
        runs.append(run)
        bias[l] = strong_error(run.x, target_on(paths, steps).x)[0]
        if not finest and bias[l] <= stop_bias:
            top = l
            break
    sampled = fractions.copy()
    sampled[top + 1:] = 0.0
    exact = solve(problem, ladder, "diag", 0, n1, n_paths, s, probs=sampled)
    runs.append(exact)
    if finest:
        target = target_on(bias_grid(fractions[L], n_paths, n1, problem.min_steps)[0], n1)
    else:
        target = exact
    return exact, bias, target, runs, top
