"""Functions of the results table only: frontiers, rate fits, matched-error speed-ups.

Every configuration of a method was run on the same seeds; its error pools them
(RMS over all paths of all seeds) and its cost averages them. A method's frontier is
the Pareto set of its configurations in (cost, error). Intervals on speed-ups come
from a delete-one-batch jackknife over the path batches of every seed (the batches
are independent, and the same batch index means the same paths for every method).
"""
import numpy as np
import pandas as pd
from scipy import stats

from ..tuning.methods import ALL_METHODS
from .metrics import batch_bounds


def fit_slope(error, cost, level=0.95):
    """Least squares of log(cost) on log(error): (slope, lo, hi, intercept).

    The interval is the regression's t-interval at `level`.
    """
    x, y = np.log(np.asarray(error, float)), np.log(np.asarray(cost, float))
    if x.size < 3:
        raise ValueError(f"a rate fit needs at least 3 points (got {x.size})")
    r = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + level / 2, x.size - 2) * r.stderr
    return float(r.slope), float(r.slope - half), float(r.slope + half), float(r.intercept)


def pooled(results):
    """One row per (case, replicate, method, config): seeds pooled. `sq`, `costs` and
    `weights` hold the per-batch mean squared errors, mean costs and path counts of all
    seeds, shape (n_seeds * batches,); error and cost are their path-weighted means.
    (A table without a replicate column is one replicate, 0.)"""
    out = []
    if "replicate" not in results:
        results = results.assign(replicate=0)
    keys = ["case", "replicate", "method", "config"]
    for _, g in results.sort_values(keys + ["seed"]).groupby(keys, sort=False):
        sq = np.concatenate([np.asarray(s, float) for s in g.sq_batches])
        costs = np.concatenate([np.asarray(s, float) for s in g.cost_batches])
        w = np.concatenate([np.diff(batch_bounds(int(n), len(s))) for n, s in zip(g.n_paths, g.sq_batches)])
        first = g.iloc[0]
        row = {k: first[k] for k in ("case", "replicate", "family", "gamma", "method", "config", "solver", "knob",
                                     "eps_target", "level", "n_steps", "probs")}
        row.update(cost=float(np.average(costs, weights=w)), error=float(np.sqrt(np.average(sq, weights=w))),
                   pred_cost=float(first.pred_cost), pred_error=float(first.pred_error),
                   top_evals=float(g.top_evals.mean()), n_seeds=len(g), mean_err=float(g.mean_err.mean()),
                   cov_err=float(g.cov_err.mean()), sw2=float(g.sw2.mean()), sq=sq, costs=costs, weights=w)
        out.append(row)
    return pd.DataFrame(out)


def relative_error_se(row):
    """Standard error of a pooled row's RMS error relative to it, from the spread of its
    per-batch mean squared errors (delta method: se(e) / e = se(mean sq) / (2 mean sq))."""
    w = np.asarray(row.weights, float)
    sq = np.asarray(row.sq, float)
    msq = np.average(sq, weights=w)
    se = np.sqrt(np.average((sq - msq) ** 2, weights=w) / max(len(sq) - 1, 1))
    return float(0.5 * se / max(msq, 1e-300))


def predicted_points(points):
    """The tuner's own prediction of the same configurations: `points` with cost and error
    replaced by the error model's pred_cost and pred_error (rows without one dropped). Fitted
    like the measurements, it gives the exponent the error model predicts over the same
    finite range of targets, pre-asymptotic terms included."""
    p = points.assign(cost=points.pred_cost, error=points.pred_error)
    return p[np.isfinite(p.cost) & np.isfinite(p.error) & (p.cost > 0) & (p.error > 0)]


def pareto_mask(cost, error):
    """True for points no other point beats in both cost and error (ties kept)."""
    cost, error = np.asarray(cost, float), np.asarray(error, float)
    order = np.lexsort((error, cost))
    keep = np.zeros(cost.size, dtype=bool)
    best = np.inf
    for i in order:
        if error[i] < best:
            keep[i] = True
            best = error[i]
    return keep


def frontier(points):
    """The Pareto-optimal rows of `points` (columns cost, error), sorted by cost."""
    return points[pareto_mask(points.cost, points.error)].sort_values("cost")


def fit_window(df, fit_eps):
    """Rows whose target eps lies in fit_eps = [largest, smallest] (all rows when None)."""
    if fit_eps is None:
        return df
    hi, lo = fit_eps
    return df[(df.eps_target <= hi * (1 + 1e-12)) & (df.eps_target >= lo * (1 - 1e-12))]


def fit_rates(points, windows=None):
    """One row per (case, replicate, method): slope of log cost against log error on the
    method's frontier in that replicate (within the case's eps window), the regression's
    95% t-interval (lack of fit of one frontier, not sampling noise), and the theory slope."""
    out = []
    for (case, rep, method), g in points.groupby(["case", "replicate", "method"], sort=False):
        w = fit_window(frontier(g), (windows or {}).get(case))
        gamma = float(g.gamma.iloc[0])
        row = {"case": case, "replicate": int(rep), "family": g.family.iloc[0], "gamma": gamma, "method": method,
               "theory_slope": ALL_METHODS[method].theory_slope(gamma), "n_points": len(w)}
        # a fit needs points spread over a range of errors (a method stuck at a plateau has none)
        if len(w) >= 3 and w.error.max() >= 2 * w.error.min():
            slope, lo, hi, icpt = fit_slope(w.error, w.cost)
            row.update(slope=slope, slope_lo=lo, slope_hi=hi, intercept=icpt,
                       fit_eps_hi=float(w.eps_target.max()), fit_eps_lo=float(w.eps_target.min()))
        out.append(row)
    cols = ["case", "replicate", "family", "gamma", "method", "slope", "slope_lo", "slope_hi", "theory_slope", "intercept",
            "n_points", "fit_eps_hi", "fit_eps_lo"]
    return pd.DataFrame(out).reindex(columns=cols)


def cost_at_error(error, cost, at):
    """Cost of a method at error `at`, interpolated log-log along its Pareto frontier
    (dominated configurations are dropped first, so they do not bend the curve).
    NaN outside the errors the method reached.
    """
    error, cost = np.asarray(error, float), np.asarray(cost, float)
    keep = pareto_mask(cost, error)
    error, cost = error[keep], cost[keep]
    o = np.argsort(error)
    e, c = error[o], cost[o]
    if not e[0] <= at <= e[-1]:
        return np.nan
    return float(np.exp(np.interp(np.log(at), np.log(e), np.log(c))))


def matched_speedup(err_a, cost_a, err_b, cost_b):
    """Cost of a over cost of b at the smallest error both reach: (error, cost_a, cost_b, ratio)."""
    common = max(np.min(err_a), np.min(err_b))
    ca, cb = cost_at_error(err_a, cost_a, common), cost_at_error(err_b, cost_b, common)
    return common, ca, cb, ca / cb


def _jackknife_speedups(a, b):
    """Leave-one-batch-out replicates of matched_speedup(a, b) (pooled rows)."""
    sq_a, sq_b = np.stack(a.sq), np.stack(b.sq)
    c_a, c_b = np.stack(a.costs), np.stack(b.costs)
    w = np.asarray(a.weights.iloc[0], float)     # the same batches (paths) for every configuration
    n = w.size
    reps = []
    for j in range(n):
        wj = np.where(np.arange(n) == j, 0.0, w)
        reps.append(matched_speedup(np.sqrt(sq_a @ wj / wj.sum()), c_a @ wj / wj.sum(),
                                    np.sqrt(sq_b @ wj / wj.sum()), c_b @ wj / wj.sum())[3])
    return np.array(reps)


def speedup_interval(a, b, level=0.95):
    """Speed-up of pooled rows b over a (cost_a / cost_b at matched error), with a
    jackknife t-interval on its logarithm. Returns a dict."""
    common, ca, cb, ratio = matched_speedup(a.error, a.cost, b.error, b.cost)
    lo = hi = np.nan
    reps = _jackknife_speedups(a, b)
    if np.isfinite(ratio) and np.all(np.isfinite(reps)) and np.all(reps > 0):
        logs = np.log(reps)
        n = logs.size
        se = np.sqrt((n - 1) / n * np.sum((logs - logs.mean()) ** 2))
        half = stats.t.ppf(0.5 + level / 2, n - 1) * se
        lo, hi = ratio * np.exp(-half), ratio * np.exp(half)
    return {"common_error": common, "cost_other": ca, "cost_mlem": cb, "speedup": ratio,
            "speedup_lo": lo, "speedup_hi": hi}


def speedups(points, against="mlem"):
    """Speed-up of `against` over every other method of each case and replicate, at the
    smallest error both reach (NaN when the other never gets there), with intervals over
    the replicate's path batches (the single-replicate reading; `curves` gives the
    replicated one)."""
    out = []
    for case, rep, gamma, method, gm, ml in method_pairs(points, against):
        row = {"case": case, "replicate": rep, "gamma": gamma, "method": method}
        row.update(speedup_interval(gm, ml))
        out.append(row)
    return pd.DataFrame(out)


def method_pairs(points, against="mlem"):
    """(case, replicate, gamma, method, its points, `against`'s points) for every other
    method of each (case, replicate) that has points of `against`."""
    for (case, rep), g in points.groupby(["case", "replicate"], sort=False):
        ml = g[g.method == against]
        if ml.empty:
            continue
        for method, gm in g.groupby("method", sort=False):
            if method != against:
                yield case, int(rep), float(g.gamma.iloc[0]), method, gm, ml
