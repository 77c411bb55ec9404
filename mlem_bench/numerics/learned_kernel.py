"""Numba inference of the learned score networks (pure functions over arrays).

The kernels advance a block of paths in lock-step and evaluate a level on the paths
of the block that need it, gathered into a (d, m) array at one time t; the network
then runs as matrix products over the block: each layer is a sum of rank-one updates
OUT[o, :] += W[i, o] * A[i, :] whose innermost loop runs over the m paths (packed
multiply-adds). The loops are written out rather than calling BLAS: the arithmetic
of a path does not depend on m, so results are bit-identical for every block size
and gather pattern (docs/performance.md compares np.dot). Calling torch there would
cost microseconds of dispatch per call; this agrees with the torch model in float64
to round-off and allocates nothing (activations live in the caller's scratch).

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


def learned_scratch(lad, m):
    """Scratch entries `learned_level_drift` needs for blocks of up to m paths: two
    activation arrays of the widest layer (inputs included) and one time-feature row."""
    layout = lad[3]
    widest = int(max(layout[:, 1:, 2].max(), layout[:, 1:, 3].max(), 1))
    return 2 * widest * int(m) + widest


@njit(inline="always")
def dense_layer(weights, w0, b0, A, Z):
    """Z (n_out, m) = bias + W^T A for a block A (n_in, m): W stored input-major at
    weights[w0:], W[i, o] = weights[w0 + i n_out + o], the bias at weights[b0:]. A sum of
    rank-one updates, innermost over the paths, in input order: each output is bias +
    a_0 w_0 + a_1 w_1 + ... whatever m is (tools/layer_loops.py times the alternatives)."""
    n_in, m = A.shape
    n_out = Z.shape[0]
    for o in range(n_out):
        bo = weights[b0 + o]
        for b in range(m):
            Z[o, b] = bo
    for i in range(n_in):
        row = w0 + i * n_out
        for o in range(n_out):
            w = weights[row + o]
            for b in range(m):
                Z[o, b] += A[i, b] * w


@njit(inline="always")
def mlp_eps(level, t, X, lad, scr, OUT):
    """OUT (d, m) = the level's noise prediction eps_hat(X, t) at diffusion time t for a
    block X (d, m); scr: at least learned_scratch(lad, m) entries."""
    weights, layout, aux = lad[2], lad[3], lad[4]
    n_layers = layout[level, 0, 0]
    d, m = X.shape
    n_freq = int(aux[0])
    n_in0 = d + 1 + 2 * n_freq
    half = max(layout[level, 0, 1], n_in0) * m     # two activation regions of the widest layer
    # time features are shared by the block: one row of n_in0 values after them
    feat = scr[2 * half:2 * half + n_in0]
    u = 2.0 * t - 1.0
    feat[d] = u
    for k in range(1, n_freq + 1):
        feat[d + 2 * k - 1] = np.sin(np.pi * k * u)
        feat[d + 2 * k] = np.cos(np.pi * k * u)
    A = scr[:n_in0 * m].reshape((n_in0, m))
    for c in range(d):
        for b in range(m):
            A[c, b] = X[c, b]
    for r in range(d, n_in0):
        for b in range(m):
            A[r, b] = feat[r]
    src = 0
    for j in range(1, n_layers + 1):
        w0, b0, n_in, n_out = layout[level, j, 0], layout[level, j, 1], layout[level, j, 2], layout[level, j, 3]
        A = scr[src:src + n_in * m].reshape((n_in, m))
        dst = half if src == 0 else 0
        Z = OUT if j == n_layers else scr[dst:dst + n_out * m].reshape((n_out, m))
        dense_layer(weights, w0, b0, A, Z)
        if j < n_layers:
            for o in range(n_out):
                for b in range(m):
                    z = Z[o, b]
                    Z[o, b] = z / (1.0 + np.exp(-z))      # SiLU
        src = dst


@njit(inline="always")
def learned_level_drift(level, t, X, pp, lad, scr, OUT):
    """OUT = f^level on a block X (d, m) at solver time t for the reverse VP diffusion of
    `problems.GaussianMixtureReverse` (params pp), level >= 1: beta (x/2 + k score_l) with
    score_l = -eps_hat_l / sigma, k = 1 (SDE) or 1/2 (ODE), at diffusion time 1 - t.

    eps_hat_l = network + Gaussian skip sigma (x - alpha m) / (alpha^2 v + sigma^2), the exact
    noise of a Gaussian with the data's mean m and average variance v: the network learns
    only what the mixture adds to it.
    """
    aux = lad[4]
    d, m = X.shape
    tau = 1.0 - t
    bt = vp.beta(tau, pp[0], pp[1])
    alpha = vp.alpha(tau, pp[0], pp[1])
    sigma = np.sqrt(1.0 - alpha * alpha)
    v = aux[1 + d]
    mlp_eps(level, tau, X, lad, scr, OUT)
    k = 0.5 if pp[3] > 0 else 1.0
    denom = alpha * alpha * v + sigma * sigma
    for c in range(d):
        mc = alpha * aux[1 + c]
        for b in range(m):
            eps_hat = OUT[c, b] + sigma * (X[c, b] - mc) / denom
            OUT[c, b] = vp.reverse_drift(bt, X[c, b], -eps_hat / sigma, k)
