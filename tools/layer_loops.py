"""Loop orders for one dense layer Z = bias + W^T A on a block of paths (the learned
levels' inner loop, `numerics.learned_kernel.mlp_eps`), timed side by side in one process.

Every fixed-order variant computes each output as bias + a_0 w_0 + a_1 w_1 + ... in input
order, so it must equal the shipped rank-one loop bit for bit; the script checks it. The
FMA-contracted loop and BLAS do not keep that order and are shown for scale only. Also
prints which instructions the generated code uses (packed ymm/zmm or scalar).

    python tools/layer_loops.py [n_in n_out paths]      # default 256 256 64
"""
import re
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

# this checkout's package, not whichever mlem_bench the environment has installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlem_bench.numerics.learned_kernel import dense_layer  # noqa: E402


def shipped(weights, A, Z):
    """The shipped layer (`learned_kernel.dense_layer`) on flat weights [W input-major, bias]."""
    n_in, n_out = A.shape[0], Z.shape[0]
    dense_layer(weights, 0, n_in * n_out, A, Z)


@njit
def tile_4x8(W, bias, A, Z):
    """4 outputs x 8 paths per tile, accumulators in 32 scalars, inputs innermost."""
    n_in, n_out = W.shape
    m = A.shape[1]
    o_full, b_full = n_out - n_out % 4, m - m % 8
    for o in range(0, o_full, 4):
        for b in range(0, b_full, 8):
            a00 = a01 = a02 = a03 = a04 = a05 = a06 = a07 = bias[o]
            a10 = a11 = a12 = a13 = a14 = a15 = a16 = a17 = bias[o + 1]
            a20 = a21 = a22 = a23 = a24 = a25 = a26 = a27 = bias[o + 2]
            a30 = a31 = a32 = a33 = a34 = a35 = a36 = a37 = bias[o + 3]
            for i in range(n_in):
                x0, x1, x2, x3 = A[i, b], A[i, b + 1], A[i, b + 2], A[i, b + 3]
                x4, x5, x6, x7 = A[i, b + 4], A[i, b + 5], A[i, b + 6], A[i, b + 7]
                w = W[i, o]
                a00 += x0 * w; a01 += x1 * w; a02 += x2 * w; a03 += x3 * w    # noqa: E702
                a04 += x4 * w; a05 += x5 * w; a06 += x6 * w; a07 += x7 * w    # noqa: E702
                w = W[i, o + 1]
                a10 += x0 * w; a11 += x1 * w; a12 += x2 * w; a13 += x3 * w    # noqa: E702
                a14 += x4 * w; a15 += x5 * w; a16 += x6 * w; a17 += x7 * w    # noqa: E702
                w = W[i, o + 2]
                a20 += x0 * w; a21 += x1 * w; a22 += x2 * w; a23 += x3 * w    # noqa: E702
                a24 += x4 * w; a25 += x5 * w; a26 += x6 * w; a27 += x7 * w    # noqa: E702
                w = W[i, o + 3]
                a30 += x0 * w; a31 += x1 * w; a32 += x2 * w; a33 += x3 * w    # noqa: E702
                a34 += x4 * w; a35 += x5 * w; a36 += x6 * w; a37 += x7 * w    # noqa: E702
            for k, v in enumerate((a00, a01, a02, a03, a04, a05, a06, a07)):
                Z[o, b + k] = v
            for k, v in enumerate((a10, a11, a12, a13, a14, a15, a16, a17)):
                Z[o + 1, b + k] = v
            for k, v in enumerate((a20, a21, a22, a23, a24, a25, a26, a27)):
                Z[o + 2, b + k] = v
            for k, v in enumerate((a30, a31, a32, a33, a34, a35, a36, a37)):
                Z[o + 3, b + k] = v
    for o in range(n_out):                       # the edges, same order per output
        for b in range(0 if o >= o_full else b_full, m):
            acc = bias[o]
            for i in range(n_in):
                acc += A[i, b] * W[i, o]
            Z[o, b] = acc


@njit
def unroll_4x4(W, bias, A, Z):
    """Four inputs and four outputs per pass over the paths (paths innermost)."""
    n_in, n_out = W.shape
    m = A.shape[1]
    for o in range(n_out):
        for b in range(m):
            Z[o, b] = bias[o]
    i_full, o_full = n_in - n_in % 4, n_out - n_out % 4
    for i in range(0, i_full, 4):
        for o in range(0, o_full, 4):
            for b in range(m):
                x0, x1, x2, x3 = A[i, b], A[i + 1, b], A[i + 2, b], A[i + 3, b]
                for k in range(4):
                    Z[o + k, b] = Z[o + k, b] + x0 * W[i, o + k] + x1 * W[i + 1, o + k] \
                        + x2 * W[i + 2, o + k] + x3 * W[i + 3, o + k]
        for o in range(o_full, n_out):
            for b in range(m):
                Z[o, b] = Z[o, b] + A[i, b] * W[i, o] + A[i + 1, b] * W[i + 1, o] \
                    + A[i + 2, b] * W[i + 2, o] + A[i + 3, b] * W[i + 3, o]
    for i in range(i_full, n_in):
        for o in range(n_out):
            w = W[i, o]
            for b in range(m):
                Z[o, b] += A[i, b] * w


def best(fn, args, repeats=5, number=200):
    fn(*args)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(number):
            fn(*args)
        times.append((time.perf_counter() - t) / number)
    return min(times)


def instructions(fn):
    lines = next(iter(fn.inspect_asm().values())).splitlines()
    packed = sum(1 for x in lines if re.search(r"v(mul|add|fmadd\d*)pd.*%[yz]mm", x))
    scalar = sum(1 for x in lines if re.search(r"v(mul|add|fmadd\d*)sd", x))
    fma = sum(1 for x in lines if "vfmadd" in x)
    return f"packed {packed}, scalar {scalar}, fma {fma}"


def main(n_in=256, n_out=256, m=64):
    rng = np.random.default_rng(0)
    W, bias, A = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out), rng.normal(size=(n_in, m))
    flops = 2.0 * n_in * n_out * m
    weights = np.concatenate([W.ravel(), bias])          # W (n_in, n_out) row-major: input-major
    fixed = njit(shipped)
    ref = np.empty((n_out, m))
    fixed(weights, A, ref)
    variants = [("rank-one loop (shipped, dense_layer)", fixed, (weights,), True),
                ("4 outputs x 8 paths, scalar accumulators", tile_4x8, (W, bias), True),
                ("4 inputs x 4 outputs per pass", unroll_4x4, (W, bias), True),
                ("shipped loop, fastmath contract (FMA)", njit(fastmath={"contract"})(shipped), (weights,), False)]
    print(f"layer {n_in} x {n_out}, {m} paths")
    for name, fn, params, same_order in variants:
        Z = np.empty((n_out, m))
        t = best(fn, (*params, A, Z))
        same = np.array_equal(Z, ref)
        if same_order and not same:
            raise SystemExit(f"{name}: not bit-identical to the shipped loop")
        print(f"  {name:44s} {flops / t / 1e9:6.1f} GF/s  bit-identical {same!s:5s}  {instructions(fn)}")
    Wt = np.ascontiguousarray(W.T)
    t = best(lambda: np.dot(Wt, A) + bias[:, None], ())
    print(f"  {'np.dot (BLAS) + bias':44s} {flops / t / 1e9:6.1f} GF/s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
