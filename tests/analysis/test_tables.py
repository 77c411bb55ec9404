"""Row-level tables of `analysis.rates`, `analysis.diagnostics` and `analysis.metrics` by hand:
seeds pooled by path-weighted means, the jackknife interval of a matched speed-up, the level
table of the pilot's moments, weak errors. Tiny hand-made inputs, no kernels."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from types import SimpleNamespace

from mlem_bench.analysis.diagnostics import level_table, measured_gamma
from mlem_bench.analysis.metrics import batch_bounds, batch_means, weak_errors
from mlem_bench.analysis.rates import (cost_at_error, matched_speedup, method_pairs, pooled, predicted_points,
                                       relative_error_se, speedup_interval, speedups)


def result_row(seed, n_paths, sq, cost, **kw):
    row = {"case": "c", "family": "synthetic", "gamma": 2.5, "method": "mlem", "config": 0, "solver": "mlem",
           "knob": "k", "eps_target": 0.1, "level": 3, "n_steps": 16, "probs": [1.0, 0.5], "seed": seed,
           "n_paths": n_paths, "sq_batches": sq, "cost_batches": cost, "pred_cost": 7.0, "pred_error": 0.09,
           "top_evals": 2.0 + seed, "mean_err": 0.1 * (seed + 1), "cov_err": 0.2 * (seed + 1), "sw2": 0.3 * (seed + 1)}
    row.update(kw)
    return row


def test_pooled_weights_each_batch_by_its_paths():
    # seed 0: 10 paths in batches of 5 and 5; seed 1: 7 paths in batches of 4 and 3 (listed first)
    res = pd.DataFrame([result_row(1, 7, [3.0, 4.0], [30.0, 40.0]), result_row(0, 10, [1.0, 2.0], [10.0, 20.0])])
    np.testing.assert_array_equal(batch_bounds(7, 2), [0, 4, 7])
    p = pooled(res)
    assert len(p) == 1
    r = p.iloc[0]
    np.testing.assert_array_equal(r.weights, [5, 5, 4, 3])
    np.testing.assert_array_equal(r.sq, [1.0, 2.0, 3.0, 4.0])           # seeds in order
    np.testing.assert_array_equal(r.costs, [10.0, 20.0, 30.0, 40.0])
    assert r.error == pytest.approx(np.sqrt((5 + 10 + 12 + 12) / 17), rel=1e-12)
    assert r.cost == pytest.approx((50 + 100 + 120 + 120) / 17, rel=1e-12)
    assert (r.replicate, r.n_seeds, r.pred_cost, r.pred_error, r.level, r.knob) == (0, 2, 7.0, 0.09, 3, "k")
    assert (r.top_evals, r.mean_err, r.cov_err, r.sw2) == pytest.approx((2.5, 0.15, 0.3, 0.45))
    # a replicate column is kept, one row per (case, replicate, method, config) in that order
    two = pd.DataFrame([result_row(0, 4, [1.0], [1.0], replicate=2), result_row(0, 4, [1.0], [1.0], replicate=1),
                        result_row(0, 4, [1.0], [1.0], replicate=1, config=1)])
    assert list(zip(pooled(two).replicate, pooled(two).config)) == [(1, 0), (1, 1), (2, 0)]


def test_predicted_points_keep_positive_finite_predictions():
    pts = pd.DataFrame({"cost": 1.0, "error": 1.0, "pred_cost": [2.0, np.nan, np.inf, 0.0, 0.5, 3.0, 4.0],
                        "pred_error": [0.1, 0.1, 0.1, 0.1, 0.2, 0.0, np.inf]})
    p = predicted_points(pts)
    assert p.cost.tolist() == [2.0, 0.5] and p.error.tolist() == [0.1, 0.2]


def test_relative_error_se_of_three_batches():
    # weights 1, 1, 2; sq 0.1, 0.3, 0.2: mean 0.2, weighted variance 0.005, se sqrt(0.005 / 2) = 0.05
    row = pd.Series({"weights": [1.0, 1.0, 2.0], "sq": [0.1, 0.3, 0.2]})
    assert relative_error_se(row) == pytest.approx(0.5 * 0.05 / 0.2, rel=1e-12)


def test_batch_means_over_contiguous_batches():
    np.testing.assert_array_equal(batch_means(np.arange(7.0), 2), [1.5, 5.0])     # paths 0-3 and 4-6


def pooled_rows(err, cost, sq, w=None):
    w = np.ones(sq.shape[1]) if w is None else np.asarray(w, float)
    return pd.DataFrame({"error": err, "cost": cost, "sq": list(sq), "costs": [np.full(w.size, c) for c in cost],
                         "weights": [w] * len(err)})


def test_speedup_interval_is_the_delete_one_batch_jackknife():
    # two configurations each, four batches; the jackknife computed here from its definition:
    # leave batch j out, pool the rest, matched speed-up; variance (n-1)/n sum (log S_j - mean)^2
    rng = np.random.default_rng(5)
    sq_a = np.array([0.04, 0.0025])[:, None] * rng.gamma(20, 1 / 20, (2, 4))
    sq_b = np.array([0.03, 0.0036])[:, None] * rng.gamma(20, 1 / 20, (2, 4))
    ca, cb = np.array([10.0, 400.0]), np.array([5.0, 60.0])
    w = np.diff(batch_bounds(10, 4))                       # batches of 2, 3, 3, 2 paths
    a = pooled_rows(np.sqrt(sq_a @ w / 10), ca, sq_a, w)
    b = pooled_rows(np.sqrt(sq_b @ w / 10), cb, sq_b, w)
    common, cost_a, cost_b, ratio = matched_speedup(a.error, ca, b.error, cb)

    def left_out(sq, j):
        return np.sqrt(np.delete(sq, j, 1) @ np.delete(w, j) / np.delete(w, j).sum())
    reps = np.log([matched_speedup(left_out(sq_a, j), ca, left_out(sq_b, j), cb)[3] for j in range(4)])
    half = stats.t.ppf(0.975, 3) * np.sqrt(3 / 4 * np.sum((reps - reps.mean()) ** 2))
    got = speedup_interval(a, b)
    assert got == pytest.approx({"common_error": common, "cost_other": cost_a, "cost_mlem": cost_b, "speedup": ratio,
                                 "speedup_lo": ratio * np.exp(-half), "speedup_hi": ratio * np.exp(half)}, rel=1e-12)
    assert got["speedup_lo"] < ratio < got["speedup_hi"]
    # level 0.5: the t quantile of 0.75
    half50 = stats.t.ppf(0.75, 3) * np.sqrt(3 / 4 * np.sum((reps - reps.mean()) ** 2))
    assert speedup_interval(a, b, level=0.5)["speedup_hi"] == pytest.approx(ratio * np.exp(half50), rel=1e-12)
    # ML-EM slower than the other method: a speed-up below one has its interval too
    slow = speedup_interval(b, a)
    assert slow["speedup"] < 1 and slow["speedup_lo"] < slow["speedup"] < slow["speedup_hi"]
    # the other method never reaches the common error: no speed-up, no interval
    far = pooled_rows(a.error * 10, ca, sq_a * 100, w)
    out = speedup_interval(far, b)
    assert np.isnan(out["speedup"]) and np.isnan(out["speedup_lo"]) and np.isnan(out["speedup_hi"])


def test_speedups_pair_every_method_with_mlem_per_case_and_replicate():
    def rows(case, rep, method, scale):
        sq = np.array([[0.01] * 3, [0.0001] * 3])
        r = pooled_rows([0.1, 0.01], [scale, 100 * scale], sq)
        return r.assign(case=case, replicate=rep, gamma=1.5 if case == "z" else 2.5, method=method)
    # case a (no ML-EM) first; in replicate 1 the stitch rows come before EM's
    pts = pd.concat([rows("a", 0, "em", 1.0), rows("z", 1, "stitch", 6.0), rows("z", 1, "em", 8.0),
                     rows("z", 1, "mlem", 2.0), rows("z", 0, "mlem", 1.0), rows("z", 0, "stitch", 3.0)])
    s = speedups(pts)
    assert list(zip(s.case, s.replicate, s.method)) == [("z", 1, "stitch"), ("z", 1, "em"), ("z", 0, "stitch")]
    assert s.speedup.tolist() == pytest.approx([3.0, 4.0, 3.0]) and s.gamma.tolist() == [1.5, 1.5, 1.5]
    assert list(s.columns) == ["case", "replicate", "gamma", "method", "common_error", "cost_other", "cost_mlem",
                               "speedup", "speedup_lo", "speedup_hi"]
    # no batch noise: the jackknife interval has zero width
    assert s.speedup_lo.tolist() == pytest.approx([3.0, 4.0, 3.0])
    assert s.speedup_hi.tolist() == pytest.approx([3.0, 4.0, 3.0])
    # against EM: ML-EM and stitch of replicate 1 (EM costs 8 and 800)
    e = speedups(pts, against="em")
    assert list(zip(e.case, e.replicate, e.method)) == [("z", 1, "stitch"), ("z", 1, "mlem")]
    assert e.speedup.tolist() == pytest.approx([6 / 8, 2 / 8])
    # against another method
    pairs = [(c, r, m) for c, r, _, m, _, _ in method_pairs(pts, against="em")]
    assert pairs == [("z", 1, "stitch"), ("z", 1, "mlem")]        # replicate 0 has no EM points


@pytest.mark.filterwarnings("error")
def test_level_table_from_pilot_moments():
    # level 2's Y is N(2, 4): E Y^2 = 8, E Y^3 = 2^3 + 3 x 2 x 4 = 32, E Y^4 = 16 + 6 x 4 x 4 + 3 x 16 = 160,
    # kurtosis 3; level 3's is constant (no kurtosis, and no 0/0 warning)
    moments = np.zeros((5, 6))
    moments[1] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.25]
    moments[2] = [4.0, 2.0, 8.0, 32.0, 160.0, 0.09]
    moments[3] = [1.0, 0.5, 0.25, 0.125, 0.0625, 0.01]
    moments[4] = [0.25, 0.0, 1.0, 0.0, 1.0, 0.0004]            # symmetric two-point +-1: kurtosis 1
    model = SimpleNamespace(moments=moments, bias=np.array([0.0, 0.4, 0.2, 0.1, 0.05]))
    ladder = SimpleNamespace(levels=4, eps=np.array([0.0, 0.5, 0.3, 0.1, 0.02]), cost=np.array([0.0, 1.0, 4, 16, 64]))
    rows = level_table(model, ladder, probs=[1.0, 1.0, 0.5, 0.25, 0.1], n_steps=8, level=3)
    want = [
        {"level": 1, "eps_nominal": 0.5, "eps_measured": 0.5, "delta": 0.0, "mean_diff": 0.0, "var_diff": 0.0,
         "kurtosis": np.nan, "cost": 1.0, "bias": 0.4, "p": 1.0, "evals_per_path": 8.0},
        # evaluated when B_2 or B_3 is drawn: 8 (1 - 0.5 x 0.75)
        {"level": 2, "eps_nominal": 0.3, "eps_measured": 0.3, "delta": 2.0, "mean_diff": 2.0, "var_diff": 4.0,
         "kurtosis": 3.0, "cost": 4.0, "bias": 0.2, "p": 0.5, "evals_per_path": 5.0},
        # the top level: B_4 is never drawn
        {"level": 3, "eps_nominal": 0.1, "eps_measured": 0.1, "delta": 1.0, "mean_diff": 0.5, "var_diff": 0.0,
         "kurtosis": np.nan, "cost": 16.0, "bias": 0.1, "p": 0.25, "evals_per_path": 2.0},
        # above the configuration's top level: not used
        {"level": 4, "eps_nominal": 0.02, "eps_measured": 0.02, "delta": 0.5, "mean_diff": 0.0, "var_diff": 1.0,
         "kurtosis": 1.0, "cost": 64.0, "bias": 0.05, "p": 0.0, "evals_per_path": 0.0}]
    pd.testing.assert_frame_equal(pd.DataFrame(rows), pd.DataFrame(want), check_exact=False, rtol=1e-12)


def test_measured_gamma_point_estimate_and_level():
    eps = 2.0 ** -np.arange(6)
    rng = np.random.default_rng(3)
    cost = eps ** -2.5 * np.exp(0.05 * rng.standard_normal(6))
    r = stats.linregress(np.log(eps), np.log(cost))
    g, lo, hi = measured_gamma(eps, cost, level=0.8)
    half = stats.t.ppf(0.9, 4) * r.stderr
    assert (g, lo, hi) == pytest.approx((-r.slope, -r.slope - half, -r.slope + half), rel=1e-12)


def test_weak_errors_by_hand():
    # samples (0, 0), (2, 0), (0, 4), (2, 4): mean (1, 2), covariance diag(4/3, 16/3)
    x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])
    w = weak_errors(x, mean=np.array([1.0, -1.0]), cov=np.eye(2), exact=x + [0.5, 0.0])
    assert w["mean_err"] == pytest.approx(3.0)
    assert w["cov_err"] == pytest.approx(np.sqrt(1 + 13 ** 2) / 3)
    assert set(w) == {"mean_err", "cov_err", "sw2"} and w["sw2"] > 0


def test_cost_at_error_at_both_ends_of_the_frontier():
    e, c = np.array([0.1, 0.05, 0.01]), np.array([1.0, 4.0, 100.0])
    assert cost_at_error(e, c, 0.1) == pytest.approx(1.0) and cost_at_error(e, c, 0.01) == pytest.approx(100.0)
