"""Problems: OU exact solution and moments, mixture score and marginals."""
import numpy as np
import pytest

from helpers import make_gmm
from mlem_bench.problems import OrnsteinUhlenbeck


def _moment_z_scores(x, mean, cov):
    """z-scores of the sample mean and covariance entries against the truth."""
    n = x.shape[0]
    zm = (x.mean(0) - mean) / np.sqrt(np.diag(cov) / n)
    S = np.cov(x.T)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / n)  # Gaussian SE of S_ij
    return zm, (S - cov) / se


def test_ou_exact_terminal_moments(ou):
    # 40000 exact samples; every moment within 4.5 standard errors (a false alarm
    # among the 5 statistics has probability < 4e-5).
    ref = ou.reference(11, 40000, 2 ** 10)
    zm, zc = _moment_z_scores(ref.x, ou.terminal_mean(), ou.terminal_cov())
    assert np.all(np.abs(zm) < 4.5) and np.all(np.abs(zc) < 4.5)


def test_ou_covariance_closed_form_matches_haar_series(ou):
    # The Haar coefficients' Gramian converges to the closed-form covariance; what is
    # left at depth J is the reference's reported own error (squared).
    for depth in (6, 10):
        coef = ou.haar_coefficients(depth)
        gram = np.einsum("mck,mjk->cj", coef, coef)
        assert np.abs(gram - ou.terminal_cov()).max() < 4 ** -depth
    assert ou.reference(0, 2, 2 ** 12).own_error < 1e-4


def test_ou_scalar_theta_closed_form():
    p = OrnsteinUhlenbeck(1, T=2.0, theta=0.5, sigma=0.3, x0=2.0)
    assert p.terminal_mean()[0] == pytest.approx(2.0 * np.exp(-1.0), rel=1e-12)
    assert p.terminal_cov()[0, 0] == pytest.approx(0.09 * (1 - np.exp(-2.0)) / 1.0, rel=1e-12)


def test_ou_exact_solution_is_pathwise(ou):
    # EM on finer and finer grids of the same Brownian path converges to the exact
    # terminal state of that path (not just in law).
    ref = ou.reference(3, 500, 2 ** 14)
    from mlem_bench.numerics.solve import solve, strong_error
    errs = [strong_error(solve(ou, None, "em", 0, n, 500, 3).x, ref.x)[0] for n in (256, 1024)]
    assert errs[1] < errs[0] / 3 and errs[1] < 2e-3


@pytest.mark.parametrize("t", [1e-3, 0.1, 0.5, 1.0])
def test_mixture_score_is_gradient_of_log_density(gmm, t):
    x = np.random.default_rng(0).normal(size=(200, 2)) * 2
    h = 1e-5
    fd = np.stack([(gmm.log_density(t, x + h * e) - gmm.log_density(t, x - h * e)) / (2 * h)
                   for e in np.eye(2)], axis=1)
    # central differences: error O(h^2 |d^3 log p|) ~ 1e-8 here; 1e-6 leaves room
    np.testing.assert_allclose(gmm.score(t, x), fd, atol=1e-6)


def test_mixture_initial_states_are_exact_samples_of_p1(gmm):
    x = gmm.initial_states(0, 40000)
    w, m, v = gmm.marginal(1.0)
    mean = w @ m
    cov = sum(wi * (vi * np.eye(2) + np.outer(mi - mean, mi - mean)) for wi, mi, vi in zip(w, m, v))
    zm, zc = _moment_z_scores(x, mean, cov)
    assert np.all(np.abs(zm) < 4.5) and np.all(np.abs(zc) < 6)  # mixture: heavier than Gaussian SE


@pytest.mark.parametrize("ode", [False, True])
def test_reverse_diffusion_reaches_p_tmin(ode):
    # The exact-drift reference ends in law at p_{t_min}: compare moments (bias of the
    # fine grid is < 1e-3; sampling SE with 20000 paths ~ 0.007).
    g = make_gmm(ode)
    ref = g.reference(1, 20000, 2 ** 12)
    assert ref.own_error < 2e-3
    zm, zc = _moment_z_scores(ref.x, g.terminal_mean(), g.terminal_cov())
    assert np.all(np.abs(zm) < 4.5) and np.all(np.abs(zc) < 6)
