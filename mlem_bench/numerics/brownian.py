"""Brownian paths by the Levy (midpoint) construction.

Path i's Brownian motion on [0, T] is defined by one infinite sequence of standard
normals z_0, z_1, ... (stream STREAM_BROWNIAN of path i): z_0 sets W(T) and node
m >= 1 (heap order) sets the midpoint of its dyadic interval given the endpoints.
A grid of 2^j steps uses exactly the first 2^j nodes, so every dyadic refinement
sees the same path and the coarse increments are sums of the fine ones.

The solvers stream the path (`stream_start`, `stream_chunk`): W on a coarse grid of
2^(j//2) steps from the first nodes, then one chunk of 2^(j - j//2) steps at a time from the
nodes inside it (contiguous in heap order at every depth). Each value is computed by the same
operations from the same endpoints and normals as the whole-path construction
(`block_path`), so the increments are bit-identical, and a block holds O(sqrt(n_steps)) values
per path instead of O(n_steps).
"""
import numpy as np
from numba import njit

from .rng import STREAM_BROWNIAN, fill_normals_block, stream_key


def depth_of(n_steps):
    """log2 of a power-of-two step count; raise ValueError otherwise."""
    n = int(n_steps)
    if n < 1 or n & (n - 1):
        raise ValueError(f"n_steps must be a power of two >= 1 (got {n_steps}); "
                         "dyadic grids keep one Brownian path across step sizes")
    return n.bit_length() - 1


@njit(inline="always")
def split_midpoints(Z, node0, T, n_steps, half, W):
    """W at the midpoints of W's intervals of 2 half steps (a grid within a path of n_steps):
    interval r takes the normals of node node0 + r (rows (node0 + r) d + c of Z). The
    midpoint's sd given the endpoints is sqrt(length / 4); the whole-path and the streamed
    construction both compute it here, so they agree bit for bit."""
    dim, m = W.shape[1], W.shape[2]
    sd = np.sqrt(T * half / n_steps / 2.0)
    for r in range((W.shape[0] - 1) // (2 * half)):
        left = 2 * half * r
        for c in range(dim):
            zr = Z[(node0 + r) * dim + c]
            wl = W[left, c]
            wr = W[left + 2 * half, c]
            wm = W[left + half, c]
            for b in range(m):
                wm[b] = 0.5 * (wl[b] + wr[b]) + sd * zr[b]


@njit(inline="always")
def levy_block(Z, T, W):
    """Brownian motion W (N+1, d, m) on the uniform grid of N = 2^j steps of m paths from
    their node normals Z (N d, m): row m_node * d + c holds component c of node m_node.

    The loops over the m paths are innermost (they vectorise); each path's arithmetic
    is the same whatever m, so a path's W does not depend on its block.
    """
    n_steps, dim, m = W.shape[0] - 1, W.shape[1], W.shape[2]
    sq = np.sqrt(T)
    for c in range(dim):
        for b in range(m):
            W[0, c, b] = 0.0
            W[n_steps, c, b] = sq * Z[c, b]
    half = n_steps // 2
    while half >= 1:
        # the first node of this depth is its number of intervals, n_steps / (2 half)
        split_midpoints(Z, n_steps // (2 * half), T, n_steps, half, W)
        half //= 2


@njit
def block_path(seed, path0, m, T, Z, W):
    """W (N+1, d, m) of paths path0 .. path0 + m - 1 under `seed`; Z (N d, m) scratch."""
    keys = np.empty(m, dtype=np.uint64)
    for b in range(m):
        keys[b] = stream_key(seed, STREAM_BROWNIAN, path0 + b)
    fill_normals_block(keys, 0, Z)
    levy_block(Z, T, W)


@njit(cache=True)
def stream_grid(n_steps):
    """(coarse steps, chunk steps) of a streamed path on n_steps = 2^j: 2^(j//2) and 2^(j - j//2)."""
    j = 0
    while (1 << j) < n_steps:
        j += 1
    coarse = 1 << (j // 2)
    return coarse, n_steps // coarse


@njit(cache=True)
def stream_rows(n_steps):
    """Rows (node normals per component) of a streamed path's normals scratch."""
    coarse, chunk = stream_grid(n_steps)
    return max(coarse, chunk // 2, 1)


@njit
def stream_start(seed, path0, m, T, keys, Z, Wc):
    """Start streaming paths path0 .. path0 + m - 1 under `seed`: keys (m,) their stream keys,
    Wc (coarse + 1, d, m) W on the coarse grid; Z (rows d, m) scratch (`stream_rows`)."""
    dim = Wc.shape[1]
    for b in range(m):
        keys[b] = stream_key(seed, STREAM_BROWNIAN, path0 + b)
    Zc = Z[:(Wc.shape[0] - 1) * dim]
    fill_normals_block(keys, 0, Zc)
    levy_block(Zc, T, Wc)


@njit
def stream_chunk(keys, T, n_steps, k, Wc, Z, Wk):
    """Wk (chunk + 1, d, m) = W on steps k chunk .. (k + 1) chunk, from the coarse grid Wc and
    the chunk's own nodes: at depth i below the coarse grid they are the 2^(i-1) nodes from
    2^(jc + i - 1) + k 2^(i-1) in heap order (jc = log2 coarse steps)."""
    chunk, dim, m = Wk.shape[0] - 1, Wk.shape[1], Wk.shape[2]
    coarse = Wc.shape[0] - 1
    for c in range(dim):
        for b in range(m):
            Wk[0, c, b] = Wc[k, c, b]
            Wk[chunk, c, b] = Wc[k + 1, c, b]
    count = 1                 # intervals of the chunk at this depth
    first = coarse            # heap index of the first node at this depth
    half = chunk // 2
    while half >= 1:
        Zd = Z[:count * dim]
        fill_normals_block(keys, (first + k * count) * dim, Zd)
        split_midpoints(Zd, 0, T, n_steps, half, Wk)
        first *= 2
        count *= 2
        half //= 2


@njit(cache=True)
def _brownian_increments(seed, T, path_offset, block, out):
    n_paths, n_steps, dim = out.shape
    Z = np.empty(n_steps * dim * block)
    W = np.empty((n_steps + 1) * dim * block)
    for a in range(0, n_paths, block):
        m = min(block, n_paths - a)
        Zb = Z[:n_steps * dim * m].reshape((n_steps * dim, m))
        Wb = W[:(n_steps + 1) * dim * m].reshape((n_steps + 1, dim, m))
        block_path(seed, path_offset + a, m, T, Zb, Wb)
        for b in range(m):
            for n in range(n_steps):
                for c in range(dim):
                    out[a + b, n, c] = Wb[n + 1, c, b] - Wb[n, c, b]


def brownian_increments(seed, n_paths, n_steps, dim, T, path_offset=0, block=64):
    """Brownian increments of paths path_offset.. on a grid of n_steps (a power of two).

    Returns an array (n_paths, n_steps, dim): exactly what the solvers use internally
    (the result does not depend on `block`, the paths generated together).
    """
    depth_of(n_steps)
    out = np.empty((int(n_paths), int(n_steps), int(dim)))
    _brownian_increments(int(seed), float(T), int(path_offset), max(1, int(block)), out)
    return out
