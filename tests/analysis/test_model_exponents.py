"""The error model's own cost exponents on an ideal geometric ladder (b_l, delta_l halve per
level, c_l grows by 2^gamma): no simulation, the tuner's predicted (error, cost) only.

Two facts the rate claims rest on. As the range of errors grows, the predicted ML-EM local
exponent (one decade of target error at a time) tends to the asymptotic theory
max(gamma, 1 + gamma/2), and EM's is gamma + 1 throughout. Over the first decade below the
coarsest level ML-EM's predicted exponent is steeper than theory: the level sum
sum_l sqrt(V_l C_l) grows by 2^(gamma/2 - 1) per level, a ratio close to 1 near gamma = 2, so
its truncation still matters there.

Local exponents per decade from 2e-1 down to 2e-9 (40 levels, 0.5 / 0.5 knobs):
gamma 1.5: 2.11 1.97 1.90 1.82 1.81 1.79 1.75 1.77;  2.5: 2.93 2.77 2.67 2.61 2.59 2.54 2.53 2.54;
gamma 3:   3.39 3.21 3.10 3.08 3.05 3.00 3.02 3.02;  4:   4.34 4.14 4.03 4.07 4.02 3.97 4.04 4.01.
With the former probability floor P_MIN = 1e-6 the last two decades rose to 3.0-3.4 (gamma 2.5)
and 3.7-3.9 (gamma 3): the floor made the top levels cost more than they pay.

Tolerances: 0.1 over the decade [2e-8, 2e-7] (the tuner's integer steps and levels move a
decade's fit by up to 0.07 here), and the excess over the first decade must exceed 0.25, the
cost-exponent tolerance of the rate tests.
"""
import numpy as np
import pytest

from mlem_bench.analysis.predict import error_model, geometric_levels, predict, window_exponents
from mlem_bench.tuning.methods import ALL_METHODS

DECADES = [(2 * 10.0 ** -k, 2 * 10.0 ** -(k + 1)) for k in range(1, 9)]
FIRST, FAR = DECADES[0], DECADES[6]


@pytest.fixture(scope="module", params=[1.5, 2.5, 3.0, 4.0])
def exponents(request):
    gamma = request.param
    model, ladder = error_model(geometric_levels(gamma, 40), T=1.0, c_h=1.0)
    configs, _ = predict(model, ladder, splits=(0.5,), var_shares=(0.5,), eps=np.geomspace(0.2, 2e-9, 81))
    return gamma, window_exponents(configs, DECADES).set_index("eps_hi")


def test_far_from_the_coarsest_level_the_model_reaches_the_asymptotic_rates(exponents):
    gamma, x = exponents
    far = x.loc[FAR[0]]
    assert abs(far.em + ALL_METHODS["em"].theory_slope(gamma)) <= 0.1, far
    assert abs(far.mlem + ALL_METHODS["mlem"].theory_slope(gamma)) <= 0.1, far


def test_the_model_excess_over_theory_shrinks_with_the_range(exponents):
    # the local exponent tends to theory: the last three decades are each closer to it than
    # the first two (no upturn at small errors, where a probability floor would show)
    gamma, x = exponents
    excess = (x.mlem + ALL_METHODS["mlem"].theory_slope(gamma)).abs().to_numpy()
    assert excess[-3:].max() < excess[:2].min(), excess


def test_over_the_first_decade_mlem_is_steeper_than_its_asymptotic_rate(exponents):
    gamma, x = exponents
    first = x.loc[FIRST[0]]
    assert first.mlem + ALL_METHODS["mlem"].theory_slope(gamma) > 0.25, first
    # EM has no level sum: its first-decade exponent is already gamma + 1
    assert abs(first.em + ALL_METHODS["em"].theory_slope(gamma)) <= 0.15, first
