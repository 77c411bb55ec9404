"""Speed-up curves and the replicated summaries, on planted inputs with known answers."""
import numpy as np
import pandas as pd
import pytest

from mlem_bench.analysis.curves import (BOOT_LEVEL, cheapest_cost, error_grid, log_slope, median_interval, regularity,
                                        speedup_curve, speedup_curves, speedup_exponents, theory_speedup_exponent)


def test_cheapest_cost_is_a_step_function():
    # three configurations; the middle one is dominated (costlier and less accurate than the last)
    err, cost = np.array([0.1, 0.05, 0.02]), np.array([10.0, 500.0, 100.0])
    got = cheapest_cost(err, cost, [0.2, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01])
    np.testing.assert_array_equal(got[:6], [10.0, 10.0, 100.0, 100.0, 100.0, 100.0])
    assert np.isnan(got[6])            # no configuration reaches 0.01: no value, no extrapolation


def test_grid_is_fixed_and_geometric():
    g = error_grid(0.0011, 0.05)
    np.testing.assert_allclose(g, 10.0 ** (np.arange(-11, -24, -1) / 8))
    assert g[0] <= 0.05 and g[-1] >= 0.0011
    # the same points whatever the range: replicates and cases share them
    assert set(np.round(error_grid(0.002, 0.01), 12)) <= set(np.round(g, 12))
    assert error_grid(0.1, 0.01).size == 0


def test_planted_step_frontiers_give_the_exact_speedup():
    # EM: cost 10^k reaches error 10^-(k/2); ML-EM: cost 10^(k/2) reaches the same errors.
    k = np.arange(2, 9)
    err = 10.0 ** (-k / 2)
    em_cost, ml_cost = 10.0 ** k, 10.0 ** (k / 2)
    grid, ca, cb, s = speedup_curve(err, em_cost, err * 1.01, ml_cost, per_decade=4)
    # at every grid error e the cheapest configuration with error <= e is the one with the
    # smallest k such that 10^(-k/2) (x 1.01 for ML-EM) <= e: compute it by brute force
    for e, a, b, v in zip(grid, ca, cb, s):
        ka = k[err <= e].min()
        kb = k[err * 1.01 <= e].min()
        assert a == em_cost[k == ka][0] and b == ml_cost[k == kb][0] and v == a / b
    # the grid stays inside what both reach: from max of the minima to min of the maxima
    assert grid.min() >= (err * 1.01).min() and grid.max() <= err.max()


def test_no_speedup_where_one_method_does_not_reach():
    # a baseline with a floor at 0.01 (a plateau) and ML-EM reaching 1e-4: the curve stops at the floor
    base_err, base_cost = np.array([0.1, 0.03, 0.0101, 0.0100]), np.array([1.0, 10.0, 100.0, 1e4])
    ml_err, ml_cost = np.array([0.1, 0.01, 0.001, 0.0001]), np.array([1.0, 5.0, 50.0, 500.0])
    grid, _, _, s = speedup_curve(base_err, base_cost, ml_err, ml_cost)
    assert grid.min() >= 0.01 and np.all(np.isfinite(s))
    points = pd.DataFrame({"case": "c", "replicate": 0, "gamma": 2.5,
                           "method": ["stitch"] * 4 + ["mlem"] * 4, "error": np.r_[base_err, ml_err],
                           "cost": np.r_[base_cost, ml_cost]})
    curves = speedup_curves(points)
    assert len(curves) == len(grid) and (curves.error >= 0.01).all()
    # a method whose range does not meet ML-EM's has no curve at all
    far = points.assign(error=np.r_[base_err * 1e3, ml_err])
    assert speedup_curves(far).empty and list(speedup_curves(far).columns) == list(curves.columns)


def test_speedup_exponent_of_planted_power_laws():
    # S(e) = 3 e^-0.8 exactly on every grid point: the fitted exponent is 0.8
    e = 10.0 ** -np.linspace(1, 3, 9)
    rows = pd.DataFrame({"case": "c", "replicate": 0, "gamma": 2.5, "method": "em", "error": e,
                         "cost_other": 3 * e ** -0.8 * e ** -2.5, "cost_mlem": e ** -2.5,
                         "speedup": 3 * e ** -0.8})
    x = speedup_exponents(rows).iloc[0]
    assert x.exponent == pytest.approx(0.8, abs=1e-12)
    assert x.exponent_large == pytest.approx(0.8, abs=1e-12) and x.exponent_small == pytest.approx(0.8, abs=1e-12)
    assert theory_speedup_exponent("em", 2.5) == pytest.approx(1.0)
    assert theory_speedup_exponent("em", 1.5) == pytest.approx(0.75)
    assert theory_speedup_exponent("em", 2.0) == pytest.approx(1.0)


def test_bootstrap_interval_of_the_median_covers():
    # Nominal level BOOT_LEVEL (95%); 400 simulated experiments of 8 replicates each (the
    # shipped R) from a skewed planted law (lognormal, true median 1). The interval must
    # cover the true median in at least 90% of them. With 400 experiments the standard
    # error of a coverage near 0.93 is 0.013, so 0.90 is 2.3 standard errors below it.
    rng = np.random.default_rng(2026)
    n_sim, n = 400, 8
    hits = 0
    for j in range(n_sim):
        x = rng.lognormal(0.0, 0.7, n)
        _, lo, hi = median_interval(x, seed=j)
        hits += lo <= 1.0 <= hi
    assert BOOT_LEVEL == 0.95
    assert hits / n_sim >= 0.90, hits / n_sim


def test_regularity_counts_levels_out_of_order():
    levels = pd.DataFrame({"case": "c", "replicate": 0, "level": [1, 2, 3, 4, 5],
                           "bias": [0.4, 0.2, 0.25, 0.1, 0.12]})
    r = regularity(levels).iloc[0]
    assert r.out_of_order == 2 and r.max_ratio == pytest.approx(1.25)


def test_speedup_curves_table_columns_and_values():
    # the planted plateau of test_no_speedup_where_one_method_does_not_reach, on a grid of 4 per decade:
    # grid errors 10^-1, 10^-1.25, ..., 10^-2; S = cheapest stitch cost / cheapest ML-EM cost
    base_err, base_cost = np.array([0.1, 0.03, 0.0101, 0.0100]), np.array([1.0, 10.0, 100.0, 1e4])
    ml_err, ml_cost = np.array([0.1, 0.01, 0.001, 0.0001]), np.array([1.0, 5.0, 50.0, 500.0])
    points = pd.DataFrame({"case": "c", "replicate": 3, "gamma": 2.5, "method": ["stitch"] * 4 + ["mlem"] * 4,
                           "error": np.r_[base_err, ml_err], "cost": np.r_[base_cost, ml_cost]})
    got = speedup_curves(points, per_decade=4)
    e = 10.0 ** -np.array([1.0, 1.25, 1.5, 1.75, 2.0])
    other = np.array([1.0, 10.0, 10.0, 100.0, 1e4])      # 0.0562 and 0.0316 >= 0.03; 0.0178 >= 0.0101
    mine = np.array([1.0, 5.0, 5.0, 5.0, 5.0])
    want = pd.DataFrame({"case": "c", "replicate": 3, "gamma": 2.5, "method": "stitch", "error": e,
                         "cost_other": other, "cost_mlem": mine, "speedup": other / mine})
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def test_curve_table_reads_the_given_grid():
    from mlem_bench.analysis.curves import CURVE_COLUMNS, curve_table
    err, em_cost, ml_cost = np.array([0.1, 0.01]), np.array([10.0, 1000.0]), np.array([5.0, 50.0])
    t = curve_table(err, em_cost, err, ml_cost, grid=[0.5, 0.05])
    assert list(t.columns) == CURVE_COLUMNS == ["error", "cost_em", "cost_mlem", "speedup"]
    np.testing.assert_array_equal(t.to_numpy(), [[0.5, 10.0, 5.0, 2.0], [0.05, 1000.0, 50.0, 20.0]])


def test_grid_ends_and_empty_inputs():
    # a range whose ends lie on grid points keeps both ends; a single point is a grid of one
    np.testing.assert_allclose(error_grid(0.1, 1.0, per_decade=4), 10.0 ** -np.arange(0, 1.01, 0.25))
    np.testing.assert_allclose(error_grid(0.1, 0.1), [0.1])
    assert error_grid(np.nan, 0.1).size == 0 and error_grid(0.1, np.inf).size == 0
    empty = speedup_curve([], [], [0.1], [1.0])
    assert len(empty) == 4 and all(a.size == 0 for a in empty)
    assert all(a.size == 0 for a in speedup_curve([0.1], [1.0], [], []))
    grid, ca, cb, s = speedup_curve([0.1], [4.0], [0.1, 0.01], [1.0, 9.0])
    np.testing.assert_array_equal(np.c_[grid, ca, cb, s], [[0.1, 4.0, 1.0, 4.0]])
    # a baseline has no theory exponent, so no theory speed-up exponent
    assert np.isnan(theory_speedup_exponent("stitch", 2.5))


def test_speedup_exponents_table_on_two_slopes():
    # S = e^-1 on the five larger grid errors, e^-2 (continued) on the five smaller: the halves
    # recover 1 and 2, the whole fit is the least-squares slope of the ten points
    e = 10.0 ** -np.linspace(1, 3, 9)
    s = np.where(e >= e[4], e ** -1.0, e[4] ** -1.0 * (e / e[4]) ** -2.0)
    rows = pd.DataFrame({"case": "c", "replicate": [1] * 9, "gamma": 1.5, "method": "em", "error": e[::-1],
                         "cost_other": 0.0, "cost_mlem": 0.0, "speedup": s[::-1]})      # increasing errors
    got = speedup_exponents(rows)
    want = pd.DataFrame({"case": ["c"], "replicate": [1], "method": ["em"], "gamma": [1.5],
                         "exponent": [np.polyfit(np.log(1 / e), np.log(s), 1)[0]], "exponent_large": [1.0],
                         "exponent_small": [2.0], "n_points": [9], "theory": [0.75]})
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)


def test_median_interval_is_scipys_percentile_bootstrap():
    from scipy import stats
    v = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    for level, seed in [(0.95, 12345), (0.5, 7)]:
        ci = stats.bootstrap((v,), np.median, confidence_level=level, n_resamples=2000, method="percentile",
                             random_state=np.random.default_rng(seed)).confidence_interval
        assert median_interval(np.r_[v, np.nan], level=level, seed=seed) == (2.8, ci.low, ci.high)
    assert median_interval(v) == median_interval(v, level=0.95, seed=12345)
    # on 200 values the interval's ends depend on the resamples: the seeded 2000 of BOOT_SEED
    w = np.random.default_rng(8).lognormal(size=200)
    ci = stats.bootstrap((w,), np.median, confidence_level=0.95, n_resamples=2000, method="percentile",
                         random_state=np.random.default_rng(12345)).confidence_interval
    assert median_interval(w)[1:] == (ci.low, ci.high)
    # one value, or all equal: the median and no interval; three distinct values: an interval
    for x, med in [([5.0], 5.0), ([2.0, 2.0, 2.0, 2.0], 2.0)]:
        m, lo, hi = median_interval(x)
        assert m == med and np.isnan(lo) and np.isnan(hi)
    assert np.all(np.isnan(median_interval([np.nan, np.inf])))
    assert np.isfinite(median_interval([1.0, 2.0, 3.0])[1])


def test_log_slope_uses_only_positive_finite_points():
    # y = 2 x^1.5 on x = 0.25, 0.5, 4 (x < 1 included); the others are dropped
    x = np.array([0.25, 0.5, 4.0, -1.0, 2.0, np.inf, 3.0])
    y = np.r_[2 * x[:3] ** 1.5, 5.0, 0.0, 1.0, np.nan]
    assert log_slope(x, y) == pytest.approx(1.5, abs=1e-12)
    assert np.isnan(log_slope(x[:2], y[:2]))


def test_regularity_table():
    # replicate 1 listed first and out of level order; an equal neighbour counts as out of order
    levels = pd.DataFrame({"case": "c", "replicate": [1, 1, 1, 0, 0, 0],
                           "level": [3, 1, 2, 1, 2, 3], "bias": [0.2, 0.8, 0.2, 0.5, 0.25, 0.1]})
    want = pd.DataFrame({"case": ["c", "c"], "replicate": [1, 0], "max_ratio": [1.0, 0.5], "out_of_order": [1, 0],
                         "levels": [3, 3]})
    pd.testing.assert_frame_equal(regularity(levels), want)
    # a table without replicates is replicate 0; one level has no ratio
    one = regularity(pd.DataFrame({"case": ["d"], "level": [1], "bias": [0.3]}))
    assert one.replicate.tolist() == [0] and np.isnan(one.max_ratio.iloc[0]) and one.levels.tolist() == [1]
    assert list(regularity(levels.iloc[:0]).columns) == list(want.columns)
