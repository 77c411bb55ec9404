"""Lock-step blocks: results are a pure function of (seed, stream, path).

Bit-identical for 1 and 2 threads, block sizes 1, 7, 64 and the default, and path
counts that are not multiples of the block; learned ladders against plain NumPy;
the per-point and block drift signatures agree.
"""
import numpy as np
import pytest

import numpy_reference as ref
from helpers import RandomLearnedLadder, make_gmm, numba_threads
from mlem_bench.numerics.brownian import brownian_increments
from mlem_bench.numerics.solve import evaluate_level, solve
from mlem_bench.problems import GaussianMixtureReverse, UserProblem, ou_diffusion, ou_drift

pytestmark = pytest.mark.slow   # started first under xdist (conftest.SLOW_FIRST)

N_PATHS, N_STEPS, K = 101, 16, 4           # 101: no block size below divides it
ATOL = 1e-10                               # round-off slack as in test_kernels.py


def _runs(problem, ladder, method, **kw):
    level = 0 if method in ("em", "diag", "noise") and ladder is None else K
    probs = np.array([1, 1, 0.7, 0.4, 0.3, 0.2, 0.2, 0.1, 0.1])[: (ladder.levels if ladder else 1) + 1]
    out = []
    for threads in (1, 2):
        with numba_threads(threads):
            for block in (1, 7, 64, None):
                out.append(solve(problem, ladder, method, level, N_STEPS, N_PATHS, 3, probs=probs,
                                 block_size=block, switch_step=N_STEPS // 2, **kw))
    return out


def _same(runs):
    first = runs[0]
    for r in runs[1:]:
        assert np.array_equal(r.x, first.x)
        assert np.array_equal(r.cost, first.cost)
        assert np.array_equal(r.evals, first.evals)
        assert np.array_equal(r.diag, first.diag)


@pytest.mark.parametrize("method", ["em", "mlem", "schedule", "stitch", "diag", "noise"])
def test_bit_identical_across_threads_and_blocks(method, ou, ladder):
    _same(_runs(ou, ladder, method))


def test_bit_identical_shared_patterns_and_pointwise_drift(gmm, ladder):
    # shared Bernoulli patterns; the mixture's block drift
    _same(_runs(gmm, ladder, "mlem", share=5))


@pytest.fixture(scope="module")
def learned():
    problem = make_gmm()
    return problem, RandomLearnedLadder(problem, widths=[3, 8, 16, 32], depth=2, seed=1)


def test_learned_bit_identical(learned):
    problem, lad = learned
    _same(_runs(problem, lad, "mlem"))


@pytest.mark.parametrize("lvl", [1, 4])
def test_learned_em_matches_numpy(learned, lvl):
    problem, lad = learned
    seed = 5
    dW = brownian_increments(seed, 40, N_STEPS, problem.dim, problem.T)
    x0 = problem.initial_states(seed, 40)
    got = solve(problem, lad, "em", lvl, N_STEPS, 40, seed)
    np.testing.assert_allclose(got.x, ref.em(problem, lad, lvl, dW, x0), atol=ATOL, rtol=0)


def test_learned_mlem_matches_numpy(learned):
    problem, lad = learned
    seed, probs = 6, np.array([1, 1, 0.6, 0.4, 0.2])
    dW = brownian_increments(seed, 40, N_STEPS, problem.dim, problem.T)
    x0 = problem.initial_states(seed, 40)
    got = solve(problem, lad, "mlem", 4, N_STEPS, 40, seed, probs=probs)
    np.testing.assert_allclose(got.x, ref.mlem(problem, lad, 4, probs, dW, x0, seed), atol=ATOL, rtol=0)


def test_learned_evaluate_level_matches_numpy(learned):
    problem, lad = learned
    x = np.random.default_rng(0).normal(size=(9, problem.dim))
    t = np.array([0.1, 0.1, 0.1, 0.5, 0.5, 0.9, 0.1, 0.1, 0.3])   # runs of equal times form blocks
    for lvl in (1, 2, 4):
        want = np.concatenate([ref.level(problem, lad, lvl, ti, xi[None]) for ti, xi in zip(t, x)])
        np.testing.assert_allclose(evaluate_level(problem, lad, lvl, t, x), want, atol=1e-12, rtol=0)


def test_block_drift_equals_pointwise(ou, ladder):
    # the same OU drift given per point only (a user problem) and per block (the built-in)
    user = UserProblem(ou_drift, ou_diffusion, ou.dim, ou.T, ou.x0, params=ou.params)
    for method in ("em", "mlem"):
        a = solve(ou, ladder, method, K, N_STEPS, N_PATHS, 4, probs=np.full(9, 0.5))
        b = solve(user, ladder, method, K, N_STEPS, N_PATHS, 4, probs=np.full(9, 0.5))
        assert np.array_equal(a.x, b.x) and np.array_equal(a.evals, b.evals)


def test_each_level_at_most_once_per_step(ou, ladder):
    s = solve(ou, ladder, "mlem", 6, 32, 200, 1, probs=np.full(9, 0.5))
    assert np.all(s.evals[:, 1] == 32) and np.all(s.evals <= 32)
    # level l >= 2 is needed when B_l or B_{l+1} is drawn: P = 1 - 1/4 below the top, 1/2 at it
    assert abs(s.evals[:, 2:6].mean() / 32 - 0.75) < 0.02 and abs(s.evals[:, 6].mean() / 32 - 0.5) < 0.03



@pytest.mark.parametrize("ode", [False, True])
def test_mixture_block_drift_equals_pointwise(ode):
    from mlem_bench.problems import gmm_reverse_drift, gmm_reverse_drift_block
    p = GaussianMixtureReverse([0.2, 0.5, 0.3], [[-1.0, 0.5, 0.0], [1.0, -0.5, 2.0], [0.0, 0.0, -3.0]],
                               [0.3, 0.5, 0.1], ode=ode)
    Y = 3.0 * np.random.default_rng(1).normal(size=(3, 37))
    for s in (0.0, 0.5, 0.999):
        got = np.empty_like(Y)
        gmm_reverse_drift_block(s, Y, p.params, got)
        want = np.empty_like(Y)
        for b in range(Y.shape[1]):
            o = np.empty(3)
            gmm_reverse_drift(s, np.ascontiguousarray(Y[:, b]), p.params, o)
            want[:, b] = o
        # the same sums in another order (rescaling per component instead of on a new maximum)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
