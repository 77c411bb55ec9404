"""Direct unit tests of the tuner: water-filled probabilities and the EM / ML-EM budgets,
on hand-made error models (no pilot run), so every expectation is known in closed form."""
import numpy as np
import pytest
from scipy import optimize

from mlem_bench.errors import TuningError
from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.tuning.calibrate import ErrorModel
from mlem_bench.tuning.configure import P_MIN, mlem_step_cost, tune_em, tune_mlem, waterfill
from mlem_bench.tuning.methods import ALL_METHODS


def model_for(ladder, c_h=1.0, c_v=1.0, T=1.0, min_steps=8):
    """An error model with bias b_l = eps_l / 4 and delta_l = eps_{l-1} (a gamma-ladder's shape)."""
    eps = ladder.eps
    bias = eps / 4
    delta = np.zeros_like(eps)
    delta[2:] = eps[1:-1]
    return ErrorModel(c_h, bias, c_v, delta, T, min_steps)


def variance(delta, p):
    return float(np.sum(delta ** 2 * (1 / p - 1)))


def test_waterfill_meets_the_budget_and_matches_a_numerical_optimum():
    delta = np.array([0.5, 0.25, 0.125, 0.0625])
    cost = np.array([3.0, 17.0, 96.0, 540.0])
    budget = 0.05
    p = waterfill(delta, cost, budget)
    assert np.all((p > 0) & (p <= 1))
    # the constraint is active (spending less variance would cost more)
    assert variance(delta, p) == pytest.approx(budget, rel=1e-9)
    # the optimum of sum p C subject to sum delta^2 (1/p - 1) <= budget, found numerically
    res = optimize.minimize(lambda q: q @ cost, x0=np.full(4, 0.9), method="SLSQP", bounds=[(1e-6, 1)] * 4,
                            constraints=[{"type": "ineq", "fun": lambda q: budget - variance(delta, q)}],
                            options={"ftol": 1e-12, "maxiter": 500})
    assert p @ cost <= res.fun * (1 + 1e-6)


def test_waterfill_saturates_levels_it_cannot_thin():
    # a tiny budget: every level is needed at every step (p = 1), no variance spent
    p = waterfill(np.array([1.0, 0.5]), np.array([1.0, 4.0]), 1e-12)
    assert np.all(p > 0.99)
    # unsaturated levels follow p_l proportional to delta_l / sqrt(C_l)
    delta, cost = np.array([0.1, 0.05, 0.025]), np.array([10.0, 60.0, 350.0])
    p = waterfill(delta, cost, 1.0)
    free = p < 1
    ratio = p[free] / (delta[free] / np.sqrt(cost[free]))
    assert np.allclose(ratio, ratio[0])


def test_waterfill_edge_cases():
    assert waterfill(np.array([]), np.array([]), 1.0).size == 0
    assert np.all(waterfill(np.array([0.0, 0.0]), np.array([1.0, 2.0]), 1.0) == P_MIN)
    assert np.all(waterfill(np.array([0.3]), np.array([1.0]), 0.0) == 1.0)


@pytest.mark.parametrize("eps", [0.1, 0.03, 0.01])
def test_tuned_configurations_predict_errors_within_target(eps):
    ladder = SyntheticLadder(gamma=2.5, levels=10, eps1=1.0)
    model = model_for(ladder)
    em = tune_em(model, ladder, eps)
    assert em.predicted_error <= eps * (1 + 1e-12)
    assert model.bias[em.level] <= np.sqrt(0.5) * eps and model.bias[em.level - 1] > np.sqrt(0.5) * eps
    ml = tune_mlem(model, ladder, eps)
    assert ml.predicted_error <= eps * (1 + 1e-9)
    assert ml.predicted_cost == pytest.approx(ml.n_steps * mlem_step_cost(ladder, ml.level, ml.probs))
    # ML-EM's bias budget is sqrt(1 - split) eps, as EM's: at equal split both pick the same level
    assert ml.level == em.level
    for split in (0.3, 0.7):
        assert tune_mlem(model, ladder, eps, split=split).level == tune_em(model, ladder, eps, split=split).level


def test_tune_mlem_keeps_the_cheapest_step_size():
    ladder = SyntheticLadder(gamma=3.0, levels=10, eps1=1.0)
    model = model_for(ladder)
    best = tune_mlem(model, ladder, 0.02, max_refine=6)
    for j in range(7):
        only = tune_mlem(model, ladder, 0.02, max_refine=j)
        assert best.predicted_cost <= only.predicted_cost * (1 + 1e-12)


def test_unreachable_target_is_a_tuning_error():
    ladder = SyntheticLadder(gamma=2.5, levels=3, eps1=1.0)
    with pytest.raises(TuningError, match="add levels or raise the smallest eps"):
        tune_em(model_for(ladder), ladder, 1e-3)


def test_methods_declare_their_theory_slopes():
    em, ml = ALL_METHODS["em"], ALL_METHODS["mlem"]
    assert em.theory_slope(2.5) == -3.5 and ml.theory_slope(2.5) == -2.5
    assert ml.theory_slope(1.5) == pytest.approx(-1.75)
    assert np.isnan(ALL_METHODS["stitch"].theory_slope(2.5))


def test_em_and_mlem_are_given_the_same_bias_split_grid():
    from types import SimpleNamespace
    ladder = SyntheticLadder(gamma=2.5, levels=8, eps1=1.0)
    model = model_for(ladder)
    sw = SimpleNamespace(em_splits=[0.3, 0.5, 0.7], var_shares=[0.25, 0.5], max_refine=3)
    em = ALL_METHODS["em"].configs(model, ladder, 0.05, sw)
    ml = ALL_METHODS["mlem"].configs(model, ladder, 0.05, sw)

    def splits(configs):
        return sorted({float(k.split()[0].removeprefix("split=")) for k, _ in configs})

    assert splits(em) == splits(ml) == sw.em_splits
    assert sorted({k.split()[1] for k, _ in ml}) == ["var_share=0.25", "var_share=0.5"]
    assert len(ml) == len(sw.em_splits) * len(sw.var_shares)
    # at equal split the level bias gets the same budget, hence the same top level
    em_level = {k: c.level for k, c in em}
    for k, c in ml:
        assert c.level == em_level[k.split()[0]]
        split, share = (float(v.split("=")[1]) for v in k.split())
        want = tune_mlem(model, ladder, 0.05, split=split, var_share=share, max_refine=3)
        assert (c.n_steps, c.predicted_cost) == (want.n_steps, want.predicted_cost)


def test_predict_uses_the_tuner_and_its_grid():
    from mlem_bench.analysis.predict import error_model, predict
    ladder = SyntheticLadder(gamma=2.5, levels=5, eps1=0.5)
    model = model_for(ladder, min_steps=16)
    rows = [{"cost": float(ladder.cost[l]), "error": float(model.bias[l]), "delta": float(model.delta[l])}
            for l in range(1, 6)]
    m2, lad2 = error_model(rows, T=1.0, c_h=1.0, min_steps=16)
    configs, curve = predict(m2, lad2, splits=(0.5,), var_shares=(0.5,), eps=[0.2, 0.1, 0.05])
    for _, r in configs.iterrows():
        want = (tune_em(model, ladder, r.eps_target) if r.method == "em"
                else tune_mlem(model, ladder, r.eps_target))
        assert (r.level, r.n_steps) == (want.level, want.n_steps)
        assert r.pred_cost == pytest.approx(want.predicted_cost, rel=1e-12)
    assert np.all(curve.speedup > 0) and list(curve.error) == sorted(curve.error, reverse=True)
