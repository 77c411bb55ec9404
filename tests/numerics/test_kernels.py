"""Kernels against plain NumPy fed the same increments; Brownian path consistency."""
import numpy as np
import pytest

import numpy_reference as ref
from helpers import make_gmm
from mlem_bench.numerics.brownian import brownian_increments
from mlem_bench.numerics.solve import solve

# Round-off: the kernel and NumPy sum the same terms in different orders over up to
# 64 steps; 1e-10 absolute on O(1) states is ~1e6 ulps of slack and still far below
# any discretisation effect (>1e-4).
ATOL = 1e-10


@pytest.mark.parametrize("family", ["ou", "gmm-sde", "gmm-ode"])
@pytest.mark.parametrize("lvl", [0, 3])
def test_em_matches_numpy(family, lvl, ou, ladder):
    problem = ou if family == "ou" else make_gmm(ode=family == "gmm-ode")
    n_paths, n_steps, seed = 64, 64, 5
    dW = brownian_increments(seed, n_paths, n_steps, problem.dim, problem.T)
    x0 = problem.initial_states(seed, n_paths)
    got = solve(problem, ladder, "em", lvl, n_steps, n_paths, seed)
    np.testing.assert_allclose(got.x, ref.em(problem, ladder, lvl, dW, x0), atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", ["ou", "gmm-sde"])
def test_mlem_matches_numpy(family, ou, gmm, ladder):
    problem = ou if family == "ou" else gmm
    n_paths, n_steps, seed, k = 64, 32, 9, 6
    probs = np.array([1, 1, 0.9, 0.6, 0.4, 0.2, 0.1, 1, 1])
    dW = brownian_increments(seed, n_paths, n_steps, problem.dim, problem.T)
    x0 = problem.initial_states(seed, n_paths)
    got = solve(problem, ladder, "mlem", k, n_steps, n_paths, seed, probs=probs)
    np.testing.assert_allclose(got.x, ref.mlem(problem, ladder, k, probs, dW, x0, seed), atol=ATOL, rtol=0)


def test_given_increments_equal_internal_ones(ou, ladder):
    dW = brownian_increments(2, 50, 32, 2, ou.T)
    a = solve(ou, ladder, "mlem", 5, 32, 50, 2, probs=np.full(9, 0.5))
    b = solve(ou, ladder, "mlem", 5, 32, 50, 2, probs=np.full(9, 0.5), increments=dW)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.cost, b.cost)


@pytest.mark.parametrize("n_steps", [1, 2, 8, 32, 2048])
def test_streamed_path_equals_the_whole_path_construction(ou, n_steps):
    # the kernel streams the path (a coarse grid, then a chunk at a time; even and odd depths,
    # one chunk or many); the increments must be those of the whole-path construction, bit for bit
    dW = brownian_increments(11, 70, n_steps, 2, ou.T, path_offset=0)
    a = solve(ou, None, "em", 0, n_steps, 70, 11)
    b = solve(ou, None, "em", 0, n_steps, 70, 11, increments=dW)
    assert np.array_equal(a.x, b.x)


def test_given_increments_are_used(ou):
    zero = solve(ou, None, "em", 0, 16, 8, 0, increments=np.zeros((8, 16, 2)))
    h = ou.T / 16
    x = np.tile(ou.x0, (8, 1))
    for _ in range(16):
        x = x - h * x @ ou.theta.T
    np.testing.assert_allclose(zero.x, x, atol=1e-14)


def test_dyadic_refinements_share_the_path():
    fine = brownian_increments(7, 300, 64, 3, 2.0)
    for n in (32, 8, 1):
        coarse = brownian_increments(7, 300, n, 3, 2.0)
        summed = fine.reshape(300, n, 64 // n, 3).sum(axis=2)
        np.testing.assert_allclose(coarse, summed, atol=1e-13)


def test_brownian_statistics():
    # 20000 paths x 16 steps x 2 dims: the variance estimate of each increment has
    # relative SE sqrt(2/20000) = 1%; 5% is 5 SE. Cross-step correlations: SE 0.007, bound 0.04.
    dW = brownian_increments(1, 20000, 16, 2, 1.0)
    var = dW.var(axis=0) * 16
    assert np.all(np.abs(var - 1) < 0.05)
    c = np.corrcoef(dW[:, :, 0].T)
    assert np.abs(c[np.triu_indices(16, 1)]).max() < 0.04
    assert abs(dW.mean() * np.sqrt(dW.size * 16)) < 5  # |mean| within 5 SE


def test_paths_do_not_depend_on_block_size_or_path_count(ou, ladder):
    p = np.full(9, 0.3)
    whole = solve(ou, ladder, "mlem", 6, 32, 101, 4, probs=p)
    blocked = solve(ou, ladder, "mlem", 6, 32, 101, 4, probs=p, block_size=7)
    fewer = solve(ou, ladder, "mlem", 6, 32, 40, 4, probs=p)
    assert np.array_equal(whole.x, blocked.x) and np.array_equal(whole.evals, blocked.evals)
    assert np.array_equal(whole.x[:40], fewer.x)


def test_common_random_numbers_across_methods(ou, ladder):
    # With every p_l = 1 ML-EM's estimator telescopes to f^k: same path, same result up to round-off.
    em = solve(ou, ladder, "em", 5, 64, 100, 3)
    ml = solve(ou, ladder, "mlem", 5, 64, 100, 3, probs=np.ones(9))
    np.testing.assert_allclose(ml.x, em.x, atol=1e-12)


def test_brownian_covariance_on_every_dyadic_grid():
    # 20000 paths: variance estimates have relative SE 1%, bound 5% (5 SE); correlations SE
    # 0.007, bound 0.04 (5.7 SE, over at most 8128 pairs: a false alarm has probability ~1e-4)
    T, d, n_paths = 2.0, 2, 20000
    for n in (1, 2, 4, 8, 16, 32, 64):
        dW = brownian_increments(11, n_paths, n, d, T).reshape(n_paths, n * d)
        cov = np.cov(dW.T)
        assert np.all(np.abs(np.diag(cov) / (T / n) - 1) < 0.05), n
        corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
        if n * d > 1:
            assert np.abs(corr[np.triu_indices(n * d, 1)]).max() < 0.04, n
        assert np.abs(dW.mean(axis=0)).max() < 5 * np.sqrt(T / n / n_paths), n
