"""Synthetic ladders: error bounds, counted costs, real-work mode."""
import numpy as np
import pytest

from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.numerics.solve import evaluate_level, solve


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_level_errors_within_eps(dim):
    from mlem_bench.problems import OrnsteinUhlenbeck
    p = OrnsteinUhlenbeck(dim)
    lad = SyntheticLadder(gamma=3.0, levels=10, eps1=0.7, seed=dim)
    rng = np.random.default_rng(dim)
    x = rng.normal(scale=3.0, size=(5000, dim))
    t = rng.uniform(0, 1, 5000)
    f = evaluate_level(p, None, 0, t, x)
    for l in range(1, lad.levels + 1):
        err = np.linalg.norm(evaluate_level(p, lad, l, t, x) - f, axis=1)
        # the bound |u_l| <= 1 is exact; 1e-12 allows round-off of f + eps u - f
        assert err.max() <= lad.eps[l] * (1 + 1e-12) + 1e-12
        assert err.max() > 0.2 * lad.eps[l]  # and the perturbation is not negligible


def test_declared_errors_and_costs():
    lad = SyntheticLadder(gamma=2.5, levels=6, eps1=0.5, cost1=3.0)
    l = np.arange(1, 7)
    np.testing.assert_allclose(lad.eps[1:], 0.5 * 2.0 ** -(l - 1), rtol=1e-15)
    np.testing.assert_allclose(lad.cost[1:], 3.0 * 2.0 ** (2.5 * (l - 1)), rtol=1e-15)
    # cost_l = cost1 (eps1 / eps_l)^gamma: the ladder's gamma, read back from its own facts
    slope = np.polyfit(np.log(lad.eps[1:]), np.log(lad.cost[1:]), 1)[0]
    assert slope == pytest.approx(-2.5, abs=1e-12)


def test_real_work_mode_changes_work_not_results(ou):
    counted = SyntheticLadder(gamma=2.5, levels=6, eps1=1.0)
    real = SyntheticLadder(gamma=2.5, levels=6, eps1=1.0, work_per_unit=2.0)
    np.testing.assert_array_equal(real.arrays(2)[-1], np.rint(2.0 * counted.cost).astype(int))
    p = np.full(7, 0.4)
    a = solve(ou, counted, "mlem", 6, 16, 20, 0, probs=p)
    b = solve(ou, real, "mlem", 6, 16, 20, 0, probs=p)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.cost, b.cost)


def test_levels_differ():
    from mlem_bench.problems import OrnsteinUhlenbeck
    p = OrnsteinUhlenbeck(2)
    lad = SyntheticLadder(gamma=2.5, levels=4, eps1=1.0)
    x = np.random.default_rng(0).normal(size=(100, 2))
    u = [(evaluate_level(p, lad, l, 0.3, x) - evaluate_level(p, None, 0, 0.3, x)) / lad.eps[l] for l in (1, 2, 3)]
    assert np.abs(u[0] - u[1]).max() > 0.05 and np.abs(u[1] - u[2]).max() > 0.05


def test_nested_ladder_bias_falls_monotonically_on_the_shipped_case():
    # the shipped nested twin of ou-2d-g2.5, replicates 0 and 1 (two draws of the shared field):
    # the pilot's terminal bias b_l decreases strictly at every level, and the level errors
    # stay within eps_l
    from helpers import SUITE
    from mlem_bench.sweep.spec import load_case
    from mlem_bench.sweep.tasks import replicate_case
    from mlem_bench.tuning.calibrate import calibrate
    case = load_case(SUITE / "ou-2d-g2.5-nested.toml")
    assert case.ladder.structure == "nested"
    for r in (0, 1):
        c = replicate_case(case, r)
        bias = calibrate(c.problem, c.ladder, c.sweep.seed, 200).bias[1:]
        assert np.all(np.diff(bias) < 0), bias
        # and geometrically: each level halves b_l (eps_l halves) up to the O(eps^2) nonlinearity
        np.testing.assert_allclose(bias[1:] / bias[:-1], 0.5, atol=0.1)
        rng = np.random.default_rng(r)
        x, t = rng.normal(scale=3.0, size=(2000, 2)), rng.uniform(0, 1, 2000)
        f = evaluate_level(c.problem, None, 0, t, x)
        for l in range(1, c.ladder.levels + 1):
            err = np.linalg.norm(evaluate_level(c.problem, c.ladder, l, t, x) - f, axis=1)
            assert err.max() <= c.ladder.eps[l] * (1 + 1e-12) + 1e-12


def test_nested_levels_share_one_field():
    lad = SyntheticLadder(gamma=2.5, levels=5, eps1=1.0, seed=4, structure="nested")
    ind = SyntheticLadder(gamma=2.5, levels=5, eps1=1.0, seed=4)
    a, b = lad.arrays(2), ind.arrays(2)
    for name in ("freq", "tfreq", "phase", "amp"):
        arr = getattr(a, name)
        assert all(np.array_equal(arr[l], getattr(b, name)[1]) for l in range(lad.levels + 1))
    with pytest.raises(ValueError, match=r"\[ladder\].structure"):
        SyntheticLadder(gamma=2.5, levels=5, eps1=1.0, structure="tree")
