"""Numba inference of the learned score networks (pure functions over arrays).

The sampler steps one path at a time (that is what lets every path draw its own
Bernoulli pattern), so a network evaluation is one matrix-vector chain per point.
Calling torch there would cost microseconds of dispatch per call, more than the
whole forward pass of the small networks; a jitted float64 chain costs the
multiply-adds and no more, and agrees with the torch model in float64 to round-off.

Layout of a learned ladder's kernel arrays, `LearnedArrays` (built by
`ladders.learned.LearnedLadder.arrays`):

* eps, cost (L+1,): measured eps_l and counted multiply-adds c_l (index 0: exact drift)
* weights (n,): every level's matrices (stored input-major, W[i, o]) and biases, flat
* layout (L+1, max_layers + 1, 4) int64: per level and layer (offset of W, offset of b,
  n_in, n_out); row 0 of each level holds (number of layers, widest layer, 0, 0)
* aux: [n_freq, skip mean (d), skip variance] — time features and the Gaussian skip
"""
from collections import namedtuple

import numpy as np
from numba import njit

from . import vp

LearnedArrays = namedtuple("LearnedArrays", ["eps", "cost", "weights", "layout", "aux"])


@njit(inline="always")
def features(t, x, n_freq, buf):
    """Network input: x, u = 2t - 1 and sin / cos(pi k u), k = 1..n_freq."""
    d = x.shape[0]
    for c in range(d):
        buf[c] = x[c]
    u = 2.0 * t - 1.0
    buf[d] = u
    for k in range(1, n_freq + 1):
        buf[d + 2 * k - 1] = np.sin(np.pi * k * u)
        buf[d + 2 * k] = np.cos(np.pi * k * u)
    return d + 1 + 2 * n_freq


@njit
def mlp_eps(level, t, x, lad, out):
    """out = the level's noise prediction eps_hat(x, t) at diffusion time t (VP schedule
    alpha(t), sigma(t) = sqrt(1 - alpha^2) from the problem)."""
    weights, layout, aux = lad[2], lad[3], lad[4]
    n_layers, widest = layout[level, 0, 0], layout[level, 0, 1]
    n_freq = int(aux[0])
    a = np.empty(widest)
    b = np.empty(widest)
    features(t, x, n_freq, a)
    for j in range(1, n_layers + 1):
        w0, b0, n_in, n_out = layout[level, j, 0], layout[level, j, 1], layout[level, j, 2], layout[level, j, 3]
        for o in range(n_out):
            b[o] = weights[b0 + o]
        # input-major order: the inner loop is an axpy over outputs (vectorises, no reduction)
        for i in range(n_in):
            ai = a[i]
            row = w0 + i * n_out
            for o in range(n_out):
                b[o] += ai * weights[row + o]
        if j < n_layers:
            for o in range(n_out):
                z = b[o]
                a[o] = z / (1.0 + np.exp(-z))      # SiLU
        else:
            for o in range(n_out):
                out[o] = b[o]


@njit(inline="always")
def learned_level_drift(level, t, x, drift, pp, lad, out):
    """f^level at solver time t for the reverse VP diffusion of `problems.GaussianMixtureReverse`
    (params pp): beta (x/2 + k score_l) with score_l = -eps_hat_l / sigma, k = 1 (SDE) or 1/2 (ODE),
    at diffusion time 1 - t.

    eps_hat_l = network + Gaussian skip sigma (x - alpha m) / (alpha^2 v + sigma^2), the exact
    noise of a Gaussian with the data's mean m and average variance v: the network learns
    only what the mixture adds to it.
    """
    if level == 0:
        drift(t, x, pp, out)
        return
    aux = lad[4]
    d = x.shape[0]
    tau = 1.0 - t
    b = vp.beta(tau, pp[0], pp[1])
    alpha = vp.alpha(tau, pp[0], pp[1])
    sigma = np.sqrt(1.0 - alpha * alpha)
    v = aux[1 + d]
    mlp_eps(level, tau, x, lad, out)
    k = 0.5 if pp[3] > 0 else 1.0
    denom = alpha * alpha * v + sigma * sigma
    for c in range(d):
        eps_hat = out[c] + sigma * (x[c] - alpha * aux[1 + c]) / denom
        out[c] = vp.reverse_drift(b, x[c], -eps_hat / sigma, k)
