"""The error model's own cost exponents on an ideal geometric ladder (b_l, delta_l halve per
level, c_l grows by 2^gamma): no simulation, the tuner's predicted (error, cost) only.

Two facts the rate claims rest on. Far from the coarsest level the predicted ML-EM exponent
approaches the asymptotic theory max(gamma, 1 + gamma/2) and EM's is gamma + 1. Over the first
decade of errors below the coarsest level (where the shipped suite measures) ML-EM's predicted
exponent is steeper than theory: the level sum sum_l sqrt(V_l C_l) grows by 2^(gamma/2 - 1)
per level, a ratio close to 1 near gamma = 2, so its truncation still matters there.
Values (0.5 / 0.5 knobs, 24 levels): ML-EM 2.93, 3.41, 2.08 over [2e-2, 2e-1] and 2.62, 3.08,
1.84 over [2e-6, 2e-5] for gamma 2.5, 3, 1.5. Tolerances: 0.15 for the far decade (the
tuner's integer steps and levels bend a finite fit by about that much), and the excess over
the first decade is asserted to exceed 0.25, the cost-exponent tolerance of the rate tests.
"""
import numpy as np
import pytest

from mlem_bench.analysis.predict import error_model, geometric_levels, predict, window_exponents
from mlem_bench.tuning.methods import ALL_METHODS

FIRST, FAR = (0.2, 0.02), (2e-5, 2e-6)


@pytest.fixture(scope="module", params=[1.5, 2.5, 3.0])
def exponents(request):
    gamma = request.param
    model, ladder = error_model(geometric_levels(gamma, 24), T=1.0, c_h=1.0)
    configs, _ = predict(model, ladder, splits=(0.5,), var_shares=(0.5,), eps=np.geomspace(0.2, 2e-6, 26))
    return gamma, window_exponents(configs, [FIRST, FAR]).set_index("eps_hi")


def test_far_from_the_coarsest_level_the_model_reaches_the_asymptotic_rates(exponents):
    gamma, x = exponents
    far = x.loc[FAR[0]]
    assert abs(far.em + ALL_METHODS["em"].theory_slope(gamma)) <= 0.15, far
    assert abs(far.mlem + ALL_METHODS["mlem"].theory_slope(gamma)) <= 0.15, far


def test_over_the_first_decade_mlem_is_steeper_than_its_asymptotic_rate(exponents):
    gamma, x = exponents
    first = x.loc[FIRST[0]]
    assert first.mlem + ALL_METHODS["mlem"].theory_slope(gamma) > 0.25, first
    # EM has no level sum: its first-decade exponent is already gamma + 1
    assert abs(first.em + ALL_METHODS["em"].theory_slope(gamma)) <= 0.15, first
