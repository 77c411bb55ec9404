"""`analysis.predict` against answers computed without it: a three-level table whose EM and
ML-EM configurations, probabilities, costs and speed-up at one target are derived by hand from
the error budget (tuning/configure.py's docstring) and the probabilities by an independent
constrained optimiser (scipy SLSQP) instead of the water-filling."""
import math

import numpy as np
import pytest
from scipy import optimize

from mlem_bench.analysis.predict import error_model, predict

LEVELS = [{"cost": 1.0, "error": 0.2, "delta": 0.0}, {"cost": 16.0, "error": 0.05, "delta": 0.04},
          {"cost": 256.0, "error": 0.004, "delta": 0.02}]
T, C_H, EPS = 1.0, 0.5, 0.01


def by_hand():
    """EM and ML-EM at EPS with split = var_share = 1/2, from the budget equations."""
    c = [0.0] + [r["cost"] for r in LEVELS]
    b = [0.0] + [r["error"] for r in LEVELS]
    # both methods: the cheapest level with b_k <= sqrt(1/2) eps (0.00707): level 3
    k = next(l for l in (1, 2, 3) if b[l] <= math.sqrt(0.5) * EPS)
    # EM: c_h T / n <= sqrt(1/2) eps, n a power of two >= 8
    n_em = 2 ** math.ceil(math.log2(C_H * T / (math.sqrt(0.5) * EPS)))
    em_cost = n_em * c[k]
    # ML-EM: c_h h <= eps / 2; randomisation budget per unit of c_v T h: (eps^2 / 4) / h
    n = 2 ** math.ceil(math.log2(C_H * T / (0.5 * EPS)))
    budget = (EPS ** 2 / 4) / (T / n)
    delta = np.array([LEVELS[1]["delta"], LEVELS[2]["delta"]])
    pair = np.array([c[2], c[3] + c[2]])          # f^1 is evaluated every step: pair 2 costs c_2
    res = optimize.minimize(lambda p: p @ pair, x0=[0.5, 0.5], method="SLSQP", bounds=[(1e-9, 1)] * 2,
                            constraints=[{"type": "ineq", "fun": lambda p: budget - np.sum(delta ** 2 * (1 / p - 1))}],
                            options={"ftol": 1e-14, "maxiter": 500})
    p2, p3 = res.x
    step = c[1] + c[2] * (1 - (1 - p2) * (1 - p3)) + c[3] * p3
    return {"level": k, "n_em": n_em, "em_cost": em_cost, "n": n, "p": (p2, p3), "mlem_cost": n * step}


@pytest.fixture(scope="module")
def predicted():
    model, ladder = error_model(LEVELS, T=T, c_h=C_H)
    # max_refine 0: the hand derivation takes the largest step the budget allows
    return predict(model, ladder, splits=(0.5,), var_shares=(0.5,), max_refine=0, eps=[EPS])


def test_configurations_and_probabilities_match_the_hand_derivation(predicted):
    configs, _ = predicted
    want = by_hand()
    em = configs[configs.method == "em"].iloc[0]
    ml = configs[configs.method == "mlem"].iloc[0]
    assert em.level == ml.level == want["level"] == 3
    assert em.n_steps == want["n_em"] and em.pred_cost == pytest.approx(want["em_cost"], rel=1e-12)
    assert ml.n_steps == want["n"]
    assert ml.probs[1:] == pytest.approx(want["p"], rel=1e-4)       # SLSQP's own tolerance
    assert 0 < ml.probs[2] < ml.probs[1] < 1                          # neither saturated: a real trade
    assert ml.pred_cost == pytest.approx(want["mlem_cost"], rel=1e-4)


def test_predicted_speedup_is_the_cost_ratio(predicted):
    configs, curve = predicted
    want = by_hand()
    assert len(curve) == 1 and curve.error.iloc[0] == EPS
    assert curve.speedup.iloc[0] == pytest.approx(want["em_cost"] / want["mlem_cost"], rel=1e-4)
    assert curve.speedup.iloc[0] > 1
