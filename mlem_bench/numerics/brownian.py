"""Brownian paths by the Levy (midpoint) construction.

Path i's Brownian motion on [0, T] is defined by one infinite sequence of standard
normals z_0, z_1, ... (stream STREAM_BROWNIAN of path i): z_0 sets W(T) and node
m >= 1 (heap order) sets the midpoint of its dyadic interval given the endpoints.
A grid of 2^j steps uses exactly the first 2^j nodes, so every dyadic refinement
sees the same path and the coarse increments are sums of the fine ones.
"""
import numpy as np
from numba import njit

from .rng import STREAM_BROWNIAN, fill_normals, stream_key


def depth_of(n_steps):
    """log2 of a power-of-two step count; raise ValueError otherwise."""
    n = int(n_steps)
    if n < 1 or n & (n - 1):
        raise ValueError(f"n_steps must be a power of two >= 1 (got {n_steps}); "
                         "dyadic grids keep one Brownian path across step sizes")
    return n.bit_length() - 1


@njit
def levy_increments(z, T, w, dW):
    """Increments dW (N, d) on the uniform grid of N = 2^j steps from node normals z.

    z is flat, node-major (node m's d components at z[m*d:(m+1)*d]); w is (N+1, d)
    scratch for W on the grid.
    """
    n_steps, dim = dW.shape
    for c in range(dim):
        w[0, c] = 0.0
        w[n_steps, c] = np.sqrt(T) * z[c]
    node = 1
    half = n_steps // 2
    while half >= 1:
        # intervals of 2*half steps, split at their midpoints; sd of the midpoint
        # given the endpoints is sqrt(length / 4)
        sd = np.sqrt(T * half / n_steps / 2.0)
        for left in range(0, n_steps, 2 * half):
            for c in range(dim):
                w[left + half, c] = 0.5 * (w[left, c] + w[left + 2 * half, c]) + sd * z[node * dim + c]
            node += 1
        half //= 2
    for n in range(n_steps):
        for c in range(dim):
            dW[n, c] = w[n + 1, c] - w[n, c]


@njit(cache=True)
def _brownian_increments(seed, T, path_offset, out):
    n_paths, n_steps, dim = out.shape
    z = np.empty(n_steps * dim)
    w = np.empty((n_steps + 1, dim))
    for i in range(n_paths):
        fill_normals(stream_key(seed, STREAM_BROWNIAN, path_offset + i), z)
        levy_increments(z, T, w, out[i])


def brownian_increments(seed, n_paths, n_steps, dim, T, path_offset=0):
    """Brownian increments of paths path_offset.. on a grid of n_steps (a power of two).

    Returns an array (n_paths, n_steps, dim): exactly what the solvers use internally.
    """
    depth_of(n_steps)
    out = np.empty((int(n_paths), int(n_steps), int(dim)))
    _brownian_increments(int(seed), float(T), int(path_offset), out)
    return out
