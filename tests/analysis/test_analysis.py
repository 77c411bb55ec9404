"""Table functions on inputs with known answers: Pareto frontiers, matched-error
speed-ups and their jackknife intervals, measured gamma of a planted ladder."""
import numpy as np
import pandas as pd
import pytest

from mlem_bench.analysis.rates import cost_at_error, matched_speedup, pareto_mask, speedup_interval
from mlem_bench.analysis.diagnostics import measured_gamma


def test_pareto_mask():
    cost = np.array([1.0, 2.0, 3.0, 2.5, 4.0])
    err = np.array([0.5, 0.3, 0.1, 0.4, 0.1])
    # (2.5, 0.4) is beaten by (2, 0.3); (4, 0.1) by (3, 0.1)
    assert pareto_mask(cost, err).tolist() == [True, True, True, False, False]


def test_matched_speedup_on_power_law_frontiers():
    # cost_a = 10 e^-3, cost_b = 2 e^-2: log-log interpolation is exact on power laws, so
    # the speed-up at the smallest common error e* is 5 / e*.
    ea = np.geomspace(0.1, 1e-3, 9)
    eb = np.geomspace(0.2, 2e-3, 7)
    common, ca, cb, ratio = matched_speedup(ea, 10 * ea ** -3.0, eb, 2 * eb ** -2.0)
    assert common == pytest.approx(2e-3)
    assert ratio == pytest.approx(5 / 2e-3, rel=1e-12)
    # between the points too, and a costlier-but-worse point does not bend the frontier
    e = np.array([0.1, 0.05, 0.02, 0.01])
    c = e ** -2.0
    assert cost_at_error(e, c, 0.03) == pytest.approx(0.03 ** -2.0, rel=1e-12)
    assert cost_at_error(np.append(e, 0.04), np.append(c, 1e9), 0.03) == pytest.approx(0.03 ** -2.0, rel=1e-12)
    assert np.isnan(cost_at_error(e, c, 1e-3))


def _pooled(err, cost, rng, n_batches, noise):
    # configurations whose per-batch squared errors scatter around err^2
    sq = [e ** 2 * rng.gamma(1 / noise ** 2, noise ** 2, n_batches) for e in err]
    costs = [np.full(n_batches, c) for c in cost]
    w = np.ones(n_batches)
    return pd.DataFrame({"error": [np.sqrt(s.mean()) for s in sq], "cost": cost, "sq": sq, "costs": costs,
                         "weights": [w] * len(err)})


def test_speedup_interval_covers_the_truth():
    # 200 replicate experiments: the 95% jackknife interval covers the true speed-up
    # in most of them (jackknife intervals are approximate; 80% is a loose floor).
    rng = np.random.default_rng(0)
    ea = np.geomspace(0.1, 1e-3, 9)
    eb = np.geomspace(0.1, 1e-3, 9)
    covered = 0
    for _ in range(200):
        a = _pooled(ea, 10 * ea ** -3.0, rng, 20, 0.2)
        b = _pooled(eb, 2 * eb ** -2.0, rng, 20, 0.2)
        s = speedup_interval(a, b)
        truth = 5 / s["common_error"]
        covered += s["speedup_lo"] <= truth <= s["speedup_hi"]
    assert covered >= 160, covered


def test_measured_gamma_recovers_a_planted_ladder():
    # eps_l = 2^-(l-1) with 10% multiplicative noise, c_l = eps_l^-2.5
    rng = np.random.default_rng(1)
    eps = 2.0 ** -np.arange(12) * np.exp(0.1 * rng.standard_normal(12))
    cost = (2.0 ** -np.arange(12)) ** -2.5
    g, lo, hi = measured_gamma(eps, cost)
    assert lo <= 2.5 <= hi and hi - lo < 0.2


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_measured_gamma_interval_has_its_stated_coverage(level):
    # A known answer for the fit behind every learned family's gamma: five levels (as the
    # shipped exact family has) with log c_l = a - gamma log eps_l + N(0, 0.3^2), gamma = 2.5
    # planted. For Gaussian noise on the regressand the t-interval is exact, so over 2000
    # seeded ladders it must cover 2.5 in a fraction `level` of them, within 3.3 binomial
    # standard errors (a two-sided 0.1% test: sqrt(0.95 x 0.05 / 2000) = 0.005, so +-0.016
    # at 95%). A normal quantile in place of t's (3 degrees of freedom) would cover 86% at
    # 95%, a one-sided or mis-scaled interval far less. The point estimate is unbiased: its
    # mean over the draws lies within 3.3 of its standard errors of 2.5.
    rng = np.random.default_rng(24)
    n, gamma = 2000, 2.5
    log_eps = np.log(2.0 ** -np.arange(5) * 0.2)
    fits = np.array([measured_gamma(np.exp(log_eps), np.exp(1.0 - gamma * log_eps + 0.3 * rng.standard_normal(5)),
                                    level) for _ in range(n)])
    covered = np.mean((fits[:, 1] <= gamma) & (gamma <= fits[:, 2]))
    assert abs(covered - level) <= 3.3 * np.sqrt(level * (1 - level) / n), covered
    assert abs(fits[:, 0].mean() - gamma) <= 3.3 * fits[:, 0].std(ddof=1) / np.sqrt(n), fits[:, 0].mean()


def test_sliced_w2_known_answers():
    from mlem_bench.analysis.metrics import sliced_w2
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 3))
    assert sliced_w2(a, a) == 0.0
    assert sliced_w2(a, a[::-1].copy()) == pytest.approx(0.0, abs=1e-12)    # order does not matter
    # in 1-D every direction is +-1: W2 of a shift is the shift
    x = rng.normal(size=(400, 1))
    assert sliced_w2(x, x + 0.3) == pytest.approx(0.3, rel=1e-12)
    b = rng.normal(size=(500, 3))
    assert sliced_w2(a, b) == pytest.approx(sliced_w2(b, a), rel=1e-12)
    with pytest.raises(ValueError, match="equal shape"):
        sliced_w2(a, b[:10])
