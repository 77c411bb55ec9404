"""A three-level table with known answers: its EM and ML-EM configurations at one target,
derived by hand from the error budget (tuning/configure.py's docstring), the probabilities
by an independent constrained optimiser (scipy SLSQP) instead of the water-filling.
tests/analysis/test_predict_known.py checks `analysis.predict` against it and
tests/cli/test_predict.py `mlem-bench predict`."""
import math

import numpy as np
from scipy import optimize

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


def em_optimum(eps, min_steps=8):
    """The cheapest EM configuration over every level k and power-of-two step count n >= min_steps
    whose modelled error sqrt(b_k^2 + (c_h T / n)^2) is at most eps (enumerated, no tuner): the
    value of EM's predicted frontier at eps when the tuner finds the optimum. Returns (k, n, cost)."""
    best = None
    for k, r in enumerate(LEVELS, start=1):
        n = min_steps
        while math.hypot(r["error"], C_H * T / n) > eps and n < 2 ** 30:
            n *= 2
        if math.hypot(r["error"], C_H * T / n) <= eps and (best is None or n * r["cost"] < best[2]):
            best = (k, n, n * r["cost"])
    return best
