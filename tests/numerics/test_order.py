"""EM with the exact drift shows strong order 1 in the tested range (before any rate test)."""
import numpy as np
import pytest

from mlem_bench.numerics.solve import solve, strong_error

STEPS = [32, 64, 128, 256, 512, 1024]


@pytest.mark.parametrize("family", ["ou", "gmm-sde"])
def test_em_strong_order_one(family, ou, gmm):
    problem = ou if family == "ou" else gmm
    n_paths = 1000
    ref = problem.reference(0, n_paths, 16 * STEPS[-1])
    errs = np.array([strong_error(solve(problem, None, "em", 0, n, n_paths, 0).x, ref.x) for n in STEPS])
    assert ref.own_error < 0.1 * errs[-1, 0]
    order = np.polyfit(np.log(1.0 / np.array(STEPS)), np.log(errs[:, 0]), 1)[0]
    # additive noise: EM is strong order 1. Each error has a relative SE of ~2%
    # (errs[:, 1]), which moves a 6-point slope over a 32x range by ~0.02; 0.1 is the
    # tolerance for pre-asymptotic curvature.
    assert abs(order - 1.0) < 0.1, (order, errs)
