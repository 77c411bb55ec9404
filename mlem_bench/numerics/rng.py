"""Counter-based random numbers keyed by (seed, stream, path, counter).

Every random number the project draws is a pure function of its key, so a path's
Brownian motion is the same whatever the thread count, block size, step size or
method. The generator is splitmix64's output function applied to a Weyl sequence
that starts at a per-(seed, stream, path) key.
"""
import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_M32 = 1.0 / 4294967296.0
_TWO_M53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * np.pi

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


def heldout_seed(seed):
    """Seed of the held-out batch of a family trained with `seed`."""
    return int(seed) * TRAIN_SEED_STRIDE + HELDOUT_OFFSET


# The image track draws with torch generators seeded from (seed, counter): one multiplier a stream.
TORCH_BROWNIAN_MULT = 1_000_003
TORCH_BERNOULLI_MULT = 7_000_003
TORCH_INITIAL_MULT = 3_000_017
TORCH_INITIAL_SHIFT = 11


@njit(inline="always")
def mix64(z):
    """splitmix64 finaliser: a bijection of uint64 with good avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def stream_key(seed, stream, path):
    """Key of the random stream `stream` of path `path` under `seed`."""
    k = mix64(np.uint64(seed) * GOLDEN + np.uint64(stream) + np.uint64(1))
    return mix64(k ^ (np.uint64(path) * _M2 + GOLDEN))


@njit(inline="always")
def bits(key, counter):
    """64 random bits number `counter` of the stream `key`."""
    return mix64(key + (np.uint64(counter) + np.uint64(1)) * GOLDEN)


@njit(inline="always")
def uniform(key, counter):
    """Uniform on [0, 1) with 53 random bits."""
    return np.float64(bits(key, counter) >> np.uint64(11)) * _TWO_M53


@njit(inline="always")
def normal_pair(key, counter):
    """Two independent standard normals from one 64-bit draw (Box-Muller).

    32 bits per uniform: the discretisation (tails cut beyond |z| = 6.66) is far
    below anything a strong-error benchmark resolves.
    """
    b = bits(key, counter)
    u1 = (np.float64(b >> np.uint64(32)) + 0.5) * _TWO_M32
    u2 = np.float64(b & _LOW32) * _TWO_M32
    r = np.sqrt(-2.0 * np.log(u1))
    a = _TWO_PI * u2
    return r * np.cos(a), r * np.sin(a)


@njit
def fill_normals(key, out):
    """Fill the flat array `out` with the first out.size normals of stream `key`."""
    n = out.shape[0]
    for q in range(n // 2):
        z0, z1 = normal_pair(key, q)
        out[2 * q] = z0
        out[2 * q + 1] = z1
    if n % 2 == 1:
        z0, _ = normal_pair(key, n // 2)
        out[n - 1] = z0


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
