"""f^level(t, x) for every kind of ladder, inside jitted code.

A ladder reaches the kernels as a named tuple of arrays: `SyntheticArrays` (built by
`ladders.synthetic.SyntheticLadder.arrays`) or `learned_kernel.LearnedArrays`. The
kernels call `level_drift`, whose implementation Numba picks at compile time from the
tuple's class and inlines, so one kernel serves every ladder kind without a
function-call boundary (and its reference counting) in the step loop. Level 0 is the
exact drift.
"""
import warnings
from collections import namedtuple

import numpy as np
from numba import errors, njit
from numba.extending import overload

from .learned_kernel import LearnedArrays, learned_level_drift

# Inlining an overload's body makes Numba's internal SSA self-check report that the
# inlined arguments are "not in scope" (a pedantic check, not an error: kernel outputs
# are bit-identical to the directly inlined version, tests/numerics/test_kernels.py).
warnings.filterwarnings("ignore", message=r"variable '.*level_drift.*' is not in scope",
                        category=errors.NumbaIRAssumptionWarning)

# Bernoulli draws are keyed by step * MAX_LEVELS + level, so no ladder may have more levels.
MAX_LEVELS = 64

# Synthetic ladder f^l = f + eps_l u_l with u_l a sum of random Fourier features:
# eps, cost (L+1,); freq (L+1, M, d); tfreq, phase (L+1, M); amp (L+1, M, d); work (L+1,) int64
SyntheticArrays = namedtuple("SyntheticArrays", ["eps", "cost", "freq", "tfreq", "phase", "amp", "work"])


def exact_only_arrays(dim):
    """Arrays of a one-level ladder whose level 1 is the exact drift (zero perturbation):
    what the kernels get when only level 0 is asked for (references, order tests)."""
    z2, z3 = np.zeros((2, 1)), np.zeros((2, 1, int(dim)))
    return SyntheticArrays(np.array([0.0, 1.0]), np.array([0.0, 1.0]), z3, z2, z2.copy(), z3.copy(),
                           np.zeros(2, dtype=np.int64))


@njit
def burn(n, out):
    """n iterations of real work that the compiler cannot drop (the synthetic ladder's
    real-cost mode): an xorshift64 state never reaches 0 from a non-zero start, but LLVM
    cannot prove it, so the loop must run."""
    s = np.uint64(n) | np.uint64(1)
    for _ in range(n):
        s ^= s << np.uint64(13)
        s ^= s >> np.uint64(7)
        s ^= s << np.uint64(17)
    if s == np.uint64(0):
        out[0] = np.nan


@njit(inline="always")
def synthetic_level_drift(level, t, x, drift, pp, lad, out):
    """out = f^level(t, x) of a synthetic ladder; level 0 is the exact drift."""
    drift(t, x, pp, out)
    if level == 0:
        return
    eps, _, freq, tfreq, phase, amp, work = lad
    dim = x.shape[0]
    e = eps[level]
    for m in range(freq.shape[1]):
        arg = tfreq[level, m] * t + phase[level, m]
        for c in range(dim):
            arg += freq[level, m, c] * x[c]
        cm = e * np.cos(arg)
        for c in range(dim):
            out[c] += amp[level, m, c] * cm
    if work[level] > 0:
        burn(work[level], out)


def level_drift(level, t, x, drift, pp, lad, out):
    """out = f^level(t, x) for a ladder's kernel arrays `lad`; level 0 is the exact drift.

    Jitted code only (see the module docstring); from Python use `solve.evaluate_level`.
    """
    raise TypeError("level_drift is called from jitted code only; use solve.evaluate_level")


@overload(level_drift, inline="always")
def _level_drift_impl(level, t, x, drift, pp, lad, out):
    kind = getattr(lad, "instance_class", None)
    if kind is SyntheticArrays:
        return synthetic_level_drift.py_func
    if kind is LearnedArrays:
        return learned_level_drift.py_func
    raise TypeError(f"no ladder kind has kernel arrays of type {lad}; use SyntheticArrays or LearnedArrays")
