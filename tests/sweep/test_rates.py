"""Cost exponents and the ML-EM advantage, read over replicates, from the shipped OU cases
(their specs exactly as shipped: 8 replicates, each its own ladder draw, pilot and paths;
the baselines and the no-pilot ML-EM row are dropped, they make no rate claim here).

These targets (0.05 down to 7.8e-4) are pre-asymptotic: the exponents are compared with the
ideal-ladder model's over the same targets (the error model on an ideal geometric ladder,
finite level sums included), whose limit is the asymptotic theory
(tests/analysis/test_model_exponents.py); the asymptotic claim itself is tested over the smallest
decade of the asymptotic suite (tests/sweep/test_asymptotic.py). Tolerances, from the issue and
justified here: the median ML-EM cost exponent over the smaller half of each replicate's errors
lies within 0.25 of the model's (a quarter of the gap between the EM and ML-EM theories for
gamma > 2, so the test still tells them apart); the median speed-up exponent
d log S / d log(1/e) within 0.3 of the model's (it is the difference of two fitted exponents);
the median S(e) at the smallest grid error every replicate reaches exceeds 3 for gamma >= 2.5,
its bootstrap interval included.
The three cases are independent: each draws its own ladder fields and paths (seeds derived from
the case names).
Measured values: docs/method.md.
"""
import numpy as np
import pytest

from helpers import SUITE
from mlem_bench.analysis.curves import (curve_bands, exponent_table, speedup_curves, speedup_exponents,
                                        speedup_table)
from mlem_bench.analysis.predict import ideal_exponents
from mlem_bench.analysis.rates import fit_rates, fit_slope, frontier, pooled, predicted_points
from mlem_bench.sweep.driver import run_sweep
from mlem_bench.report.blocks import pilot_table
from mlem_bench.sweep.spec import load_doc, parse_case

pytestmark = pytest.mark.slow   # started first under xdist (conftest.SLOW_FIRST)

CASES = ["ou-2d-g1.5", "ou-2d-g2.5", "ou-2d-g3"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    cases = []
    for c in CASES:
        doc = load_doc(SUITE / f"{c}.toml")
        doc["sweep"]["baselines"] = []
        doc["sweep"]["methods"] = ["em", "mlem"]
        cases.append(parse_case(doc, c))
    tables = run_sweep(cases, tmp_path_factory.mktemp("rates") / "out", progress=False)
    results = tables["results"]
    points = pooled(results)
    windows = {c.name: c.sweep.fit_eps for c in cases}
    rates = fit_rates(points, windows)
    model_rates = fit_rates(predicted_points(points), windows)
    curves = speedup_curves(points)
    bands = curve_bands(curves, {c.name: c.sweep.replicates for c in cases})
    spx = speedup_exponents(curves)
    speedup = speedup_table(curves, bands, spx)
    return (results, points, exponent_table(points, rates, model_rates).set_index(["case", "method"]),
            speedup.set_index(["case", "method"]), pilot_table(tables["replicates"], speedup, curves).set_index("case"),
            tables["replicates"])


def test_every_replicate_ran(sweep):
    res = sweep[0]
    assert (res.groupby("case").replicate.nunique() == 8).all() and res.case.nunique() == 3


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


@pytest.fixture(scope="module")
def ideal():
    """{case: the ideal-ladder model's EM and ML-EM exponents at the case's targets, over all of
    them and over their smaller half} (`analysis.predict.ideal_exponents`: the pre-asymptotic
    theory over these targets; tests/analysis/test_model_exponents.py checks its limit)."""
    out = {}
    for c in CASES:
        doc = load_doc(SUITE / f"{c}.toml")
        eps = doc["sweep"]["eps"]
        x = ideal_exponents(doc["ladder"]["gamma"], eps, [(eps[0], eps[-1]), (eps[len(eps) // 2], eps[-1])])
        out[c] = {"all": x.iloc[0], "smaller": x.iloc[1]}
    return out


@pytest.mark.parametrize("case", CASES)
def test_mlem_exponent_over_the_smaller_errors_matches_the_ideal_ladder_model(sweep, ideal, case):
    # The fit over the smaller half of each replicate's errors against the ideal-ladder model's
    # exponent over the smaller half of the targets (within 0.25, as above). Not against the
    # asymptotic theory: these targets are pre-asymptotic (with this code's independent case
    # seeds, measured 2.05 / 2.65 / 3.26 against theory 1.75 / 2.5 / 3 and model 1.94 / 2.74 / 3.18).
    r = sweep[2].loc[(case, "mlem")]
    assert r.n == 8 and abs(r["median_small"] - ideal[case]["smaller"].mlem) <= 0.25, (r, ideal[case])


@pytest.mark.parametrize("case", CASES)
def test_median_speedup_exponent_matches_the_ideal_ladder_model(sweep, ideal, case):
    # d log S / d log(1/e) over the S(e) grid against the ideal-ladder model's EM exponent minus
    # its ML-EM exponent over the same targets (within 0.3, as above): measured 0.35 / 0.72 / 0.88,
    # model 0.51 / 0.71 / 0.77, asymptotic theory 0.75 / 1 / 1.
    s = sweep[3].loc[(case, "em")]
    model = ideal[case]["all"].em - ideal[case]["all"].mlem
    assert s.x_n == 8 and abs(s.x_median - model) <= 0.3, (s, ideal[case])


@pytest.mark.parametrize("case", ["ou-2d-g2.5", "ou-2d-g3"])
def test_median_speedup_at_the_smallest_common_error(sweep, case):
    # The median S(e) over the 8 replicates at the smallest grid error all reach: its 95%
    # bootstrap interval (analysis.curves.curve_bands, whose coverage
    # tests/analysis/test_curves.py checks on simulated experiments) lies above 3, not only the
    # median (measured on this code: 9.3 [6.4, 17.8] and 12.9 [9.1, 25.6]). No check that the
    # median lies inside its own interval: that holds by construction.
    s = sweep[3].loc[(case, "em")]
    assert np.isfinite(s.error) and s.s_lo > 3.0, s


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
    # The error model, fitted on an independent pilot, predicts each cell's measured error to
    # within what the two estimates' precisions allow. Per cell, log(predicted / measured) has
    # the measured RMS error's relative SE (error_se / error, from its path batches: 1-4% here)
    # and the prediction's: its constants carry the pilot's precision, at worst that of an RMS
    # over MIN_BIAS_PATHS = 32 paths (b_l of the adaptive pilot's top levels) or of a mean
    # square over MIN_PATH_STEPS = 64 path-steps (delta_l), about 9% for 2-D errors (a root
    # sum of squares of terms each within 9% is within 9%). The model's structural
    # approximations (sources added in quadrature, c_h measured on the pilot grid) get no
    # allowance: a model error beyond the pilot's noise fails. Tolerance: z at a family-wise
    # 1% over the cells (Bonferroni: 4.4 for 864 cells), i.e. predicted/measured within about
    # [0.67, 1.5] (measured on this code: 0.80-1.37, the old band was 0.4-2.5).
    import scipy.stats
    from mlem_bench.tuning.calibrate import MIN_BIAS_PATHS, MIN_PATH_STEPS
    res = sweep[0][sweep[0].method.isin(["em", "mlem"])]
    pilot_rse = max(0.5 / np.sqrt(MIN_BIAS_PATHS), 0.5 / np.sqrt(MIN_PATH_STEPS))
    z = scipy.stats.norm.isf(0.01 / (2 * len(res)))
    band = z * np.sqrt((res.error_se / res.error) ** 2 + pilot_rse ** 2)
    off = np.abs(np.log(res.pred_error / res.error)) > band
    assert not off.any(), res.loc[off, ["case", "replicate", "method", "knob", "eps_target", "pred_error", "error"]]


@pytest.mark.parametrize("case", ["ou-2d-g2.5", "ou-2d-g3"])
def test_speedup_survives_the_adaptive_pilot_charged(sweep, case):
    # The adaptive pilot's counted cost, charged to both methods and amortised over the
    # replicate's 500 paths, leaves the median S(e) at the smallest common error at least 0.8x
    # the uncharged one (gamma >= 2.5; the full pilot left 1.00-1.02x of 15-50x); and it costs
    # at most 5% of ML-EM's counted cost at the smallest target in every replicate. The nested
    # and mixture cases, and the comparison with the full pilot: test_pilot_sweeps.py.
    p = sweep[4].loc[case]
    assert p.pilot == "adaptive" and p.speedup_charged >= 0.8 * p.speedup, p
    reps = sweep[5][sweep[5].case == case]
    assert len(reps) == 8 and (reps.pilot_cost <= 0.05 * reps.mlem_smallest_cost).all(), reps
    # and ML-EM with its pilot beats EM without one after fewer samples than a replicate runs
    assert p.break_even < 500, p

