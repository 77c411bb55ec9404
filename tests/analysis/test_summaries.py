"""The replicated summaries of `analysis.curves` and the rate fits of `analysis.rates`, on
small hand-made tables whose answers are computed by hand (or by numpy / scipy directly):
rate fits on exact power laws, halves and decade windows, distributions over replicates,
counts within a tolerance of theory. No simulation and no kernels: milliseconds each."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlem_bench.analysis.curves import (EXPONENT_TOL, SPEEDUP_EXPONENT_TOL, curve_bands, decades, distribution,
                                        exponent_table, half_slopes, local_exponent_table, local_exponents,
                                        median_interval, speedup_table, summarise, time_cost)
from mlem_bench.analysis.rates import fit_rates, fit_slope, predicted_points, relative_error_se

GAMMA = 2.5      # theory (tuning.methods): EM cost exponent 3.5, ML-EM 2.5, speed-up exponent 1


def power_law_points(slopes, n=7, case="c", method="em", scale=1.0):
    """One replicate per entry of `slopes`: configurations at target errors 10^-(1..3) with
    error = eps_target and cost = scale e^-slope (an exact power law: the fit is exact)."""
    eps = np.geomspace(0.1, 1e-3, n)
    rows = [{"case": case, "replicate": r, "family": "synthetic", "gamma": GAMMA, "method": method,
             "eps_target": e, "error": e, "cost": scale * e ** -s, "pred_error": e, "pred_cost": scale * e ** -s}
            for r, s in enumerate(slopes) for e in eps]
    return pd.DataFrame(rows)


def test_time_cost_is_the_evaluations_times_their_measured_times():
    # 2 x 10 + 1 x 100 + 0.5 x 1000 ns; times of levels above the run's top are not read
    assert time_cost([2.0, 1.0, 0.5], [10.0, 100.0, 1000.0, 7.0]) == 620.0


def test_decades_are_anchored_at_the_smallest_target():
    np.testing.assert_allclose(decades([0.1, 0.02, 0.01, 0.001]), [(0.01, 0.001), (0.1, 0.01)])
    # a window must lie within the targets: 0.05 does not reach 10 x 0.001 x 10
    np.testing.assert_allclose(decades([0.05, 0.001]), [(0.01, 0.001)])
    assert decades([0.05, 0.01]) == []


def test_distribution_of_values_over_replicates():
    d = distribution([4.0, 1.0, np.nan, 3.0, 2.0, np.inf])
    assert d["n"] == 4 and d["median"] == 2.5
    # numpy's linear quantiles of 1, 2, 3, 4: 1 + 0.3 and 1 + 2.7
    assert d["q10"] == pytest.approx(1.3) and d["q90"] == pytest.approx(3.7)
    assert (d["lo"], d["hi"]) == median_interval([1.0, 2.0, 3.0, 4.0])[1:]
    assert d["lo"] < d["hi"]
    empty = distribution([np.nan])
    assert empty["n"] == 0 and all(np.isnan(empty[k]) for k in ("median", "lo", "hi", "q10", "q90"))


def test_summarise_counts_replicates_within_the_tolerance_of_theory():
    d = summarise([1.0, 1.5, 1.75, 0.4, np.nan], theory=1.0, tol=0.5)
    # |v - 1| = 0, 0.5 (on the boundary: counted), 0.75, 0.6
    assert d["within"] == 2 and d["theory"] == 1.0 and d["tol"] == 0.5 and d["n"] == 4
    assert summarise([1.0, 2.0], theory=np.nan, tol=0.5)["within"] == 0


def test_half_slopes_fit_the_larger_and_the_smaller_errors_apart():
    # errors 10^-1..10^-6; cost slope -2 over the four larger errors, -3 over the three smaller
    k = np.arange(1, 7)
    cost = np.where(k <= 4, 10.0 ** (2 * k), 10.0 ** (8 + 3 * (k - 4)))
    rows = pd.DataFrame({"error": 10.0 ** -k, "cost": cost}).iloc[[3, 0, 5, 1, 4, 2]]   # any order
    big, small = half_slopes(rows)
    assert big == pytest.approx(2.0, abs=1e-12) and small == pytest.approx(3.0, abs=1e-12)


def test_fit_rates_on_exact_power_laws_and_windows():
    pts = pd.concat([power_law_points([3.0, 3.25]), power_law_points([2.0], method="mlem", scale=5.0)])
    r = fit_rates(pts).set_index(["replicate", "method"])
    assert r.loc[(0, "em"), "slope"] == pytest.approx(-3.0, abs=1e-12)
    assert r.loc[(1, "em"), "slope"] == pytest.approx(-3.25, abs=1e-12)
    assert r.loc[(0, "mlem"), "intercept"] == pytest.approx(np.log(5.0), abs=1e-12)
    assert r.loc[(0, "em"), "theory_slope"] == -3.5 and r.loc[(0, "mlem"), "theory_slope"] == -2.5
    # an exact fit has a zero-width interval
    assert r.loc[(0, "em"), "slope_lo"] == pytest.approx(-3.0, abs=1e-6) == r.loc[(0, "em"), "slope_hi"]
    assert r.loc[(0, "em"), "n_points"] == 7 and r.loc[(0, "em"), "family"] == "synthetic"
    assert r.loc[(0, "em"), "fit_eps_hi"] == pytest.approx(0.1) and r.loc[(0, "em"), "fit_eps_lo"] == pytest.approx(1e-3)
    # a window keeps the targets inside it, its ends included (targets 10^-1, 10^-1.33, ..., 10^-3)
    w = fit_rates(pts, {"c": (0.1, 0.01)}).iloc[0]
    assert w.n_points == 4 and w.fit_eps_hi == pytest.approx(0.1) and w.fit_eps_lo == pytest.approx(0.01)
    # three points spread by less than 2x in error (a plateau): no fit
    flat = power_law_points([3.0], n=3).assign(error=[0.011, 0.01, 0.0099 * 0.6])
    assert np.isnan(fit_rates(flat).slope.iloc[0])
    flat2 = power_law_points([3.0], n=3).assign(error=[0.02, 0.015, 0.01])     # exactly 2x: fitted
    assert np.isfinite(fit_rates(flat2).slope.iloc[0])
    assert np.isnan(fit_rates(power_law_points([3.0], n=2)).slope.iloc[0])     # fewer than 3 points


def test_fit_slope_interval_is_the_t_interval_of_least_squares():
    # by hand: se = sqrt(RSS / (n - 2) / Sxx), half-width t_{0.975, n - 2} se
    rng = np.random.default_rng(4)
    x = np.linspace(0, 3, 8)
    y = 1.0 - 2.0 * x + 0.1 * rng.standard_normal(8)
    slope, lo, hi, icpt = fit_slope(np.exp(x), np.exp(y))
    b = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    a = y.mean() - b * x.mean()
    se = np.sqrt(np.sum((y - a - b * x) ** 2) / 6 / np.sum((x - x.mean()) ** 2))
    half = stats.t.ppf(0.975, 6) * se
    assert (slope, icpt) == pytest.approx((b, a), rel=1e-12)
    assert (lo, hi) == pytest.approx((b - half, b + half), rel=1e-12)
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_slope([1.0, 2.0], [1.0, 2.0])


def test_relative_error_se_by_hand():
    # weights 1, 3; sq 1, 3: weighted mean 2.5, weighted variance (2.25 + 3 x 0.25) / 4 = 0.75,
    # se of the mean sqrt(0.75 / (2 - 1)); relative se of the RMS error = se / (2 x 2.5)
    row = pd.Series({"weights": [1.0, 3.0], "sq": [1.0, 3.0]})
    assert relative_error_se(row) == pytest.approx(np.sqrt(0.75) / 5, rel=1e-12)
    # one batch: no spread to measure
    assert relative_error_se(pd.Series({"weights": [2.0], "sq": [4.0]})) == 0.0


def test_curve_bands_over_replicates():
    # three replicates reach e = 0.1 (S = 2, 4, 8), two reach 0.01 (S = 10, 40)
    curves = pd.DataFrame({"case": "c", "gamma": GAMMA, "method": "em", "replicate": [0, 1, 2, 0, 1],
                           "error": [0.1, 0.1, 0.1, 0.01, 0.01], "speedup": [2.0, 4.0, 8.0, 10.0, 40.0]})
    b = curve_bands(curves, {"c": 3})
    assert list(b.error) == [0.1, 0.01] and list(b.n) == [3, 2] and list(b.all_reach) == [True, False]
    top, low = b.iloc[0], b.iloc[1]
    # the distribution of log S: median and linear quantiles of 1, 2, 3 (x log 2), back-transformed
    assert top["median"] == pytest.approx(4.0) and low["median"] == pytest.approx(20.0)
    assert top.q10 == pytest.approx(2 ** 1.2) and top.q90 == pytest.approx(2 ** 2.8)
    m, lo, hi = median_interval(np.log([2.0, 4.0, 8.0]))
    assert (top.lo, top.hi) == pytest.approx((np.exp(lo), np.exp(hi)))
    assert np.isnan(low.lo) and top.gamma == GAMMA


def test_speedup_table_reads_the_smallest_error_every_replicate_reaches():
    curves = pd.DataFrame({"case": "c", "gamma": GAMMA, "method": "em", "replicate": [0, 1, 2, 0, 1, 2, 0],
                           "error": [0.1] * 3 + [0.03] * 3 + [0.01],
                           "speedup": [2.0, 4.0, 8.0, 3.0, 6.0, 12.0, 50.0]})
    bands = curve_bands(curves, {"c": 3})
    spx = pd.DataFrame({"case": "c", "replicate": [0, 1, 2], "method": "em", "gamma": GAMMA,
                        "exponent": [0.75, 1.0, 1.4], "exponent_large": [np.nan, 1.0, 2.0],
                        "exponent_small": [0.5, 0.7, np.nan], "theory": 1.0})
    t = speedup_table(curves, bands, spx).iloc[0]
    # 0.01 is reached by one replicate only: S is read at 0.03 (median of 3, 6, 12)
    assert t.error == 0.03 and t.s_median == pytest.approx(6.0)
    assert t.s_q10 == pytest.approx(3 * 2 ** 0.2) and t.s_q90 == pytest.approx(3 * 2 ** 1.8)
    # |exponent - 1| = 0.25, 0, 0.4 against the tolerance 0.3
    assert SPEEDUP_EXPONENT_TOL == 0.3 and t.x_within == 2 and t.x_median == 1.0 and t.x_theory == 1.0
    assert t.x_median_large == 1.5 and t.x_median_small == pytest.approx(0.6)
    # no error every replicate reaches: no S row values, the exponents still summarised
    t2 = speedup_table(curves, curve_bands(curves, {"c": 4}), spx).iloc[0]
    assert np.isnan(t2.error) and np.isnan(t2.s_median) and t2.x_n == 3


def test_exponent_table_against_theory_and_the_model():
    # EM cost exponents 3.3, 3.5, 3.9 on three replicates (theory 3.5): within 0.25: two
    pts = pd.concat([power_law_points([3.3, 3.5, 3.9]), power_law_points([2.5, 2.5, 2.5], method="mlem")])
    # the tuner predicted exponents off by 0.1, 0.1 and 0.5 on the three EM replicates
    off = pts.replicate.map({0: 0.1, 1: 0.1, 2: 0.5}).where(pts.method == "em", 0.0)
    pts = pts.assign(pred_cost=pts.cost * pts.error ** -off)
    rates = fit_rates(pts)
    t = exponent_table(pts, rates, fit_rates(predicted_points(pts))).set_index("method")
    em = t.loc["em"]
    assert EXPONENT_TOL == 0.25 and em.theory == 3.5 and em.within == 2 and em.n == 3
    assert em["median"] == pytest.approx(3.5) and em.gamma == GAMMA
    # exact power laws: both halves give each replicate's own exponent, and no lack of fit
    assert em.median_large == pytest.approx(3.5) and em.median_small == pytest.approx(3.5)
    assert em.ols_halfwidth == pytest.approx(0.0, abs=1e-6)      # roundoff of an exact fit
    assert em.model == pytest.approx(3.6) and em.model_within == 2 and em.model_n == 3
    assert t.loc["mlem", "within"] == 3 and t.loc["mlem", "model_within"] == 3
    # without the model's rates the model columns are empty
    assert np.isnan(exponent_table(pts, rates).set_index("method").loc["em", "model"])


def test_local_exponents_per_decade():
    # targets 10^-(1..3); EM cost e^-3.5 everywhere; ML-EM e^-2 above 0.01 and e^-2.5 below
    eps = np.geomspace(0.1, 1e-3, 9)
    ml_cost = np.where(eps >= 0.01, eps ** -2.0, 0.01 ** -2.0 * (eps / 0.01) ** -2.5)
    pts = pd.DataFrame({"case": "c", "gamma": GAMMA, "replicate": 0, "method": ["em"] * 9 + ["mlem"] * 9,
                        "eps_target": np.r_[eps, eps], "error": np.r_[eps, eps], "cost": np.r_[eps ** -3.5, ml_cost]})
    x = local_exponents(pts).set_index(["quantity", "eps_hi"])
    assert len(x) == 6                                     # 2 decades x (em, mlem, speedup-em)
    assert x.loc[("em", 0.1), "exponent"] == pytest.approx(3.5) and x.loc[("em", 0.01), "exponent"] == pytest.approx(3.5)
    assert x.loc[("mlem", 0.1), "exponent"] == pytest.approx(2.0) and x.loc[("mlem", 0.01), "exponent"] == pytest.approx(2.5)
    assert x.loc[("speedup-em", 0.1), "exponent"] == pytest.approx(1.5)
    assert x.loc[("speedup-em", 0.01), "exponent"] == pytest.approx(1.0)
    assert x.loc[("em", 0.1), "theory"] == 3.5 and x.loc[("speedup-em", 0.1), "theory"] == 1.0
    assert x.loc[("speedup-em", 0.01), "eps_lo"] == pytest.approx(1e-3) and x.loc[("speedup-em", 0.1), "gamma"] == GAMMA
    assert x.loc[("mlem", 0.01), "eps_lo"] == pytest.approx(1e-3) and x.loc[("em", 0.1), "gamma"] == GAMMA
    # a decade with fewer than 3 configurations of a method has no exponent for it
    thin = pts[(pts.method == "em") | (pts.eps_target > 0.02) | (pts.eps_target < 0.002)]
    y = local_exponents(thin).set_index(["quantity", "eps_hi"])
    assert np.isnan(y.loc[("mlem", 0.01), "exponent"]) and np.isnan(y.loc[("speedup-em", 0.01), "exponent"])
    assert y.loc[("em", 0.01), "exponent"] == pytest.approx(3.5)


def test_local_exponent_table_summarises_over_replicates():
    local = pd.DataFrame({"case": "c", "replicate": [0, 1, 2], "gamma": GAMMA, "quantity": "mlem",
                          "eps_hi": 0.1, "eps_lo": 0.01, "exponent": [1.0, 4.0, 2.0], "theory": 2.5})
    t = local_exponent_table(local).iloc[0]
    assert (t.n, t["median"], t.theory, t.gamma, t.eps_hi, t.eps_lo) == (3, 2.0, 2.5, GAMMA, 0.1, 0.01)
    assert t.q10 == pytest.approx(1.2) and t.q90 == pytest.approx(3.6)


def test_ideal_local_exponents_are_the_tuner_on_the_geometric_ladder():
    # the definition (analysis.predict.ideal_exponents): the tuner's predictions on
    # geometric_levels(gamma, 40) with T = c_h = 1 and knobs 1/2, fitted per decade of the
    # targets; and EM's exponent is gamma + 1 in every decade (no level sum: within the 0.15
    # of test_model_exponents' first decade)
    from mlem_bench.analysis.predict import (error_model, geometric_levels, ideal_local_exponents, predict,
                                             window_exponents)
    eps = np.geomspace(2e-4, 0.2, 13)                  # increasing: the targets' order does not matter
    got = ideal_local_exponents(GAMMA, eps)
    model, ladder = error_model(geometric_levels(GAMMA, 40), T=1.0, c_h=1.0)
    configs, _ = predict(model, ladder, splits=(0.5,), var_shares=(0.5,), eps=eps[::-1])
    pd.testing.assert_frame_equal(got, window_exponents(configs, decades(eps)))
    assert len(got) == 3 and np.all(np.abs(got.em - (GAMMA + 1)) <= 0.15), got


def grouped_points():
    """Two cases listed z before a, methods mlem before em (and stitch in z), replicates 1 before 0:
    every table keeps this order of first appearance (the report's rows follow the suite's)."""
    parts = []
    for case in ("z", "a"):
        for method, slopes in (("mlem", [2.4, 2.6]), ("em", [3.4, 3.6]), ("stitch", [3.0, 3.2])):
            if method == "stitch" and case == "a":
                continue
            p = power_law_points(slopes, case=case, method=method, scale=2.0 if method == "mlem" else 1.0)
            parts.append(p.assign(replicate=1 - p.replicate))
    return pd.concat(parts, ignore_index=True)


def test_tables_keep_the_order_of_first_appearance():
    from mlem_bench.analysis.curves import speedup_curves, speedup_exponents
    pts = grouped_points()
    rates = fit_rates(pts)
    assert list(zip(rates.case, rates.replicate, rates.method))[:4] == [("z", 1, "mlem"), ("z", 0, "mlem"),
                                                                        ("z", 1, "em"), ("z", 0, "em")]
    t = exponent_table(pts, rates)
    assert list(zip(t.case, t.method)) == [("z", "mlem"), ("z", "em"), ("z", "stitch"), ("a", "mlem"), ("a", "em")]
    curves = speedup_curves(pts)
    assert list(dict.fromkeys(zip(curves.case, curves.replicate, curves.method))) == [
        ("z", 1, "em"), ("z", 1, "stitch"), ("z", 0, "em"), ("z", 0, "stitch"), ("a", 1, "em"), ("a", 0, "em")]
    spx = speedup_exponents(curves)
    assert list(zip(spx.case, spx.replicate, spx.method))[:3] == [("z", 1, "em"), ("z", 1, "stitch"), ("z", 0, "em")]
    bands = curve_bands(curves, {"z": 2, "a": 2})
    # bands are sorted: case and method ascending, error descending
    assert list(dict.fromkeys(zip(bands.case, bands.method))) == [("a", "em"), ("z", "em"), ("z", "stitch")]
    assert bands.groupby(["case", "method"]).error.is_monotonic_decreasing.all()
    st = speedup_table(curves, bands, spx)
    assert list(zip(st.case, st.method)) == [("z", "em"), ("z", "stitch"), ("a", "em")]
    local = local_exponents(pts)
    assert list(dict.fromkeys(local.case)) == ["z", "a"]
    first = local[(local.case == "z") & (local.eps_hi == local.eps_hi.iloc[0])]
    assert list(zip(first.replicate, first.quantity))[:4] == [(1, "mlem"), (1, "em"), (1, "stitch"), (1, "speedup-em")]
    lt = local_exponent_table(local)
    assert list(dict.fromkeys(zip(lt.case, lt.quantity)))[:3] == [("z", "mlem"), ("z", "em"), ("z", "stitch")]


def test_one_replicate_and_empty_tables():
    from mlem_bench.analysis.curves import speedup_curves, speedup_exponents
    pts = grouped_points()
    one = pts[pts.replicate == 1]
    rates = fit_rates(one)
    t = exponent_table(one, rates).set_index(["case", "method"])
    assert t.loc[("z", "em"), "median"] == pytest.approx(3.4) and t.loc[("z", "em"), "theory"] == 3.5
    assert t.loc[("z", "em"), "gamma"] == GAMMA and t.loc[("z", "em"), "n"] == 1
    curves = speedup_curves(one)
    spx = speedup_exponents(curves)
    st = speedup_table(curves, curve_bands(curves, {"z": 1, "a": 1}), spx).set_index(["case", "method"])
    # EM 3.4 against ML-EM 2.4, read on the cheapest-configuration steps: about 1
    assert st.loc[("z", "em"), "x_median"] == pytest.approx(1.0, abs=0.1) and st.loc[("z", "em"), "x_theory"] == 1.0
    assert st.loc[("z", "em"), "gamma"] == GAMMA
    lt = local_exponent_table(local_exponents(one)).set_index(["case", "quantity"])
    assert lt.loc[("z", "mlem"), "theory"].iloc[0] == 2.5 and lt.loc[("z", "mlem"), "gamma"].iloc[0] == GAMMA
    # one configuration of a method: no fit, no crash; one grid error: no speed-up exponent
    r1 = fit_rates(one[(one.method == "em") & (one.eps_target == one.eps_target.max())]).iloc[0]
    assert r1.n_points == 1 and np.isnan(r1.slope) and r1.gamma == GAMMA and r1.family == "synthetic"
    single = curves[(curves.method == "em") & (curves.case == "z")].iloc[:1]
    x = speedup_exponents(single).iloc[0]
    assert np.isnan(x.exponent) and x.n_points == 1 and x.gamma == GAMMA and x.theory == 1.0
    lone = local_exponents(one.iloc[:1])
    assert lone.empty and list(lone.columns) == ["case", "replicate", "gamma", "quantity", "eps_hi", "eps_lo",
                                                 "exponent", "theory"]
    # empty inputs give empty tables with their columns (a case whose methods never meet)
    assert list(speedup_exponents(curves.iloc[:0]).columns) == ["case", "replicate", "method", "gamma", "exponent",
                                                                 "exponent_large", "exponent_small", "n_points",
                                                                 "theory"]
    assert list(curve_bands(curves.iloc[:0], {}).columns) == ["case", "method", "gamma", "error", "n", "all_reach",
                                                              "median", "lo", "hi", "q10", "q90"]
    assert list(local_exponent_table(local_exponents(one).iloc[:0]).columns) == [
        "case", "quantity", "gamma", "eps_hi", "eps_lo", "n", "median", "lo", "hi", "q10", "q90", "theory"]
    assert list(exponent_table(one, rates).columns) == [
        "case", "method", "gamma", "n", "median", "lo", "hi", "q10", "q90", "theory", "tol", "within",
        "ols_halfwidth", "median_large", "median_small", "model", "model_within", "model_n"]
    assert list(st.reset_index().columns) == [
        "case", "method", "gamma", "error", "s_median", "s_lo", "s_hi", "s_q10", "s_q90", "x_n", "x_median", "x_lo",
        "x_hi", "x_q10", "x_q90", "x_theory", "x_tol", "x_within", "x_median_large", "x_median_small"]


@pytest.mark.filterwarnings("error")
def test_a_method_without_any_fit_gives_nan_columns_without_warnings():
    # two configurations per replicate: no slope, no halves, no speed-up exponent halves
    pts = power_law_points([3.0, 3.0], n=2)
    t = exponent_table(pts, fit_rates(pts)).iloc[0]
    assert np.isnan(t.ols_halfwidth) and np.isnan(t.median_large) and np.isnan(t.median_small)
    spx = pd.DataFrame({"case": "c", "replicate": [0, 1], "method": "em", "gamma": GAMMA, "exponent": np.nan,
                        "exponent_large": np.nan, "exponent_small": np.nan, "theory": 1.0})
    curves = pd.DataFrame({"case": "c", "gamma": GAMMA, "method": "em", "replicate": [0, 1], "error": 0.1,
                           "speedup": 2.0})
    s = speedup_table(curves, curve_bands(curves, {"c": 2}), spx).iloc[0]
    assert np.isnan(s.x_median_large) and np.isnan(s.x_median_small) and s.s_median == 2.0


def test_exponent_table_halves_interval_and_model_gaps():
    # each replicate's frontier: slope 2 over its larger errors, 3 over its smaller ones, plus noise
    rng = np.random.default_rng(11)
    rows = []
    for rep in range(3):
        e = np.geomspace(0.1, 1e-3, 9)
        cost = np.where(e >= e[4], e ** -2.0, e[4] ** -2.0 * (e / e[4]) ** -3.0) * np.exp(0.02 * rng.standard_normal(9))
        rows += [{"case": "c", "replicate": rep, "family": "f", "gamma": GAMMA, "method": "em", "eps_target": x,
                  "error": x, "cost": c, "pred_error": x, "pred_cost": c} for x, c in zip(e, cost)]
    pts = pd.DataFrame(rows)
    # replicate 2's predictions sit on a plateau: no model slope there, so the model has 2 replicates
    pts.loc[pts.replicate == 2, "pred_error"] = 0.01 * (1 + pts.eps_target)
    rates = fit_rates(pts)
    t = exponent_table(pts, rates, fit_rates(predicted_points(pts))).iloc[0]
    assert t.ols_halfwidth == pytest.approx(np.median((rates.slope_hi - rates.slope_lo) / 2), rel=1e-12)
    assert t.ols_halfwidth > 0.01
    assert abs(t.median_large - 2.0) < 0.1 and abs(t.median_small - 3.0) < 0.1
    assert t.model_n == 2 and np.isfinite(t.model) and t.model_within == 2


def test_speedup_table_interval_columns_and_local_exponents_against_another_method():
    curves = pd.DataFrame({"case": "c", "gamma": GAMMA, "method": "em", "replicate": [0, 1, 2],
                           "error": 0.1, "speedup": [2.0, 4.0, 8.0]})
    bands = curve_bands(curves, {"c": 3})
    spx = pd.DataFrame({"case": "c", "replicate": [0, 1, 2], "method": "em", "gamma": GAMMA, "exponent": 1.0,
                        "exponent_large": 1.0, "exponent_small": 1.0, "theory": 1.0})
    t = speedup_table(curves, bands, spx).iloc[0]
    b = bands.iloc[0]
    assert (t.s_lo, t.s_hi, t.s_q10, t.s_q90) == (b.lo, b.hi, b.q10, b.q90) and t.s_lo < t.s_median < t.s_hi
    # against EM: the speed-up quantity is ML-EM's, its theory -(EM's exponent - ML-EM's)
    eps = np.geomspace(0.1, 1e-3, 9)
    pts = pd.DataFrame({"case": "c", "gamma": GAMMA, "replicate": 0, "method": ["em"] * 9 + ["mlem"] * 9,
                        "eps_target": np.r_[eps, eps], "error": np.r_[eps, eps],
                        "cost": np.r_[eps ** -3.5, eps ** -2.5]})
    x = local_exponents(pts, against="em").set_index(["quantity", "eps_hi"])
    assert x.loc[("speedup-mlem", 0.1), "exponent"] == pytest.approx(-1.0)
    assert x.loc[("speedup-mlem", 0.1), "theory"] == pytest.approx(-1.0)
    # three configurations in a decade but spread by less than 2x in error: no exponent
    narrow = pts.assign(error=np.where(pts.eps_target < 0.0101, 0.001 * (1 + pts.eps_target), pts.error))
    y = local_exponents(narrow).set_index(["quantity", "eps_hi"])
    assert np.isnan(y.loc[("em", 0.01), "exponent"]) and np.isfinite(y.loc[("em", 0.1), "exponent"])
    # exactly three configurations spread by exactly 2x: fitted (cost e^-3.5 on a 2x spread of errors)
    three = pd.DataFrame({"case": "c", "gamma": GAMMA, "replicate": 0, "method": "em", "eps_target": [0.1, 0.05, 0.01],
                          "error": [0.02, 0.015, 0.01], "cost": np.array([0.02, 0.015, 0.01]) ** -3.5})
    assert local_exponents(three).exponent.tolist() == [pytest.approx(3.5)]


def test_ideal_local_exponents_take_the_number_of_levels():
    from mlem_bench.analysis.predict import error_model, geometric_levels, ideal_local_exponents, predict, \
        window_exponents
    eps = np.geomspace(0.2, 2e-3, 9)
    model, ladder = error_model(geometric_levels(GAMMA, 12), T=1.0, c_h=1.0)
    configs, _ = predict(model, ladder, splits=(0.5,), var_shares=(0.5,), eps=eps)
    pd.testing.assert_frame_equal(ideal_local_exponents(GAMMA, eps, levels=12), window_exponents(configs, decades(eps)))
    # six levels (finest bias 0.5 / 32) do not reach the smallest decade
    assert np.isnan(ideal_local_exponents(GAMMA, eps, levels=6).em.iloc[0])
