"""Cost exponents and the ML-EM advantage, read over replicates, from the shipped OU cases
(their specs exactly as shipped: 8 replicates, each its own ladder draw, pilot and paths;
the baselines are dropped, they make no rate claim).

Tolerances, from the issue and justified here: the median ML-EM cost exponent over the
smaller half of each replicate's errors lies within 0.25 of theory (a quarter of the gap between the EM and ML-EM
theories for gamma > 2, so the test still tells them apart); the median speed-up exponent
d log S / d log(1/e) within 0.3 of theory (it is the difference of two fitted exponents);
the median S(e) at the smallest grid error every replicate reaches exceeds 3 for gamma >= 2.5.
The three cases are independent: each draws its own ladder fields and paths (seeds derived from
the case names).
Measured values: docs/method.md.
"""
import numpy as np
import pytest

from helpers import SUITE
from mlem_bench.analysis.curves import (curve_bands, exponent_table, speedup_curves, speedup_exponents,
                                        speedup_table)
from mlem_bench.analysis.rates import fit_rates, fit_slope, frontier, pooled, predicted_points
from mlem_bench.sweep.driver import run_sweep
from mlem_bench.sweep.spec import load_doc, parse_case

pytestmark = pytest.mark.slow   # started first under xdist (conftest.SLOW_FIRST)

CASES = ["ou-2d-g1.5", "ou-2d-g2.5", "ou-2d-g3"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    cases = []
    for c in CASES:
        doc = load_doc(SUITE / f"{c}.toml")
        doc["sweep"]["baselines"] = []
        cases.append(parse_case(doc, c))
    results = run_sweep(cases, tmp_path_factory.mktemp("rates") / "out", progress=False)["results"]
    points = pooled(results)
    windows = {c.name: c.sweep.fit_eps for c in cases}
    rates = fit_rates(points, windows)
    model_rates = fit_rates(predicted_points(points), windows)
    curves = speedup_curves(points)
    bands = curve_bands(curves, {c.name: c.sweep.replicates for c in cases})
    spx = speedup_exponents(curves)
    return (results, points, exponent_table(points, rates, model_rates).set_index(["case", "method"]),
            speedup_table(curves, bands, spx).set_index(["case", "method"]))


def test_every_replicate_ran(sweep):
    res = sweep[0]
    assert (res.groupby("case").replicate.nunique() == 8).all()


# No test here that the median ML-EM exponent over the shipped targets (0.05 down to 7.8e-4,
# under two decades below the coarsest level) matches the asymptotic theory: it does not, and
# the error model says why (tests/analysis/test_model_exponents.py: over the first decades the
# level sum is still growing towards its asymptotic form). The claim is tested where it
# applies, over the smallest decade of the asymptotic suite's targets: tests/sweep/test_asymptotic.py.


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["em", "mlem"])
def test_error_model_is_calibrated_over_the_same_targets(sweep, case, method):
    # A calibration check, not evidence about the rate: each replicate's measured exponent
    # against the exponent its own tuner's error model predicts for the same configurations
    # (pilot-fitted constants, finite level sums, integer steps). EM's measured cost equals its
    # predicted cost in every cell and ML-EM's matches it in expectation (the kernel's counted
    # cost is what `mlem_step_cost` models), so this checks that the measured/predicted error
    # ratio has no trend over the targets: within 0.25 in at least 7 of 8 replicates and in
    # the median.
    r = sweep[2].loc[(case, method)]
    assert r.model_n == 8 and r.model_within >= 7 and abs(r["median"] - r.model) <= 0.25, r


@pytest.mark.parametrize("case", CASES)
def test_mlem_exponent_over_the_smaller_errors_matches_theory(sweep, case):
    # the same fit over the smaller half of each replicate's errors, where the rate claim is
    # asymptotic: measured 1.97, 2.66, 3.01 against 1.75, 2.5, 3.0 (tolerance 0.25, as above)
    r = sweep[2].loc[(case, "mlem")]
    assert r.n == 8 and abs(r["median_small"] - r.theory) <= 0.25, r


@pytest.mark.parametrize("case", CASES)
def test_median_speedup_exponent_matches_theory(sweep, case):
    s = sweep[3].loc[(case, "em")]
    assert s.x_n == 8 and abs(s.x_median - s.x_theory) <= 0.3, s


@pytest.mark.parametrize("case", ["ou-2d-g2.5", "ou-2d-g3"])
def test_median_speedup_at_the_smallest_common_error(sweep, case):
    s = sweep[3].loc[(case, "em")]
    assert np.isfinite(s.error) and s.s_median > 3.0, s
    # (no check that the median lies inside its own bootstrap interval: that holds by construction)


@pytest.mark.parametrize("case", ["ou-2d-g2.5", "ou-2d-g3"])
def test_top_level_evaluations_stay_bounded(sweep, case):
    # EM evaluates its top level N ~ 1/error times per path (slope -1 against error);
    # for gamma > 2 ML-EM's count stays O(1) (slope 0). On each method's frontier of every
    # replicate: the median ML-EM slope is closer to 0 than to -1, and EM's is where it must be.
    points = sweep[1]
    slopes = {"em": [], "mlem": []}
    for (m, _), g in points[points.case == case].groupby(["method", "replicate"]):
        f = frontier(g)
        slopes[m].append(fit_slope(f.error, f.top_evals)[0])
    assert np.median(slopes["mlem"]) > -0.5 and np.median(slopes["em"]) < -0.8, slopes


def test_reference_is_negligible(sweep):
    results = sweep[0]
    # the reference's own error is < 10% of the smallest measured error (it adds in quadrature: < 0.5%)
    worst = (results.groupby("case").ref_error.max() / results.groupby("case").error.min()).max()
    assert worst < 0.1, worst


def test_tuner_predictions_are_honest(sweep):
    # The error model is fitted on an independent pilot; its predictions of the measured
    # error stay within a factor 2.5 for the tuned methods (EM's bias model is conservative).
    res = sweep[0][sweep[0].method.isin(["em", "mlem"])]
    ratio = res.pred_error / res.error
    assert np.all((ratio > 0.4) & (ratio < 2.5)), res.loc[~((ratio > 0.4) & (ratio < 2.5)),
                                                          ["case", "replicate", "method", "knob", "eps_target"]]
