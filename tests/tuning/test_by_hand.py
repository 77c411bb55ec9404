"""The tuner's small pieces against values computed by hand: dyadic step counts, budgets,
the fixed-level EM branch, the expected ML-EM step cost, pair costs, a one-level
water-filling, the pilot's grids, and the one-line errors of bad knobs. Pure Python."""
from types import SimpleNamespace

import numpy as np
import pytest

from mlem_bench.errors import TuningError
from mlem_bench.tuning.calibrate import ErrorModel, bias_grid, calibrate, pilot_steps
from mlem_bench.tuning.configure import (bias_budget, level_for, mlem_step_cost, pair_costs, pow2_at_least,
                                         steps_for, tune_em, tune_mlem, waterfill)

LADDER = SimpleNamespace(levels=3, cost=np.array([0.0, 1.0, 4.0, 16.0]))


def model(bias=(0.0, 0.3, 0.1, 0.02), c_h=1.0, T=1.0, min_steps=8):
    return ErrorModel(c_h, np.array(bias), 1.0, np.array([0.0, 0.0, 0.2, 0.05]), T, min_steps)


def test_dyadic_step_counts_and_budgets():
    assert [pow2_at_least(x) for x in (0.5, 1.0, 4.0, 4.000001, 5.0, 4 * (1 + 1e-14))] == [1, 1, 4, 8, 8, 4]
    assert bias_budget(0.1, 0.75) == pytest.approx(0.05)
    # c_h T / h_budget = 2 x 1 / 0.1 = 20 -> 32 steps; at least min_steps
    assert steps_for(model(c_h=2.0), 0.1) == 32 and steps_for(model(min_steps=64), 0.1) == 64
    assert level_for(model(), LADDER, 0.1, 0.2) == 2 and level_for(model(), LADDER, 0.3, 0.5) == 1
    with pytest.raises(TuningError, match="target eps=0.01 needs a drift bias <= 0.005 but the finest of the "
                                          "ladder's 3 levels has 0.02"):
        level_for(model(), LADDER, 0.005, 0.01)


def test_em_at_a_fixed_level_gives_the_step_what_the_bias_leaves():
    m = model(bias=(0.0, 0.3, 0.099, 0.02))
    # level 3: rest = 0.1^2 - 0.02^2 = 0.0096 > split eps^2 = 0.001, so h_budget = sqrt(0.0096): 16 steps
    c = tune_em(m, LADDER, 0.1, split=0.1, level=3)
    assert (c.level, c.n_steps, c.predicted_cost) == (3, 16, 16 * 16.0)
    assert c.predicted_error == pytest.approx(np.hypot(1 / 16, 0.02), rel=1e-12)
    # level 2: rest = 0.01 - 0.0098 < 0.001: the split's share, h_budget = sqrt(0.1) 0.1: 32 steps
    c = tune_em(m, LADDER, 0.1, split=0.1, level=2)
    assert (c.level, c.n_steps) == (2, 32) and np.all(c.probs == 1) and c.probs.size == 4


@pytest.mark.parametrize("kwargs,match", [({"split": 0.0}, "split must be in \\(0, 1\\) \\(got 0.0\\)"),
                                          ({"split": 1.0}, "split must be in \\(0, 1\\)"),
                                          ({"var_share": 1.0}, "var_share must be in \\(0, 1\\) \\(got 1.0\\)"),
                                          ({"var_share": 0.0}, "var_share must be in \\(0, 1\\)")])
def test_knobs_outside_their_range_are_one_line_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tune_mlem(model(), LADDER, 0.05, **kwargs)
    if "split" in kwargs:
        with pytest.raises(ValueError, match=match):
            tune_em(model(), LADDER, 0.05, **kwargs)


def test_mlem_step_cost_and_pair_costs_by_hand():
    # level 1 always (1); level 2 when B_2 or B_3 is drawn: 1 - 0.5 x 0.75 = 0.625 (x 4);
    # level 3 when B_3 is drawn (B_4 = 0): 0.25 (x 16)
    assert mlem_step_cost(LADDER, 3, [1.0, 1.0, 0.5, 0.25]) == pytest.approx(1 + 2.5 + 4)
    assert mlem_step_cost(LADDER, 2, [1.0, 1.0, 0.5, 0.25]) == pytest.approx(1 + 2)
    # C_2 = c_2 (f^1 is evaluated every step anyway), C_l = c_l + c_{l-1} above
    np.testing.assert_array_equal(pair_costs([0.0, 1.0, 4.0, 16.0, 64.0], 4), [4.0, 20.0, 80.0])


def test_waterfill_of_one_level_by_hand():
    # min p C subject to delta^2 (1/p - 1) <= budget: p = delta^2 / (budget + delta^2) = 0.25
    p = waterfill(np.array([0.5]), np.array([4.0]), 0.75)
    assert p == pytest.approx([0.25], rel=1e-12)


def test_tune_mlem_prediction_by_hand():
    # eps 0.05, split 1/2, var_share 1/2: level 3 (b_3 = 0.02 <= 0.0354), step budget 0.025: 64 steps
    # (max_refine 0); randomisation budget per c_v T h: 0.000625 / (1/64) = 0.04
    c = tune_mlem(model(), LADDER, 0.05, max_refine=0)
    p = waterfill(np.array([0.2, 0.05]), pair_costs(LADDER.cost, 3), 0.04)
    var = (1 / 64) * np.sum(np.array([0.2, 0.05]) ** 2 * (1 / p - 1))
    assert (c.level, c.n_steps) == (3, 64)
    np.testing.assert_allclose(c.probs, [1.0, 1.0, *p], rtol=1e-12)
    assert c.predicted_error == pytest.approx(np.sqrt((1 / 64) ** 2 + 0.02 ** 2 + var), rel=1e-12)
    assert c.predicted_cost == pytest.approx(64 * mlem_step_cost(LADDER, 3, c.probs), rel=1e-12)


def test_theory_model_level_one_and_its_pilot_record():
    from mlem_bench.tuning.calibrate import theory_model
    lad = SimpleNamespace(eps=np.array([0.0, 0.5, 0.25, 0.125]))
    m = theory_model(lad, 1.0, 8)
    # level 1 against the exact drift: its own eps; a theory model has no pilot cost
    assert m.delta[1] == 0.5 and m.delta[0] == 0.0 and m.bias[0] == 0.0
    assert m.pilot == {"kind": "theory", "cost": 0.0}


def test_pilot_grids_by_hand():
    assert pilot_steps(SimpleNamespace(min_steps=8)) == 64 and pilot_steps(SimpleNamespace(min_steps=32)) == 128
    # q = 1/4: the reduction sqrt(q) = 1/2 on paths (200) and steps (32)
    assert bias_grid(0.25, 400, 64, 8) == (200, 32)
    # a tiny fraction: the floors, 32 paths and min_steps
    assert bias_grid(1e-4, 400, 64, 8) == (32, 8)
    assert bias_grid(1.0, 400, 64, 8) == (400, 64)
    assert bias_grid(1e-4, 400, 64, 1) == (32, 1)        # r n_steps = 0.64: one step (min_steps 1)
    with pytest.raises(ValueError, match="pilot must be one of 'adaptive', 'full' \\(got 'fast'\\)"):
        calibrate(None, None, 0, pilot="fast")


def test_full_pilot_constants_are_the_documented_averages():
    # delta_l (l >= 1) is the RMS of f^l - f^{l-1} along exact-drift trajectories (all paths and steps):
    # here estimated independently on 1000 numpy EM paths of the same grid (other Brownian
    # increments). Their relative standard error is about 2% each, so 15% is over 5 SE.
    # c_v is the model's definition: the squared ML-EM-minus-EM distance (p_l = 1/2, same paths)
    # over T h sum_{l=2..k} delta_l^2 (1/p_l - 1), with k = min(L, 4).
    from mlem_bench.ladders.synthetic import SyntheticLadder
    from mlem_bench.numerics.solve import evaluate_level, solve, strong_error
    from mlem_bench.problems import OrnsteinUhlenbeck
    p, lad = OrnsteinUhlenbeck(2), SyntheticLadder(gamma=2.0, levels=5, eps1=1.0, seed=3)
    m = calibrate(p, lad, 0, 200)
    n1, s = m.pilot["n_steps"], m.pilot["seed"]
    rng = np.random.default_rng(9)
    h = p.T / n1
    x = p.initial_states(0, 1000)
    sq = np.zeros(lad.levels + 1)
    for i in range(n1):
        f = [evaluate_level(p, lad, l, i * h, x) for l in range(lad.levels + 1)]
        sq[1:] += [np.mean(np.sum((f[l] - f[l - 1]) ** 2, axis=1)) for l in range(1, lad.levels + 1)]
        x = x + h * f[0] + p.sigma * np.sqrt(h) * rng.standard_normal(x.shape)
    known = np.sqrt(sq[1:] / n1)          # delta_1 against the exact drift f^0
    assert np.all(np.abs(m.delta[1:] / known - 1) <= 0.15), m.delta[1:] / known
    assert m.delta[0] == 0.0 and m.bias[0] == 0.0
    em = solve(p, lad, "em", 4, n1, 200, s)
    ml = solve(p, lad, "mlem", 4, n1, 200, s, probs=np.full(6, 0.5))
    pred = p.T * h * np.sum(m.delta[2:5] ** 2 * (1 / 0.5 - 1))
    assert m.c_v == pytest.approx(strong_error(ml.x, em.x)[0] ** 2 / pred, rel=1e-12)
    # wall_s is a timing (a compile may fall inside it): only its presence and sign are checked
    assert m.pilot["reference"] == "exact" and m.pilot["fractions"] == [1.0] * 6 and m.pilot["wall_s"] > 0


def test_adaptive_climb_and_the_c_v_of_short_ladders():
    from mlem_bench.ladders.synthetic import SyntheticLadder
    from mlem_bench.numerics.solve import solve, strong_error
    from mlem_bench.problems import OrnsteinUhlenbeck
    p = OrnsteinUhlenbeck(2)
    # the adaptive pilot with no bias to stop at climbs every level (level 0 has no bias)
    a = calibrate(p, SyntheticLadder(gamma=2.0, levels=5, eps1=1.0, seed=3), 0, 200, pilot="adaptive", stop_bias=0.0)
    assert a.bias.size == 6 and a.bias[0] == 0.0 and np.all(np.isfinite(a.bias)) and a.pilot["measured_levels"] == 5
    # one level: no randomisation to model, c_v = 1; two levels: c_v from the pair on level 2
    assert calibrate(p, SyntheticLadder(gamma=2.0, levels=1, eps1=1.0, seed=3), 0, 100).c_v == 1.0
    lad = SyntheticLadder(gamma=2.0, levels=2, eps1=1.0, seed=3)
    m = calibrate(p, lad, 0, 100)
    n1, s = m.pilot["n_steps"], m.pilot["seed"]
    em = solve(p, lad, "em", 2, n1, 100, s)
    ml = solve(p, lad, "mlem", 2, n1, 100, s, probs=np.full(3, 0.5))
    assert m.c_v == pytest.approx(strong_error(ml.x, em.x)[0] ** 2 / (p.T * (p.T / n1) * m.delta[2] ** 2), rel=1e-12)


def test_the_horizon_enters_the_step_and_randomisation_budgets():
    # T = 2, c_h = 1, c_v = 1.5. EM at eps 0.1 (split 1/2): level 2, h budget 0.0707: c_h T / 0.0707 = 28.3 -> 32
    # steps, predicted error hypot(c_h T / 32, b_2)
    m = ErrorModel(1.0, np.array([0.0, 0.3, 0.06, 0.02]), 1.5, np.array([0.0, 0.0, 0.2, 0.05]), 2.0, 8)
    em = tune_em(m, LADDER, 0.1)
    assert (em.level, em.n_steps) == (2, 32)
    assert em.predicted_error == pytest.approx(np.hypot(2.0 / 32, 0.06), rel=1e-12)
    # ML-EM at eps 0.05: level 3; step budget 0.025: c_h T / 0.025 = 80 -> 128 steps, h = 1/64;
    # randomisation budget (eps^2 / 4) / (c_v T h) = 0.000625 / (1.5 x 2 / 64)
    ml = tune_mlem(m, LADDER, 0.05, max_refine=0)
    h = 2.0 / 128
    p = waterfill(np.array([0.2, 0.05]), pair_costs(LADDER.cost, 3), 0.000625 / (1.5 * 2.0 * h))
    var = 1.5 * 2.0 * h * np.sum(np.array([0.2, 0.05]) ** 2 * (1 / p - 1))
    assert (ml.level, ml.n_steps) == (3, 128)
    np.testing.assert_allclose(ml.probs[2:], p, rtol=1e-12)
    assert ml.predicted_error == pytest.approx(np.sqrt(h ** 2 + 0.02 ** 2 + var), rel=1e-12)
