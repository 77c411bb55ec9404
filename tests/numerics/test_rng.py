"""The generator (numerics/rng.py): known answers, exactness, accuracy of the normal
transform, statistics on 1e7 draws per stream, independence of neighbouring keys, layout.

All tests are deterministic (fixed seeds / keys). Statistical checks use 4 standard
errors; KS tests reject at the level 1e-3.
"""
import numpy as np
import pytest
from numba import njit
from scipy import stats

from mlem_bench.numerics import rng as P

M32 = 0xFFFFFFFF
N_STAT = 10_000_000


# ----------------------------------------------------------------- reference Philox
def philox_ref(ctr, key, rounds=10):
    """Pure-Python Philox-4x32-R written from Salmon et al. (2011) / Random123."""
    c = list(ctr)
    k0, k1 = key
    for r in range(rounds):
        if r > 0:
            k0 = (k0 + 0x9E3779B9) & M32
            k1 = (k1 + 0xBB67AE85) & M32
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & M32, (p0 >> 32) ^ c[3] ^ k1, p0 & M32]
    return c


# Random123 tests/kat_vectors (DEShawResearch/random123): counter[4] key[2] -> output[4]
KAT = {
    10: [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
         ((M32,) * 4, (M32,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
         ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
          (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))],
    7: [((0, 0, 0, 0), (0, 0), (0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48)),
        ((M32,) * 4, (M32,) * 2, (0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         (0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A))],
}


@njit
def _philox_nb(c0, c1, c2, c3, k0, k1):
    return P.philox4x32_10(np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3),
                           np.uint64(k0), np.uint64(k1))


@njit
def _words(key, q):
    return P.philox4x32(key, q)


@njit
def _bits(key, i):
    return P.bits(key, i)


@njit
def _uniform(key, i):
    return P.uniform(key, i)


@njit
def _uniform_pair(key, q):
    return P.uniform_pair(key, q)


@njit
def _normal(key, i):
    return P.normal(key, i)


@njit
def _uniforms(key, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = P.uniform(key, i)
    return out


@njit
def _logv(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = P.log_approx(x[i])
    return out


@njit
def _sincosv(u):
    s = np.empty_like(u)
    c = np.empty_like(u)
    for i in range(u.size):
        s[i], c[i] = P.sincos_2pi(u[i])
    return s, c


def _normals(key, n):
    out = np.empty(n)
    P.fill_normals(np.uint64(key), out)   # from Python, pass keys as np.uint64 (see philox docstring)
    return out


def _same_bits(a, b):
    return np.array_equal(np.ascontiguousarray(a).view(np.uint64),
                          np.ascontiguousarray(b).view(np.uint64))


# ----------------------------------------------------------------- known answers
@pytest.mark.parametrize("rounds", [7, 10])
def test_reference_philox_matches_random123_kat(rounds):
    for ctr, key, want in KAT[rounds]:
        assert philox_ref(ctr, key, rounds) == list(want)


def test_numba_philox_kat():
    for ctr, key, want in KAT[10]:
        got = [int(v) for v in _philox_nb(*ctr, *key)]
        assert got == list(want), [hex(v) for v in got]


def test_numba_philox_matches_reference_on_random_inputs():
    rng = np.random.default_rng(1)
    for row in rng.integers(0, 2 ** 32, size=(200, 6), dtype=np.uint64):
        ctr, key = [int(v) for v in row[:4]], [int(v) for v in row[4:]]
        assert [int(v) for v in _philox_nb(*ctr, *key)] == philox_ref(ctr, key)


def test_word_layout_bits_and_uniform():
    rng = np.random.default_rng(2)
    for key, q in rng.integers(0, 2 ** 63, size=(50, 2), dtype=np.uint64):
        key, q = int(key) * 2 + 1, int(q)
        x = philox_ref((q & M32, q >> 32, 0, 0), (key & M32, key >> 32))
        w0, w1 = (x[1] << 32) | x[0], (x[3] << 32) | x[2]
        assert [int(v) for v in _words(np.uint64(key), np.uint64(q))] == [w0, w1]
        for i, w in ((2 * q, w0), (2 * q + 1, w1)):
            if i >= 2 ** 63:
                continue
            assert int(_bits(np.uint64(key), i)) == w
            assert _uniform(np.uint64(key), i) == (w >> 11) * 2.0 ** -53   # exact
        if 2 * q + 1 < 2 ** 63:
            # the pair the ML-EM kernel draws its Bernoulli numbers from: the same two uniforms
            assert _uniform_pair(np.uint64(key), np.uint64(q)) == (_uniform(np.uint64(key), 2 * q),
                                                                   _uniform(np.uint64(key), 2 * q + 1))


def test_pinned_values():
    """Regression pin: the first normals of stream_key(0, 0, 0) (change = new random numbers)."""
    got = _normals(P.stream_key(0, 0, 0), 4)
    assert _same_bits(got, np.array(PINNED)), [float(v).hex() for v in got]


PINNED = [float.fromhex(h) for h in (
    "-0x1.f41e2e0993518p+0", "0x1.be81c3d2c30d6p-1",
    "-0x1.250a6d65df63ap-1", "-0x1.713e0e4e34bacp+0")]


# ----------------------------------------------------------------- exactness / accuracy
def test_u53_exact_and_range():
    rng = np.random.default_rng(3)
    w = rng.integers(0, 2 ** 64, size=100_000, dtype=np.uint64, endpoint=False)
    w = np.concatenate([w, np.array([0, 2 ** 11 - 1, 2 ** 64 - 1, 2 ** 63, 2 ** 43, 2 ** 43 - 1],
                                    dtype=np.uint64)])

    @njit
    def conv(w):
        out = np.empty(w.size)
        for i in range(w.size):
            out[i] = P._u53(w[i])
        return out
    got = conv(w)
    want = (w >> np.uint64(11)).astype(np.float64) * 2.0 ** -53   # exact: < 2**53
    assert _same_bits(got, want)
    assert got.min() >= 0.0 and got.max() == 1.0 - 2.0 ** -53


def _log_errors(x):
    got = _logv(x)
    ref = np.log(x.astype(np.longdouble))
    err = np.abs(got - ref)
    nz = ref != 0
    assert np.all(got[~nz] == 0.0)
    ulp = err[nz] / np.spacing(np.abs(got[nz]))
    rel = err[nz] / np.abs(ref[nz])
    return float(ulp.max()), float(rel.max())


@pytest.mark.parametrize("grid", ["unit", "box_muller_u1", "near_one", "wide"])
def test_log_accuracy(grid):
    rng = np.random.default_rng(4)
    x = {
        "unit": np.arange(1, 2_000_001) / 2e6,
        "box_muller_u1": 1.0 - np.floor(rng.random(2_000_000) * 2 ** 53) * 2.0 ** -53,
        "near_one": np.concatenate([1 - np.arange(0, 100_000) * 2.0 ** -53,
                                    1 + np.arange(1, 100_000) * 2.0 ** -52,
                                    np.linspace(0.7, 1.42, 200_000)]),
        "wide": np.concatenate([np.logspace(-307, 307, 2_000_000), [2.0 ** -1022, 1.7e308]]),
    }[grid]
    ulp, rel = _log_errors(x)
    print(f"log_approx {grid}: max {ulp:.3f} ulp, max rel {rel:.3g}")
    assert ulp < 1.0 and rel < 2e-16


def test_sincos_accuracy():
    rng = np.random.default_rng(5)
    u = np.concatenate([
        np.arange(2 ** 21) / 2 ** 21,                                            # dense grid
        np.floor(rng.random(2_000_000) * 2 ** 53) * 2.0 ** -53,                  # 53-bit u
        (np.arange(9)[:, None] / 8 + np.arange(-2000, 2000)[None, :] * 2.0 ** -45).ravel(),
        [1.0 - 2.0 ** -53],
        rng.uniform(-1000, 1000, 100_000),                                       # |u| > 1 works too
    ])
    s, c = _sincosv(u)
    frac = u - np.round(u)                             # exact; keeps the long-double reference exact
    a = np.longdouble("6.28318530717958647692528676655900576839") * frac.astype(np.longdouble)
    es = float(np.abs(s - np.sin(a)).max())
    ec = float(np.abs(c - np.cos(a)).max())
    print(f"sincos_2pi: max abs err sin {es:.3g}, cos {ec:.3g}")
    assert es < 2e-16 and ec < 2e-16
    assert np.abs(s).max() <= 1.0 and np.abs(c).max() <= 1.0
    # exact values at the quadrant points
    s, c = _sincosv(np.array([0.0, 0.25, 0.5, 0.75]))
    assert list(s) == [0.0, 1.0, 0.0, -1.0] and list(c) == [1.0, 0.0, -1.0, 0.0]


def test_normal_is_box_muller_of_the_uniforms():
    key = P.stream_key(9, 0, 4)
    n = 20_000
    z = _normals(key, n)
    u = _uniforms(np.uint64(key), n)
    u1 = (1.0 - u[0::2]).astype(np.longdouble)
    a = np.longdouble("6.28318530717958647692528676655900576839") * u[1::2].astype(np.longdouble)
    r = np.sqrt(-2 * np.log(u1))
    assert np.abs(z[0::2] - r * np.cos(a)).max() < 1e-14
    assert np.abs(z[1::2] - r * np.sin(a)).max() < 1e-14


# ----------------------------------------------------------------- statistics
def _raw_moment_zscores(x, moments, variances):
    """z-scores of the sample raw moments E[x^k], k = 1..4, against exact values."""
    out = []
    xk = np.ones_like(x)
    for k in range(1, 5):
        xk *= x
        out.append((xk.mean() - moments[k - 1]) / np.sqrt(variances[k - 1] / x.size))
    return np.array(out)


@pytest.fixture(scope="module")
def big_uniforms():
    return _uniforms(np.uint64(P.stream_key(2024, 1, 17)), N_STAT)


@pytest.fixture(scope="module")
def big_normals():
    return _normals(P.stream_key(2024, 0, 17), N_STAT)


def test_uniform_moments_and_ks(big_uniforms):
    u = big_uniforms
    assert u.min() >= 0.0 and u.max() < 1.0
    m = [1 / (k + 1) for k in range(1, 5)]                               # E u^k
    v = [1 / (2 * k + 1) - 1 / (k + 1) ** 2 for k in range(1, 5)]        # Var u^k
    zs = _raw_moment_zscores(u, m, v)
    print("uniform raw-moment z-scores", np.round(zs, 2))
    assert np.all(np.abs(zs) < 4)
    assert stats.kstest(u, "uniform").pvalue > 1e-3                      # all 10^7 draws
    # equidistribution of the 16 top-bit cells (chi-square, level 1e-3)
    counts = np.bincount((u * 16).astype(np.int64), minlength=16)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_normal_moments_tails_and_ks(big_normals):
    z = big_normals
    n = z.size
    zs = _raw_moment_zscores(z, [0, 1, 0, 3], [1, 2, 15, 96])
    print("normal raw-moment z-scores (mean, E z^2, E z^3, E z^4)", np.round(zs, 2))
    assert np.all(np.abs(zs) < 4)
    skew, kurt = stats.skew(z), stats.kurtosis(z)
    assert abs(skew) < 4 * np.sqrt(6 / n) and abs(kurt) < 4 * np.sqrt(24 / n)
    for t in (2.0, 3.0, 4.0, 5.0):                                       # two-sided tails
        p = 2 * stats.norm.sf(t)
        cnt = np.count_nonzero(np.abs(z) > t)
        assert abs(cnt - n * p) < 4 * np.sqrt(n * p * (1 - p)) + 1, (t, cnt, n * p)
    assert stats.kstest(z, "norm").pvalue > 1e-3                         # all 10^7 draws
    assert stats.kstest(z[1::2], "norm").pvalue > 1e-3                   # sin half alone
    assert np.abs(z).max() < np.sqrt(-2 * np.log(2.0 ** -53))


def test_serial_correlation(big_normals):
    z = big_normals
    for lag in (1, 2, 3, 4):
        r = np.corrcoef(z[:-lag], z[lag:])[0, 1]
        assert abs(r) < 4 / np.sqrt(z.size), (lag, r)
    # the two members of a Box-Muller pair: squares uncorrelated too
    r = np.corrcoef(z[0::2] ** 2, z[1::2] ** 2)[0, 1]
    assert abs(r) < 4 / np.sqrt(z.size // 2)


@pytest.mark.parametrize("a,b", [((7, 0, 100), (7, 0, 101)),       # neighbouring paths
                                 ((7, 0, 100), (7, 1, 100)),       # neighbouring streams
                                 ((7, 0, 100), (8, 0, 100)),       # neighbouring seeds
                                 ((0, 0, 0), (0, 0, 1))])
def test_neighbouring_keys_uncorrelated(a, b):
    n = 1_000_000
    za, zb = _normals(P.stream_key(*a), n), _normals(P.stream_key(*b), n)
    ua, ub = _uniforms(np.uint64(P.stream_key(*a)), n), _uniforms(np.uint64(P.stream_key(*b)), n)
    for x, y in ((za, zb), (ua, ub), (za ** 2, zb ** 2)):
        r = np.corrcoef(x, y)[0, 1]
        assert abs(r) < 4 / np.sqrt(n), (a, b, r)


def test_many_paths_first_normal():
    """Normals 0 and 1 across 2e5 consecutive paths (what a lock-step kernel draws at step 0)."""
    keys = np.array([P.stream_key(3, 0, p) for p in range(200_000)], dtype=np.uint64)
    out = np.empty((2, keys.size))
    P.fill_normals_block(keys, 0, out)
    for row in out:
        assert abs(row.mean()) < 4 / np.sqrt(row.size)
        assert stats.kstest(row, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(out[0, :-1], out[0, 1:])[0, 1]) < 4 / np.sqrt(keys.size)


# ----------------------------------------------------------------- layout / reproducibility
def test_fill_normals_prefix_and_scalar_agree():
    key = P.stream_key(5, 0, 3)
    full = _normals(key, 1001)
    for n in (0, 1, 2, 3, 7, 8, 9, 1000):
        assert _same_bits(_normals(key, n), full[:n])
    # vectorised loop body, scalar remainder and scalar inline code give the same bits
    scalar = np.array([_normal(np.uint64(key), i) for i in range(1001)])
    assert _same_bits(scalar, full)


@pytest.mark.parametrize("nb", [1, 3, 13, 64])
@pytest.mark.parametrize("counter0", [0, 1, 6, 7, 2 ** 33 + 1])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 8])
def test_block_matches_per_path(nb, counter0, n):
    keys = np.array([P.stream_key(11, 0, p) for p in range(nb)], dtype=np.uint64)
    out = np.full((n, nb), np.nan)
    P.fill_normals_block(keys, counter0, out)
    for b in range(nb):
        if counter0 < 100:
            want = _normals(keys[b], counter0 + n)[counter0:]
        else:
            want = np.array([_normal(keys[b], counter0 + j) for j in range(n)])
        assert _same_bits(out[:, b], want), (b, counter0, n)


def test_block_lockstep_equals_one_fill():
    """Drawing 2 rows per step for 50 steps == one fill of 100 normals per path."""
    keys = np.array([P.stream_key(1, 0, p) for p in range(37)], dtype=np.uint64)
    buf = np.empty((2, keys.size))
    rows = []
    for step in range(50):
        P.fill_normals_block(keys, 2 * step, buf)
        rows.append(buf.copy())
    got = np.concatenate(rows)
    want = np.stack([_normals(k, 100) for k in keys], axis=1)
    assert _same_bits(got, want)


def test_stream_helpers():
    z = P.stream_normals(4, 0, 3, 10, path_offset=5)
    u = P.stream_uniforms(4, 1, 3, 10, path_offset=5)
    for i in range(3):
        assert _same_bits(z[i], _normals(P.stream_key(4, 0, 5 + i), 10))
        assert _same_bits(u[i], _uniforms(np.uint64(P.stream_key(4, 1, 5 + i)), 10))


# ----------------------------------------------------------------- vectorisation
def test_kernels_vectorise():
    """Packed 32x32->64 multiplies in the kernels and no libm calls (needs AVX2)."""
    import llvmlite.binding as ll
    if "+avx2" not in ll.get_host_cpu_features().flatten():
        pytest.skip("host has no AVX2")
    f = njit(P.fill_normals.py_func)          # fresh, uncached: inspect_asm works
    f(np.uint64(1), np.empty(9))
    asm = list(f.inspect_asm().values())[0]
    packed = [ln for ln in asm.splitlines() if "vpmuludq" in ln and ("ymm" in ln or "zmm" in ln)]
    assert len(packed) >= 19
    assert "vsqrtpd" in asm and "vdivpd" in asm
    for name in ("$log", "$sin", "$cos", "$exp"):
        assert name not in asm


def test_per_sample_uniforms_are_the_path_streams_and_ignore_the_batch():
    # the torch samplers' B_l of sample i at step n are the kernels' draws of path i at step n:
    # uniform number n * MAX_LEVELS + l of stream (seed, STREAM_BERNOULLI, i)
    from mlem_bench.numerics.drift import MAX_LEVELS
    from mlem_bench.numerics.kernels import per_sample_uniforms
    samples = np.array([7, 0, 3, 1000])
    u = per_sample_uniforms(11, samples, 5, 6)
    for row, i in zip(u, samples):
        want = _uniforms(np.uint64(P.stream_key(11, P.STREAM_BERNOULLI, i)), 6 * MAX_LEVELS)
        assert _same_bits(row, want[5 * MAX_LEVELS:5 * MAX_LEVELS + 6])
    assert _same_bits(per_sample_uniforms(11, samples[2:], 5, 6), u[2:])
    with pytest.raises(ValueError, match="n_levels"):
        per_sample_uniforms(11, samples, 5, MAX_LEVELS + 1)
