"""Python side of the solvers: validation, seeding, allocation, blocking."""
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import PathExplosionError
from . import kernels
from .brownian import depth_of
from .drift import exact_only_arrays, scratch_size

METHOD_CODES = {"em": kernels.EM, "mlem": kernels.MLEM, "diag": kernels.DIAG, "noise": kernels.NOISE,
                "stitch": kernels.STITCH, "schedule": kernels.SCHEDULE}


class ExactDrift:
    """The ladder used when only the exact drift (level 0) is needed: one level, equal to it."""

    levels = 1
    gamma = float("nan")

    def arrays(self, dim):
        return exact_only_arrays(dim)


EXACT_ONLY = ExactDrift()


@dataclass
class Reference:
    """Terminal states of the reference solution and an estimate of its own RMS error."""

    x: np.ndarray
    own_error: float
    n_steps: int
    kind: str


@dataclass
class Solution:
    """Result of `solve`: terminal states, counted cost and evaluations per path."""

    x: np.ndarray          # (n_paths, d) terminal states
    cost: np.ndarray       # (n_paths,) counted cost
    evals: np.ndarray      # (n_paths, L+1) evaluations of each level (index 0: exact drift)
    diag: np.ndarray       # (n_paths, L+1, N_DIAG) sums over steps of the kernels.DIAG_* moments ("diag")
    n_steps: int
    wall_s: float


@lru_cache(maxsize=64)
def ladder_arrays(ladder, dim):
    """Kernel arrays of a ladder for a dimension (cached: they are deterministic)."""
    return ladder.arrays(dim)


def check_probs(probs, level, n_levels):
    """Probabilities indexed by level (entries 0 and 1 ignored), validated for 2..level."""
    p = np.ones(n_levels)
    if probs is None:
        return p
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1 or probs.size < level + 1:
        raise ValueError(f"probs must be indexed by level: a 1-D array of length >= {level + 1} (got shape {probs.shape})")
    for l in range(2, level + 1):
        if not (0.0 < probs[l] <= 1.0):
            raise ValueError(f"probability p_{l} = {probs[l]!r} is outside (0, 1]; every level 2..{level} needs 0 < p <= 1")
    p[: level + 1] = probs[: level + 1]
    return p


def check_fractions(fractions, n_levels):
    """DIAG sampling fractions indexed by level (entry 0 ignored), validated for 1..L:
    level l is recorded on a random fraction q_l of the path-steps (0: not at all)."""
    q = np.ones(n_levels)
    if fractions is None:
        return q
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (n_levels,):
        raise ValueError(f"diag fractions must be indexed by level: a 1-D array of length {n_levels} "
                         f"(got shape {fractions.shape})")
    bad = [l for l in range(1, n_levels) if not 0.0 <= fractions[l] <= 1.0]
    if bad:
        raise ValueError(f"diag fraction q_{bad[0]} = {fractions[bad[0]]!r} is outside [0, 1]")
    q[1:] = fractions[1:]
    return q


def solve(problem, ladder, method, level, n_steps, n_paths, seed, probs=None,
          increments=None, block_size=None, x0=None, share=1, switch_step=0):
    """Solve `problem` to its horizon T for n_paths paths.

    Parameters
    ----------
    problem : Problem
    ladder : SyntheticLadder or None (None: only level 0, the exact drift)
    method : "em", "mlem", "schedule", "stitch", "diag" or "noise" (the Brownian path alone: a speed floor)
    level : int
        EM/diag: the level used (0 = exact drift). ML-EM/schedule/stitch: the top level k >= 1.
    n_steps : int, a power of two
    n_paths, seed : int
        Paths 0..n_paths-1 under `seed` (common random numbers across methods).
    probs : array indexed by level (ML-EM, schedule), default all 1. For "diag": the
        fraction of path-steps on which each level's difference is recorded (default all 1).
    increments : optional (n_paths, n_steps, d) Brownian increments to use instead.
    block_size : paths per lock-step block (default kernels.BLOCK; results do not depend on it).
    x0 : optional (n_paths, d) initial states (default: problem.initial_states).
    share : ML-EM paths per Bernoulli pattern (1: independent per path; paths i and j
        share a pattern when i // share == j // share).
    switch_step : stitch: steps before it use level 1, the rest `level`.

    Returns
    -------
    Solution
    """
    if method not in METHOD_CODES:
        raise ValueError(f"method must be one of {sorted(METHOD_CODES)} (got {method!r})")
    depth_of(n_steps)
    ladder = EXACT_ONLY if ladder is None else ladder
    L = ladder.levels
    low = 1 if method in ("mlem", "schedule", "stitch") else 0
    if not (low <= level <= L):
        raise ValueError(f"level {level} is outside the ladder's levels ({low}..{L}); add levels or aim lower")
    if int(share) < 1:
        raise ValueError(f"share must be >= 1 path per Bernoulli pattern (got {share})")
    if not 0 <= int(switch_step) <= n_steps:
        raise ValueError(f"switch_step must be in 0..n_steps = 0..{n_steps} (got {switch_step})")
    n_paths, dim = int(n_paths), problem.dim
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1 (got {n_paths})")
    if method in ("mlem", "schedule"):
        p = check_probs(probs, level, L + 1)
    elif method == "diag":
        p = check_fractions(probs, L + 1)
    else:
        p = np.ones(L + 1)
    lad = ladder_arrays(ladder, dim)
    if x0 is None:
        x0 = problem.initial_states(seed, n_paths)
    x0 = np.ascontiguousarray(x0, dtype=float)
    if increments is not None:
        increments = np.ascontiguousarray(increments, dtype=float)
        if increments.shape != (n_paths, n_steps, dim):
            raise ValueError(f"increments must have shape (n_paths, n_steps, dim) = {(n_paths, n_steps, dim)} "
                             f"(got {increments.shape})")
        if not np.all(np.isfinite(increments)):
            raise ValueError("increments contain non-finite values")
    block = kernels.BLOCK if block_size is None else int(block_size)
    if block < 1:
        raise ValueError(f"block_size must be >= 1 (got {block_size})")
    block = min(block, n_paths)
    x = np.empty((n_paths, dim))
    cost = np.empty(n_paths)
    evals = np.zeros((n_paths, L + 1), dtype=np.int64)
    diag = np.zeros((n_paths, L + 1, kernels.N_DIAG) if method == "diag" else (n_paths, L + 1, 0))
    fail = np.zeros(n_paths, dtype=np.int64)
    t0 = time.perf_counter()
    kernels.simulate(problem.kernel_args(), lad,
                     METHOD_CODES[method], int(level), p, x0, float(problem.T), int(n_steps), int(seed), 0,
                     bool(problem.noisy), np.empty((0, 0, 0)) if increments is None else increments,
                     int(share), int(switch_step), block, scratch_size(lad, dim, block),
                     x, cost, evals, diag, fail)
    wall = time.perf_counter() - t0
    bad = np.flatnonzero(fail)
    if bad.size:
        raise PathExplosionError(
            f"{bad.size} of {n_paths} paths became non-finite or exceeded |x| > {kernels.BLOWUP:g} "
            f"(method {method}, level {level}, {n_steps} steps, first at step {fail[bad].min()}); "
            f"check the drift and the step size", method=method, level=int(level), n_steps=int(n_steps))
    return Solution(x, cost, evals, diag, int(n_steps), wall)


def strong_error(x, ref):
    """RMS over paths of |x - ref| and its standard error (delta method)."""
    sq = np.sum((x - ref) ** 2, axis=1)
    err = float(np.sqrt(sq.mean()))
    se_sq = sq.std(ddof=1) / np.sqrt(sq.size) if sq.size > 1 else np.nan
    return err, float(se_sq / (2 * err)) if err > 0 else 0.0


def estimator_draws(problem, ladder, top, probs, t, x, seed, n_draws):
    """Independent ML-EM drift estimates at (t, x): array (n_draws, d) and mean cost."""
    p = check_probs(probs, top, ladder.levels + 1)
    out = np.empty((int(n_draws), problem.dim))
    lad = ladder_arrays(ladder, problem.dim)
    c = kernels.estimator_draws(problem.kernel_args(), lad, int(top), p,
                                float(t), np.asarray(x, dtype=float), int(seed), int(n_draws),
                                scratch_size(lad, problem.dim, 1), out)
    return out, c


def evaluate_level(problem, ladder, level, t, x):
    """f^level at points: t (n,), x (n, d) -> (n, d). Level 0 is the exact drift."""
    ladder = EXACT_ONLY if ladder is None else ladder
    x = np.ascontiguousarray(np.atleast_2d(x), dtype=float)
    t = np.broadcast_to(np.asarray(t, dtype=float), (x.shape[0],)).copy()
    out = np.empty_like(x)
    lad = ladder_arrays(ladder, problem.dim)
    kernels.evaluate_level(problem.kernel_args(), lad, int(level), t, x,
                           scratch_size(lad, problem.dim, x.shape[0]), out)
    return out


# what errors are measured against: the exact drift's solution, or the finest level's own SDE
REFERENCES = ("exact", "finest")


def reference_states(problem, ladder, reference, seed, n_paths, n_steps):
    """The Reference errors are measured against: "exact", the problem's exact solution (or
    its fine-grid exact-drift EM); "finest", the finest level's own SDE on a fine grid (the
    paper's protocol and the image track's)."""
    if reference == "finest":
        return fine_grid_reference(problem, seed, n_paths, n_steps, ladder, ladder.levels)
    return problem.reference(seed, n_paths, n_steps)


def fine_grid_reference(problem, seed, n_paths, n_steps, ladder=None, level=0):
    """EM on n_steps with the exact drift (level 0) or a ladder's level, with its own error
    estimated from the run on n_steps / 2 (strong order 1: |X_N - X_{N/2}| estimates the
    error of X_N): the reference of a problem without a closed-form solution on a given
    Brownian path, or of the level's own SDE (the finest level's, for `reference = "finest"`)."""
    fine = solve(problem, ladder, "em", level, n_steps, n_paths, seed)
    half = solve(problem, ladder, "em", level, n_steps // 2, n_paths, seed)
    own = float(np.sqrt(np.mean(np.sum((fine.x - half.x) ** 2, axis=1))))
    kind = "fine-grid exact drift" if level == 0 else f"fine-grid level {level}"
    return Reference(fine.x, own, n_steps, kind)
