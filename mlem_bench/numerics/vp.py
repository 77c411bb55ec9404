"""The variance-preserving (VP) diffusion schedule and the reverse-time drift, written once.

Forward: dX = -beta(t)/2 X dt + sqrt(beta(t)) dW with beta linear from beta_min to
beta_max, so x_t = alpha(t) x_0 + sigma(t) eps with sigma^2 = 1 - alpha^2 and

    log alpha(t) = -(beta_min t + (beta_max - beta_min) t^2 / 2) / 2.

Reverse time s = 1 - t: dY = beta (Y/2 + k score) ds + sqrt(beta) dW (k = 1), or the
probability-flow ODE (k = 1/2, no noise).

The functions are plain arithmetic compiled by Numba; their `.py_func` serves floats,
NumPy arrays and torch tensors alike (the learned and image tracks call it that way),
so every user of the schedule computes the same expression.
"""
import numpy as np
from numba import njit

# Defaults of every VP problem: the mixture specs and the image track.
BETA_MIN = 0.1
BETA_MAX = 20.0
T_MIN = 1e-3


@njit(inline="always")
def log_alpha(t, bmin, bmax):
    """log alpha(t) of the linear-beta VP schedule."""
    return -0.5 * (bmin * t + 0.5 * (bmax - bmin) * t * t)


@njit(inline="always")
def alpha(t, bmin, bmax):
    """alpha(t) = exp(log_alpha(t)) (float in jitted code)."""
    return np.exp(log_alpha(t, bmin, bmax))


@njit(inline="always")
def beta(t, bmin, bmax):
    """beta(t) = beta_min + (beta_max - beta_min) t."""
    return bmin + (bmax - bmin) * t


@njit(inline="always")
def reverse_drift(b, x, score, k):
    """One component of the reverse-time drift b (x/2 + k score); k = 1 (SDE) or 1/2 (ODE)."""
    return b * (0.5 * x + k * score)


def flow_factor(ode):
    """k of `reverse_drift`: 1/2 for the probability-flow ODE, 1 for the reverse SDE."""
    return 0.5 if ode else 1.0
