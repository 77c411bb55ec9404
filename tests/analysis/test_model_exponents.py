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

Far from the coarsest level, over each three-decade window from [2e-6, 2e-3] down to
[2e-9, 2e-6], the exponents lie within what the model itself leaves over a finite window:
* the tuner's integer steps (powers of two) and levels make log cost a monotone staircase
  that repeats with each halving of the target (the ladder halves b_l and delta_l per level):
  period P = ln 2 in log(1/e), rising by s P per period at rate s. Its residual from the trend
  spans at most 2 s P, so its covariance with log e within a period is at most
  (2 s P / 2) E|u - mean u| = s P^2 / 4; over whole periods (three decades are 9.97 halvings)
  the least-squares slope over a window of width W = ln(hi / lo) (variance W^2 / 12) moves by
  at most 3 s P^2 / W^2: 0.05-0.15 for three decades (a single decade would allow 0.45-1.4);
* ML-EM's level sum sum_(l <= k) sqrt(delta_l^2 c_l) ~ sum r^l, r = 2^(gamma/2 - 1), is
  truncated at the top level k the tuner uses at the window's largest target: its relative
  distance 1 - q from the limiting form, q = r^-(k-1) (gamma > 2) or r^(k-1) (gamma < 2), bends
  the fit of log cost (twice log S_k) by at most 2 ln(1 / (1 - q)) / W (the secant; the
  least-squares slope weights the window's ends less). A leading-order term: levels whose
  p_l = 1 are left out of it.
The excess over the first decade must exceed 0.25, the cost-exponent tolerance of the rate tests.
"""
import numpy as np
import pytest

from mlem_bench.analysis.predict import error_model, geometric_levels, predict, window_exponents
from mlem_bench.tuning.methods import ALL_METHODS

DECADES = [(2 * 10.0 ** -k, 2 * 10.0 ** -(k + 1)) for k in range(1, 9)]
FIRST = DECADES[0]
FAR = [(2 * 10.0 ** -k, 2 * 10.0 ** -(k + 3)) for k in range(3, 7)]      # three decades each


@pytest.fixture(scope="module", params=[1.5, 2.5, 3.0, 4.0])
def predicted(request):
    gamma = request.param
    model, ladder = error_model(geometric_levels(gamma, 40), T=1.0, c_h=1.0)
    configs, _ = predict(model, ladder, splits=(0.5,), var_shares=(0.5,), eps=np.geomspace(0.2, 2e-9, 81))
    return gamma, configs


@pytest.fixture(scope="module")
def exponents(predicted):
    gamma, configs = predicted
    return gamma, window_exponents(configs, DECADES).set_index("eps_hi")


@pytest.mark.parametrize("window", FAR, ids=[f"{hi:g}-{lo:g}" for hi, lo in FAR])
def test_far_from_the_coarsest_level_the_model_reaches_the_asymptotic_rates(predicted, window):
    # tolerances from the module docstring: the staircase of integer steps and levels, and for
    # ML-EM the truncation of its level sum at the top level it uses at the window's largest target
    gamma, configs = predicted
    hi, lo = window
    x = window_exponents(configs, [window]).iloc[0]
    width, period = np.log(hi / lo), np.log(2.0)
    for method in ("em", "mlem"):
        rate = -ALL_METHODS[method].theory_slope(gamma)
        tol = 3 * rate * period ** 2 / width ** 2
        if method == "mlem":
            ml = configs[configs.method == "mlem"]
            k = ml.loc[(ml.eps_target - hi).abs().idxmin()].level
            r = 2.0 ** (gamma / 2 - 1)
            q = r ** -(k - 1) if r > 1 else r ** (k - 1)
            tol += 2 * np.log(1 / (1 - q)) / width
        assert abs(x[method] - rate) <= tol, (method, x[method], rate, tol)


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
