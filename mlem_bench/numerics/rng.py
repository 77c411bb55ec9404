"""Counter-based random numbers keyed by (seed, stream, path, counter).

Every random number the project draws is a pure function of its key, so a path's
Brownian motion is the same whatever the thread count, block size, step size or
method. Every stream and seed offset the project uses is named here.

Integer generator: Philox-4x32-10 (Salmon, Moraes, Dror & Shaw, SC'11; the generator
of Random123 and cuRAND), which passes TestU01 BigCrush. Its only non-trivial
operation is a 32x32 -> 64-bit multiply, which AVX2 does four lanes at a time
(``vpmuludq``), so loops over paths or counters vectorise; generators built on
64x64-bit multiplies (splitmix64, Philox-4x64) do not on AVX2. The 64-bit key of
(seed, stream, path) is derived once per path with the splitmix64 finaliser.
Block q of a stream is Philox on the counter (lo32(q), hi32(q), 0, 0); its 128 bits
are the 64-bit words 2q and 2q + 1 of the stream, and uniform number i is
(word_i >> 11) * 2**-53.

Normals: Box-Muller on block q gives normals 2q and 2q + 1:
u1 = 1 - uniform(2q) in (0, 1], u2 = uniform(2q + 1), r = sqrt(-2 log u1),
(z_2q, z_2q+1) = (r cos 2 pi u2, r sin 2 pi u2); |z| <= sqrt(106 ln 2) = 8.57.
log and sincos(2 pi u) are branch-free polynomial evaluations (no libm call, which
would stop LLVM's loop vectoriser; the PyPI llvmlite has no SVML): `log_approx` is
within 1 ulp, `sincos_2pi` within 2e-16 absolute (tests/numerics/test_rng.py). All
arithmetic is IEEE float64 with explicit fused multiply-adds and without fastmath,
so vectorised loop bodies, their scalar remainders and every fill function give
bit-identical numbers. docs/performance.md records the change from the former
splitmix64 + libm generator and what the generated assembly shows.

A key returned to Python by `stream_key` is a Python int: pass it back to compiled
code as ``np.uint64(key)``.
"""
import hashlib
import math
import struct
from decimal import Context, Decimal

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Independent streams of one seed (every stream the project draws from is named here).
STREAM_BROWNIAN = 0
STREAM_BERNOULLI = 1
STREAM_INITIAL = 2
STREAM_EXACT = 3      # independent exact samples of the terminal law (weak-error targets)
STREAM_LADDER_NORMALS = 100    # synthetic ladder: Fourier frequencies (seed = [ladder].seed)
STREAM_LADDER_UNIFORMS = 101   # synthetic ladder: phases and amplitudes
STREAM_PAIR_OFFSET = 1000      # a sampler drawing uniforms from stream s draws its normals from s + 1000

# Seed offsets: derived seeds whose paths must differ from the measured ones.
PILOT_SEED_OFFSET = 1_000_003     # the tuner's pilot run (calibration)
EXACT_SEED_OFFSET = 7_777_777     # exact terminal samples for the weak errors
FLOOR_SEED_OFFSET = 8_888_888     # further exact samples: the Monte Carlo floor of the weak errors
MEASURE_SEED_OFFSET = 424_242     # trajectories on which a learned ladder's eps_l is measured
# Seeds enter the kernels as signed 64-bit integers (beyond, Numba raises OverflowError), so
# a seed plus the largest offset above (and the few replicates added to it) must stay below
# 2**63: seeds are accepted in 0..MAX_SEED.
SEED_HEADROOM = 10_000_000
MAX_SEED = 2**63 - 1 - SEED_HEADROOM

# Replicates of a case: replicate r runs under seeds base + r * REPLICATE_STRIDE (its ladder
# seed from the case's [ladder].seed, its path seed, hence its pilot, exact and floor seeds,
# from [sweep].seed). The stride exceeds every offset above, so the paths, pilots and exact
# samples of different replicates never share a seed; replicate 0 keeps the case's own seeds.
REPLICATE_STRIDE = 10_000_019

# Torch seeds of training (learned MLP and UNet ladders): level l of a family trained
# with seed s initialises from s * TRAIN_SEED_STRIDE + l and draws its data from that + TRAIN_DATA_OFFSET.
TRAIN_SEED_STRIDE = 1000
TRAIN_DATA_OFFSET = 500
HELDOUT_OFFSET = 999              # the held-out batch of a family: s * TRAIN_SEED_STRIDE + HELDOUT_OFFSET
MAX_TRAIN_SEED = MAX_SEED // TRAIN_SEED_STRIDE    # largest training seed whose derived seeds fit


def train_seeds(seed, level):
    """(initialisation seed, data seed) of level `level` of a family trained with `seed`."""
    init = int(seed) * TRAIN_SEED_STRIDE + int(level)
    return init, init + TRAIN_DATA_OFFSET


def replicate_seed(base, replicate):
    """Seed of replicate `replicate` (0, 1, ...) of a case whose own seed is `base`
    (replicate 0 keeps `base`): reproducible and independent of the executor."""
    if replicate < 0:
        raise ValueError(f"replicate must be >= 0 (got {replicate})")
    return int(base) + int(replicate) * REPLICATE_STRIDE


NAME_SEED_BITS = 40   # seeds derived from case names: far below MAX_SEED, whatever the replicates


def name_seed(name, role):
    """Seed of a case named `name` for `role` ("ladder" or "sweep") when its spec gives none:
    a digest of the two, so cases with different names draw independent ladders and paths
    (and the same name always the same ones)."""
    digest = hashlib.blake2b(f"{role}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> (64 - NAME_SEED_BITS)


def heldout_seed(seed):
    """Seed of the held-out batch of a family trained with `seed`."""
    return int(seed) * TRAIN_SEED_STRIDE + HELDOUT_OFFSET


# The image track draws with torch generators seeded from (seed, counter): one multiplier a stream.
TORCH_BROWNIAN_MULT = 1_000_003
TORCH_INITIAL_MULT = 3_000_017
TORCH_INITIAL_SHIFT = 11


# ---------------------------------------------------------------- key derivation
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(inline="always")
def mix64(z):
    """splitmix64 finaliser: a bijection of uint64 with good avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def stream_key(seed, stream, path):
    """64-bit Philox key of the random stream `stream` of path `path` under `seed`."""
    k = mix64(np.uint64(seed) * GOLDEN + np.uint64(stream) + np.uint64(1))
    return mix64(k ^ (np.uint64(path) * _M2 + GOLDEN))


# ---------------------------------------------------------------- LLVM helpers
@intrinsic
def _as_f64(typingctx, x):
    """Reinterpret the bits of a uint64 as a float64."""
    if x != types.uint64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.uint64), codegen


@intrinsic
def _as_u64(typingctx, x):
    """Reinterpret the bits of a float64 as a uint64."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.uint64(types.float64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """Correctly rounded a * b + c (llvm.fma.f64: one vfmadd on FMA hardware)."""
    if not (a == types.float64 and b == types.float64 and c == types.float64):
        return None

    def codegen(context, builder, sig, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def fdiv(typingctx, a, b):
    """IEEE a / b without Numba's ZeroDivisionError check (a branch that stops vectorisation)."""
    if not (a == types.float64 and b == types.float64):
        return None

    def codegen(context, builder, sig, args):
        return builder.fdiv(args[0], args[1])
    return types.float64(types.float64, types.float64), codegen


# ---------------------------------------------------------------- Philox-4x32-10
_MASK32 = np.uint64(0xFFFFFFFF)
_PHILOX_M0 = np.uint64(0xD2511F53)
_PHILOX_M1 = np.uint64(0xCD9E8D57)
_PHILOX_W0 = np.uint64(0x9E3779B9)
_PHILOX_W1 = np.uint64(0xBB67AE85)
_U32 = np.uint64(32)


@njit(inline="always")
def _round(c0, c1, c2, c3, k0, k1):
    p0 = _PHILOX_M0 * c0              # 32x32 -> 64 (vpmuludq): operands are < 2**32
    p1 = _PHILOX_M1 * c2
    return ((p1 >> _U32) ^ c1 ^ k0, p1 & _MASK32,
            (p0 >> _U32) ^ c3 ^ k1, p0 & _MASK32)


@njit(inline="always")
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox-4x32-10 on 32-bit words held in uint64 (each must be < 2**32)."""
    # written out (not a loop) so that the enclosing loop is innermost and vectorises
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + _PHILOX_W0) & _MASK32
    k1 = (k1 + _PHILOX_W1) & _MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


@njit(inline="always")
def philox4x32(key, q):
    """The two 64-bit words of Philox block `q` of stream `key`."""
    key = np.uint64(key)
    q = np.uint64(q)
    x0, x1, x2, x3 = philox4x32_10(q & _MASK32, q >> _U32, np.uint64(0), np.uint64(0),
                                   key & _MASK32, key >> _U32)
    return (x1 << _U32) | x0, (x3 << _U32) | x2


@njit(inline="always")
def bits(key, i):
    """64 random bits number `i` of the stream `key`."""
    w0, w1 = philox4x32(key, np.uint64(i) >> np.uint64(1))
    return w1 if (np.uint64(i) & np.uint64(1)) else w0


# ---------------------------------------------------------------- int -> float
_EXP52 = np.uint64(0x4330000000000000)        # bits of 2**52
_TWO52 = 4503599627370496.0
_TWO_M21 = 1.0 / 2097152.0
_TWO_M53 = 1.0 / 9007199254740992.0


@njit(inline="always")
def _u53(w):
    """(w >> 11) * 2**-53 exactly, without a 64-bit int->float conversion (AVX2 has none).

    2**52 + m for m < 2**52 is a double whose mantissa bits are m, so OR-ing m into
    the bits of 2**52 and subtracting 2**52 converts exactly; the 53-bit value is
    split into its high 21 and low 32 bits.
    """
    hi = w >> np.uint64(43)
    lo = (w >> np.uint64(11)) & _MASK32
    fhi = _as_f64(_EXP52 | hi) - _TWO52
    flo = _as_f64(_EXP52 | lo) - _TWO52
    return fma(fhi, _TWO_M21, flo * _TWO_M53)   # exact: 53 significant bits


@njit(inline="always")
def uniform(key, i):
    """Uniform number `i` of stream `key` on [0, 1): (bits(key, i) >> 11) * 2**-53."""
    return _u53(bits(key, i))


@njit(inline="always")
def uniform_pair(key, q):
    """Uniforms number 2q and 2q + 1 of stream `key` from one Philox block: the values of
    uniform(key, 2q) and uniform(key, 2q + 1), at the price of one of them."""
    w0, w1 = philox4x32(key, q)
    return _u53(w0), _u53(w1)


# ---------------------------------------------------------------- log
# coefficients computed in 60-digit decimal arithmetic (a local context: the global one is left alone)
_DEC = Context(prec=60)
_PI_DEC = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
_LN2_DEC = _DEC.ln(Decimal(2))


def _f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _bits_f64(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


_LN2_HI = _bits_f64(_f64_bits(float(_LN2_DEC)) & ~((1 << 21) - 1))   # 32 significant bits
_LN2_LO = float(_DEC.subtract(_LN2_DEC, Decimal(_LN2_HI)))
# R(w) = sum_{j>=1} 2 w^j / (2j + 1) = 2 atanh(s)/s - 2 with w = s^2, to w^10
_L = [float(_DEC.divide(Decimal(2), Decimal(2 * j + 1))) for j in range(1, 11)]
_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10 = _L

_SQRTH_BITS = np.uint64(0x3FE6A09E667F3BCD)   # bits of sqrt(1/2)
_EXP1024 = np.uint64(0x4000000000000000)      # 1024 << 52
_EXP_FIELD = np.uint64(0xFFF0000000000000)
_MAGIC_I = np.uint64(0x4338000000000000)      # bits of 1.5 * 2**52
_MAGIC = 1.5 * 2.0 ** 52                      # 6755399441055744.0
_MAGIC_KB = _MAGIC + 1024.0                   # 1.5 * 2**52 + exponent bias 1024


@njit(inline="always")
def log_approx(x):
    """Natural log of a positive normal finite float64, branch-free (< 1 ulp)."""
    ix = _as_u64(x)
    t = ix + _EXP1024 - _SQRTH_BITS              # > 0 for every positive normal x
    kb = t >> np.uint64(52)                      # k + 1024 where x = 2**k z
    z = _as_f64(ix - (t & _EXP_FIELD) + _EXP1024)  # z in [sqrt(1/2), sqrt(2))
    k = _as_f64(_MAGIC_I + kb) - _MAGIC_KB       # exact small integer as float
    f = z - 1.0                                  # exact (Sterbenz)
    s = fdiv(f, 2.0 + f)
    w = s * s
    r = fma(w, _L10, _L9)
    r = fma(w, r, _L8)
    r = fma(w, r, _L7)
    r = fma(w, r, _L6)
    r = fma(w, r, _L5)
    r = fma(w, r, _L4)
    r = fma(w, r, _L3)
    r = fma(w, r, _L2)
    r = fma(w, r, _L1)
    r = r * w
    hfsq = 0.5 * f * f
    lo = fma(s, hfsq + r, k * _LN2_LO)
    return k * _LN2_HI - ((hfsq - lo) - f)


# ---------------------------------------------------------------- sin, cos of 2 pi u
def _twopi_pow_over_fact(n):
    return float(_DEC.divide(_DEC.power(_DEC.multiply(2, _PI_DEC), n), Decimal(math.factorial(n))))


_S1, _S3, _S5, _S7, _S9, _S11, _S13, _S15, _S17 = [
    (-1) ** j * _twopi_pow_over_fact(2 * j + 1) for j in range(9)]
_C2, _C4, _C6, _C8, _C10, _C12, _C14, _C16 = [
    (-1) ** j * _twopi_pow_over_fact(2 * j) for j in range(1, 9)]


@njit(inline="always")
def sincos_2pi(u):
    """(sin(2 pi u), cos(2 pi u)), branch-free; absolute error < 2e-16 for |u| < 2**48."""
    m = fma(u, 4.0, _MAGIC)          # 1.5 * 2**52 + round(4u)
    n = _as_u64(m)                               # low bits: round(4u) mod 4
    t = fma(m - _MAGIC, -0.25, u)    # u - round(4u)/4, exact, |t| <= 1/8
    w = t * t
    ps = fma(w, _S17, _S15)
    ps = fma(w, ps, _S13)
    ps = fma(w, ps, _S11)
    ps = fma(w, ps, _S9)
    ps = fma(w, ps, _S7)
    ps = fma(w, ps, _S5)
    ps = fma(w, ps, _S3)
    ps = fma(w, ps, _S1)
    sn = t * ps                                  # sin(2 pi t)
    pc = fma(w, _C16, _C14)
    pc = fma(w, pc, _C12)
    pc = fma(w, pc, _C10)
    pc = fma(w, pc, _C8)
    pc = fma(w, pc, _C6)
    pc = fma(w, pc, _C4)
    pc = fma(w, pc, _C2)
    cs = fma(w, pc, 1.0)                         # cos(2 pi t)
    # angle = n pi/2 + 2 pi t: swap sin/cos for odd n, sign flips by quadrant
    swap = np.uint64(0) - (n & np.uint64(1))     # all ones for odd n
    bs = _as_u64(sn)
    bc = _as_u64(cs)
    xs = (bs & ~swap) | (bc & swap)
    xc = (bc & ~swap) | (bs & swap)
    sgn_s = ((n >> np.uint64(1)) & np.uint64(1)) << np.uint64(63)                    # n = 2, 3
    sgn_c = (((n + np.uint64(1)) >> np.uint64(1)) & np.uint64(1)) << np.uint64(63)   # n = 1, 2
    return _as_f64(xs ^ sgn_s), _as_f64(xc ^ sgn_c)


# ---------------------------------------------------------------- normals
@njit(inline="always")
def _normal_pair_kk(k0, k1, q):
    """Normal pair of block q (uint64) for the key halves (k0, k1)."""
    x0, x1, x2, x3 = philox4x32_10(q & _MASK32, q >> _U32, np.uint64(0), np.uint64(0), k0, k1)
    u1 = 1.0 - _u53((x1 << _U32) | x0)          # (0, 1], exact
    u2 = _u53((x3 << _U32) | x2)                # [0, 1)
    r = np.sqrt(-2.0 * log_approx(u1))
    s, c = sincos_2pi(u2)
    return r * c, r * s


@njit(inline="always")
def normal_pair(key, q):
    """Normals 2q and 2q + 1 of stream `key` (Box-Muller on Philox block q)."""
    key = np.uint64(key)
    return _normal_pair_kk(key & _MASK32, key >> _U32, np.uint64(q))


@njit(inline="always")
def normal(key, i):
    """Normal number `i` of stream `key` (computes the whole pair: prefer normal_pair)."""
    z0, z1 = normal_pair(key, np.uint64(i) >> np.uint64(1))
    return z1 if (np.uint64(i) & np.uint64(1)) else z0


@njit(cache=True)
def fill_normals(key, out):
    """Fill the flat float64 array `out` with normals 0 .. out.size - 1 of stream `key`."""
    key = np.uint64(key)
    k0 = key & _MASK32
    k1 = key >> _U32
    npair = out.shape[0] // 2
    for q in range(npair):
        z0, z1 = _normal_pair_kk(k0, k1, np.uint64(q))
        out[2 * q] = z0
        out[2 * q + 1] = z1
    if out.shape[0] % 2 == 1:
        z0, _ = _normal_pair_kk(k0, k1, np.uint64(npair))
        out[out.shape[0] - 1] = z0


@njit(cache=True)
def fill_normals_block(keys, counter0, out):
    """out[j, b] = normal number counter0 + j of stream keys[b]; keys (B,) uint64, out (n, B).

    The inner loops run over the B paths (contiguous rows of a C-ordered `out`), so
    they vectorise; each Philox block feeds two rows.  Bit-identical to fill_normals.
    """
    n = out.shape[0]
    nb = out.shape[1]
    c0 = np.uint64(counter0)
    j = 0
    if (c0 & np.uint64(1)) and n > 0:          # odd start: second half of a pair
        q = c0 >> np.uint64(1)
        for b in range(nb):
            k = np.uint64(keys[b])
            _, z1 = _normal_pair_kk(k & _MASK32, k >> _U32, q)
            out[0, b] = z1
        j = 1
    while j + 1 < n:
        q = (c0 + np.uint64(j)) >> np.uint64(1)
        row0 = out[j]
        row1 = out[j + 1]
        for b in range(nb):
            k = np.uint64(keys[b])
            z0, z1 = _normal_pair_kk(k & _MASK32, k >> _U32, q)
            row0[b] = z0
            row1[b] = z1
        j += 2
    if j < n:                                  # last row: first half of a pair
        q = (c0 + np.uint64(j)) >> np.uint64(1)
        for b in range(nb):
            k = np.uint64(keys[b])
            z0, _ = _normal_pair_kk(k & _MASK32, k >> _U32, q)
            out[j, b] = z0


@njit(cache=True)
def _stream_normals(seed, stream, path_offset, out):
    for i in range(out.shape[0]):
        fill_normals(stream_key(seed, stream, path_offset + i), out[i])


@njit(cache=True)
def _stream_uniforms(seed, stream, path_offset, out):
    for i in range(out.shape[0]):
        key = stream_key(seed, stream, path_offset + i)
        for j in range(out.shape[1]):
            out[i, j] = uniform(key, j)


def stream_normals(seed, stream, n_paths, count, path_offset=0):
    """The first `count` normals of stream `stream` for each path, shape (n_paths, count)."""
    out = np.empty((n_paths, count))
    _stream_normals(int(seed), int(stream), int(path_offset), out)
    return out


def stream_uniforms(seed, stream, n_paths, count, path_offset=0):
    """The first `count` uniforms of stream `stream` for each path, shape (n_paths, count)."""
    out = np.empty((n_paths, count))
    _stream_uniforms(int(seed), int(stream), int(path_offset), out)
    return out
