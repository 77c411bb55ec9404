"""f^level(t, X) on a block of paths for every kind of ladder, inside jitted code.

The kernels advance a block of m paths in lock-step, so a drift is evaluated on a
block: X and OUT are (d, m) arrays (component-major, the m paths contiguous), all at
the same time t. Loops over the m paths are innermost, which is what LLVM vectorises.

The problem reaches the kernels as a named tuple `prob`, in one of two forms chosen at
compile time from its class:

* a built-in problem's own kernel arrays: a named tuple with a field ``params`` whose
  class declares the jitted functions as class attributes, ``drift_block(t, X, params,
  OUT)`` with X, OUT (d, m) and ``diffusion(t, params) -> float`` (see `problems`). No
  function is an argument, so kernels compiled for it are cached on disk (`jit_cache`).
* `UserFunctions(drift, drift_block, diffusion, params)`: a user's jitted functions as
  values; ``drift(t, x, params, out)`` with x, out (d,) is the per-point API (the block
  is evaluated column by column through two small buffers), ``drift_block`` the block one
  or None. Numba cannot cache a kernel that takes functions, so these are compiled in
  each process (`kernels.TwinKernel`).

A ladder reaches the kernels as a named tuple of arrays: `SyntheticArrays` (built by
`ladders.synthetic.SyntheticLadder.arrays`) or `learned_kernel.LearnedArrays`. The
kernels call `level_drift`, whose implementation Numba picks at compile time from the
tuple's class and inlines, so one kernel serves every ladder kind without a
function-call boundary (and its reference counting) in the step loop. Level 0 is the
exact drift.

Every function here takes a flat float64 scratch array `scr` of at least
`scratch_size(lad, dim, m)` entries and allocates nothing.
"""
import warnings
from collections import namedtuple

import numpy as np
from numba import errors, njit, types
from numba.extending import overload

from .learned_kernel import LearnedArrays, learned_level_drift, learned_scratch

# Inlining an overload's body makes Numba's internal SSA self-check report that the
# inlined arguments are "not in scope" (a pedantic check, not an error: kernel outputs
# are bit-identical to the directly inlined version, tests/numerics/test_kernels.py).
warnings.filterwarnings("ignore", message=r"variable '.*' is not in scope",
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


def scratch_size(lad, dim, m):
    """Entries of the scratch array that `level_drift` needs for blocks of up to m paths."""
    own = learned_scratch(lad, m) if isinstance(lad, LearnedArrays) else 2 * m
    return 2 * int(dim) + own


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
        out[0, 0] = np.nan


# a user problem's jitted functions, passed to the kernels as values (not cacheable)
UserFunctions = namedtuple("UserFunctions", ["drift", "drift_block", "diffusion", "params"])


def is_cacheable(prob):
    """Whether kernels compiled for this problem tuple can be cached (no function inside)."""
    return not isinstance(prob, UserFunctions)


@njit(inline="always")
def pointwise_block(t, X, prob, scr, OUT):
    """OUT[:, b] = drift(t, X[:, b]) one column at a time (the per-point user API)."""
    dim, m = X.shape
    x = scr[:dim]
    o = scr[dim:2 * dim]
    for b in range(m):
        for c in range(dim):
            x[c] = X[c, b]
        prob.drift(t, x, prob.params, o)
        for c in range(dim):
            OUT[c, b] = o[c]


@njit(inline="always")
def direct_block(t, X, prob, scr, OUT):
    """OUT = drift_block(t, X) (a user problem's block signature)."""
    prob.drift_block(t, X, prob.params, OUT)


def exact_drift(t, X, prob, scr, OUT):
    """OUT = f(t, X) on a block for a problem tuple (see the module docstring).

    Jitted code only; the form is chosen at compile time from the tuple's class.
    """
    raise TypeError("exact_drift is called from jitted code only")


def problem_diffusion(t, prob):
    """g(t) of a problem tuple. Jitted code only."""
    raise TypeError("problem_diffusion is called from jitted code only")


def declared(prob, name):
    """The jitted function a built-in problem tuple's class declares as `name`."""
    fn = getattr(getattr(prob, "instance_class", None), name, None)
    if fn is None or not hasattr(fn, "py_func"):
        raise TypeError(f"a problem reaches the kernels as UserFunctions or as a named tuple whose class declares "
                        f"a jitted {name}; got {prob}")
    return fn


@overload(exact_drift, inline="always")
def _exact_drift_impl(t, X, prob, scr, OUT):
    if getattr(prob, "instance_class", None) is UserFunctions:
        block_type = prob.types[UserFunctions._fields.index("drift_block")]
        if isinstance(block_type, (types.NoneType, types.Omitted)):
            return pointwise_block.py_func
        return direct_block.py_func
    block = declared(prob, "drift_block")

    def builtin(t, X, prob, scr, OUT):
        block(t, X, prob.params, OUT)
    return builtin


@overload(problem_diffusion, inline="always")
def _problem_diffusion_impl(t, prob):
    if getattr(prob, "instance_class", None) is UserFunctions:
        return lambda t, prob: prob.diffusion(t, prob.params)
    fn = declared(prob, "diffusion")
    return lambda t, prob: fn(t, prob.params)


@njit(inline="always")
def synthetic_level_drift(level, t, X, prob, lad, scr, OUT):
    """OUT = f^level(t, X) of a synthetic ladder on a block; level 0 is the exact drift."""
    exact_drift(t, X, prob, scr, OUT)
    if level == 0:
        return
    eps, _, freq, tfreq, phase, amp, work = lad
    dim, m = X.shape
    arg = scr[2 * dim:2 * dim + m]
    cm = scr[2 * dim + m:2 * dim + 2 * m]
    e = eps[level]
    for k in range(freq.shape[1]):
        a0 = tfreq[level, k] * t + phase[level, k]
        for b in range(m):
            arg[b] = a0
        for c in range(dim):
            fc = freq[level, k, c]
            for b in range(m):
                arg[b] += fc * X[c, b]
        for b in range(m):
            cm[b] = e * np.cos(arg[b])
        for c in range(dim):
            ac = amp[level, k, c]
            for b in range(m):
                OUT[c, b] += ac * cm[b]
    if work[level] > 0:
        for b in range(m):
            burn(work[level], OUT)


def level_drift(level, t, X, prob, lad, scr, OUT):
    """OUT = f^level(t, X) on a block X, OUT (d, m) for a problem tuple `prob` and a
    ladder's kernel arrays `lad`; level 0 is the exact drift.

    Jitted code only (see the module docstring); from Python use `solve.evaluate_level`.
    """
    raise TypeError("level_drift is called from jitted code only; use solve.evaluate_level")


@overload(level_drift, inline="always")
def _level_drift_impl(level, t, X, prob, lad, scr, OUT):
    kind = getattr(lad, "instance_class", None)
    if kind is SyntheticArrays:
        return synthetic_level_drift.py_func
    if kind is LearnedArrays:
        def learned_impl(level, t, X, prob, lad, scr, OUT):
            if level == 0:
                exact_drift(t, X, prob, scr, OUT)
            else:
                learned_level_drift(level, t, X, prob.params, lad, scr[2 * X.shape[0]:], OUT)
        return learned_impl
    raise TypeError(f"no ladder kind has kernel arrays of type {lad}; use SyntheticArrays or LearnedArrays")
