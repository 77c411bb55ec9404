"""The ML-EM drift estimator: unbiased, the predicted variance, counted cost."""
import numpy as np
import pytest

from mlem_bench.numerics.solve import estimator_draws, evaluate_level, solve
from mlem_bench.tuning.configure import mlem_step_cost

PROBS = np.array([1, 1, 0.8, 0.5, 0.3, 0.15, 0.1, 1, 1])
K = 6
N_DRAWS = 400_000


@pytest.mark.parametrize("family", ["ou", "gmm"])
def test_unbiased_with_predicted_variance_and_cost(family, ou, gmm, ladder):
    problem = ou if family == "ou" else gmm
    t, x = 0.37, np.array([0.4, -0.7])
    F, mean_cost = estimator_draws(problem, ladder, K, PROBS, t, x, seed=1, n_draws=N_DRAWS)
    f = np.array([evaluate_level(problem, ladder, l, t, x[None])[0] for l in range(K + 1)])
    # mean = f^k within 4.5 standard errors per component
    se = F.std(axis=0) / np.sqrt(N_DRAWS)
    assert np.all(np.abs(F.mean(axis=0) - f[K]) < 4.5 * se)
    # variance = sum_l (1/p_l - 1) (f^l - f^{l-1})^2 per component (independent B_l);
    # the SE of a sample variance is sqrt((m4 - s^4) / n)
    diff = f[2:K + 1] - f[1:K]
    var_true = ((1 / PROBS[2:K + 1] - 1)[:, None] * diff ** 2).sum(axis=0)
    c = F - F.mean(axis=0)
    var_se = np.sqrt(((c ** 4).mean(axis=0) - c.var(axis=0) ** 2) / N_DRAWS)
    assert np.all(np.abs(c.var(axis=0) - var_true) < 4.5 * var_se)
    # expected counted cost: level 1 always, level l when B_l or B_{l+1} (evaluated once)
    cost = ladder.cost
    p_need = [1.0] + [1 - (1 - PROBS[l]) * (1 - (PROBS[l + 1] if l < K else 0)) for l in range(2, K + 1)]
    expected = cost[1] + sum(pn * cost[l] for pn, l in zip(p_need[1:], range(2, K + 1)))
    per_draw_sd = np.sqrt(sum(pn * (1 - pn) * cost[l] ** 2 for pn, l in zip(p_need[1:], range(2, K + 1))))
    assert abs(mean_cost - expected) < 4.5 * per_draw_sd / np.sqrt(N_DRAWS)
    # the tuner plans with the same expectation (it counted a shared level twice before)
    assert mlem_step_cost(ladder, K, PROBS) == pytest.approx(expected, rel=1e-12)


def test_each_level_at_most_once_per_step_and_cost_counted_exactly(ou, ladder):
    sol = solve(ou, ladder, "mlem", K, 1, 5000, 0, probs=PROBS)
    assert sol.evals.max() <= 1 and np.all(sol.evals[:, 1] == 1) and np.all(sol.evals[:, K + 1:] == 0)
    sol = solve(ou, ladder, "mlem", K, 64, 500, 0, probs=PROBS)
    # same terms summed in another order: equal to round-off
    np.testing.assert_allclose(sol.cost, sol.evals @ ladder.cost, rtol=1e-12)
    em = solve(ou, ladder, "em", 4, 64, 10, 0)
    np.testing.assert_allclose(em.cost, 64 * ladder.cost[4], rtol=1e-12)
    assert np.all(em.evals[:, 4] == 64)
