"""Replicated evidence: speed-up curves over error, exponents per replicate, and their
distributions over replicates (median, 10-90% band, bootstrap interval of the median).

A replicate is one ladder draw, one pilot and one set of paths (`sweep.tasks`). On it:

* the speed-up curve S(e) = (cheapest configuration of the other method with error <= e)
  / (cheapest ML-EM configuration with error <= e), read on a fixed geometric grid of e
  (the same for every replicate) inside the range both methods reach: no interpolation
  between configurations and no extrapolation; where a method has no configuration with
  error <= e (a plateau, a target it could not be tuned for) there is no value;
* the speed-up exponent d log S / d log(1/e): least squares over the grid points;
* each method's cost exponent: `rates.fit_rates` on the replicate's own frontier.

Over replicates: the median, its 10-90% band, and a percentile bootstrap interval of the
median (`scipy.stats.bootstrap`, resampling replicates).

The same cheapest-configuration rule serves one table of points in any currency: measured
(error, counted multiply-adds), measured (error, time: `time_cost`) or the tuner's predicted
(error, cost) (`curve_table`, used by the learned section and `analysis.predict`).
"""
import numpy as np
import pandas as pd
from scipy import stats

from ..tuning.methods import ALL_METHODS
from .rates import fit_window, frontier, method_pairs

GRID_PER_DECADE = 8       # grid errors 10^(k/8): the same points for every replicate and case
BOOT_LEVEL = 0.95         # nominal level of the bootstrap interval of a median
BOOT_RESAMPLES = 2000
BOOT_SEED = 12345         # the bootstrap's own generator: the report is reproducible
EXPONENT_TOL = 0.25       # a replicate's cost exponent "agrees" within this of theory
SPEEDUP_EXPONENT_TOL = 0.3    # ... and its speed-up exponent within this


CURVE_COLUMNS = ["error", "cost_em", "cost_mlem", "speedup"]


def cheapest_cost(error, cost, at):
    """Cost of the cheapest configuration whose error is <= each value of `at` (NaN where
    none is): a step function of `at`, no interpolation."""
    error, cost, at = np.asarray(error, float), np.asarray(cost, float), np.atleast_1d(np.asarray(at, float))
    # a grid point equal to an error (predicted curves read on their targets) counts as reached
    ok = error[None, :] <= at[:, None] * (1 + 1e-12)
    return np.where(ok.any(axis=1), np.where(ok, cost[None, :], np.inf).min(axis=1), np.nan)


def error_grid(lo, hi, per_decade=GRID_PER_DECADE):
    """The fixed grid points 10^(k / per_decade) in [lo, hi], decreasing (empty when lo > hi)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        return np.array([])
    k = np.arange(np.ceil(np.log10(lo) * per_decade - 1e-9), np.floor(np.log10(hi) * per_decade + 1e-9) + 1)
    return 10.0 ** (k[::-1] / per_decade)


def speedup_curve(err_a, cost_a, err_b, cost_b, per_decade=GRID_PER_DECADE, grid=None):
    """S(e) of b over a (cost of a / cost of b, cheapest configurations with error <= e) on
    the grid points both reach: from the larger of the two smallest errors up to the smaller
    of the two largest (or on the given `grid`). Returns (grid, cost_a, cost_b, S); empty
    when the ranges do not meet."""
    err_a, err_b = np.asarray(err_a, float), np.asarray(err_b, float)
    if grid is None:
        if err_a.size == 0 or err_b.size == 0:
            return (np.array([]),) * 4
        grid = error_grid(max(err_a.min(), err_b.min()), min(err_a.max(), err_b.max()), per_decade)
    grid = np.asarray(grid, float)
    ca, cb = cheapest_cost(err_a, cost_a, grid), cheapest_cost(err_b, cost_b, grid)
    return grid, ca, cb, ca / cb


def curve_table(err_em, cost_em, err_mlem, cost_mlem, grid=None):
    """`speedup_curve` of ML-EM over EM as a DataFrame (columns CURVE_COLUMNS, error
    decreasing), for one table of points in any currency."""
    g, a, b, s = speedup_curve(err_em, cost_em, err_mlem, cost_mlem, grid=grid)
    return pd.DataFrame({"error": g, "cost_em": a, "cost_mlem": b, "speedup": s}, columns=CURVE_COLUMNS)


def time_cost(evals_per_level, eval_ns):
    """Measured-time cost of a run (ns per path): its mean evaluations of each level per path
    times that level's measured time per evaluation (batched, as the sampler calls it)."""
    ev = np.asarray(evals_per_level, float)
    return float(ev @ np.asarray(eval_ns, float)[:ev.size])


def log_slope(x, y):
    """Least-squares slope of log y on log x (NaN with fewer than 3 points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 3:
        return np.nan
    return float(stats.linregress(np.log(x[ok]), np.log(y[ok])).slope)


def theory_speedup_exponent(method, gamma, against="mlem"):
    """d log S / d log(1/e) the theory predicts: the other method's cost exponent minus
    ML-EM's (EM: 1 for gamma > 2, gamma/2 below 2, 1 up to logs at 2); NaN without a theory."""
    a, b = ALL_METHODS[method].theory_slope(gamma), ALL_METHODS[against].theory_slope(gamma)
    return float(b - a) if np.isfinite(a) and np.isfinite(b) else np.nan


def speedup_curves(points, against="mlem", per_decade=GRID_PER_DECADE):
    """Long table of S(e) per (case, replicate, method): one row per grid error both reach."""
    out = []
    for case, rep, gamma, method, gm, ml in method_pairs(points, against):
        grid, ca, cb, s = speedup_curve(gm.error, gm.cost, ml.error, ml.cost, per_decade)
        out += [{"case": case, "replicate": rep, "gamma": gamma, "method": method,
                 "error": e, "cost_other": a, "cost_mlem": b, "speedup": v}
                for e, a, b, v in zip(grid, ca, cb, s)]
    return pd.DataFrame(out, columns=["case", "replicate", "gamma", "method", "error", "cost_other", "cost_mlem",
                                      "speedup"])


def median_interval(values, level=BOOT_LEVEL, seed=BOOT_SEED):
    """(median, lo, hi): percentile bootstrap interval of the median over the values
    (NaN interval with fewer than 3 values or when they are all equal)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan, np.nan
    med = float(np.median(v))
    if v.size < 3 or np.all(v == v[0]):
        return med, np.nan, np.nan
    ci = stats.bootstrap((v,), np.median, confidence_level=level, n_resamples=BOOT_RESAMPLES, method="percentile",
                         random_state=np.random.default_rng(seed)).confidence_interval
    return med, float(ci.low), float(ci.high)


def distribution(values):
    """{n, median, lo, hi (bootstrap of the median), q10, q90} of values over replicates."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    med, lo, hi = median_interval(v)
    q10, q90 = (np.quantile(v, [0.1, 0.9]) if v.size else (np.nan, np.nan))
    return {"n": int(v.size), "median": med, "lo": lo, "hi": hi, "q10": float(q10), "q90": float(q90)}


def curve_bands(curves, n_replicates):
    """Per (case, method, grid error): the distribution of S(e) over the replicates that
    reach e, and `all_reach` (every replicate of the case has a value there)."""
    out = []
    for (case, method, e), g in curves.groupby(["case", "method", "error"], sort=False):
        d = distribution(np.log(g.speedup))
        out.append({"case": case, "method": method, "gamma": float(g.gamma.iloc[0]), "error": e, "n": d["n"],
                    "all_reach": d["n"] == n_replicates[case],
                    **{k: float(np.exp(d[k])) for k in ("median", "lo", "hi", "q10", "q90")}})
    cols = ["case", "method", "gamma", "error", "n", "all_reach", "median", "lo", "hi", "q10", "q90"]
    return pd.DataFrame(out, columns=cols).sort_values(["case", "method", "error"], ascending=[True, True, False])


def speedup_exponents(curves):
    """Per (case, replicate, method): the speed-up exponent d log S / d log(1/e) over its grid,
    and over the larger and the smaller half of its grid errors (the stability check)."""
    out = []
    for (case, rep, method), g in curves.groupby(["case", "replicate", "method"], sort=False):
        g = g.sort_values("error", ascending=False)
        inv, s = 1 / g.error.to_numpy(), g.speedup.to_numpy()
        half = len(g) // 2
        out.append({"case": case, "replicate": rep, "method": method, "gamma": float(g.gamma.iloc[0]),
                    "exponent": log_slope(inv, s), "exponent_large": log_slope(inv[:half + 1], s[:half + 1]),
                    "exponent_small": log_slope(inv[half:], s[half:]), "n_points": len(g),
                    "theory": theory_speedup_exponent(method, float(g.gamma.iloc[0]))})
    return pd.DataFrame(out, columns=["case", "replicate", "method", "gamma", "exponent", "exponent_large",
                                      "exponent_small", "n_points", "theory"])


def half_slopes(frontier_rows):
    """Cost exponents (-slope of log cost on log error) over the larger and the smaller half
    of a frontier's errors (NaN with fewer than 3 points in a half)."""
    f = frontier_rows.sort_values("error", ascending=False)
    half = len(f) // 2
    big, small = f.iloc[:half + 1], f.iloc[half:]
    return -log_slope(big.error, big.cost), -log_slope(small.error, small.cost)


def summarise(values, theory, tol):
    """Distribution of per-replicate values with theory: median [bootstrap], 10-90%, and
    how many replicates lie within `tol` of theory."""
    d = distribution(values)
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    d.update(theory=float(theory), tol=tol,
             within=int(np.sum(np.abs(v - theory) <= tol)) if np.isfinite(theory) else 0)
    return d


def exponent_table(points, rates, model_rates=None):
    """Per (case, method): the cost exponent's distribution over replicates (each fitted on
    its replicate's frontier), against theory, with the halves check of its stability and,
    given `model_rates` (fit_rates of `rates.predicted_points`), the exponent the tuner's error
    model predicts over the same targets: `model` its median, `model_within` the replicates
    whose measured exponent lies within the tolerance of their own model exponent."""
    out = []
    for (case, method), r in rates.groupby(["case", "method"], sort=False):
        theory = -float(r.theory_slope.iloc[0]) if np.isfinite(r.theory_slope.iloc[0]) else np.nan
        halves = [half_slopes(frontier(g)) for _, g in
                  points[(points.case == case) & (points.method == method)].groupby("replicate", sort=False)]
        big, small = (np.array([h[i] for h in halves]) for i in (0, 1))
        d = summarise(-r.slope.to_numpy(float), theory, EXPONENT_TOL)
        row = {"case": case, "method": method, "gamma": float(r.gamma.iloc[0]), **d,
               "ols_halfwidth": float(np.nanmedian((r.slope_hi - r.slope_lo) / 2)) if r.slope.notna().any()
               else np.nan,
               "median_large": float(np.nanmedian(big)) if np.isfinite(big).any() else np.nan,
               "median_small": float(np.nanmedian(small)) if np.isfinite(small).any() else np.nan}
        if model_rates is not None:
            m = model_rates[(model_rates.case == case) & (model_rates.method == method)]
            pair = r.merge(m, on="replicate", suffixes=("", "_model"))
            pair = pair[pair.slope.notna() & pair.slope_model.notna()]
            if len(pair):
                row.update(model=float(np.median(-pair.slope_model)),
                           model_within=int(np.sum(np.abs(pair.slope - pair.slope_model) <= EXPONENT_TOL)),
                           model_n=len(pair))
        out.append(row)
    cols = ["case", "method", "gamma", "n", "median", "lo", "hi", "q10", "q90", "theory", "tol", "within",
            "ols_halfwidth", "median_large", "median_small", "model", "model_within", "model_n"]
    return pd.DataFrame(out).reindex(columns=cols)


def speedup_table(curves, bands, spx):
    """Per (case, method): S at the smallest grid error every replicate reaches (median,
    bootstrap interval, 10-90% band), and the speed-up exponent's distribution against theory."""
    out = []
    for (case, method), x in spx.groupby(["case", "method"], sort=False):
        b = bands[(bands.case == case) & (bands.method == method) & bands.all_reach]
        row = {"case": case, "method": method, "gamma": float(x.gamma.iloc[0])}
        if len(b):
            at = b.loc[b.error.idxmin()]
            row.update(error=float(at.error), s_median=at["median"], s_lo=at.lo, s_hi=at.hi, s_q10=at.q10,
                       s_q90=at.q90)
        d = summarise(x.exponent.to_numpy(float), float(x.theory.iloc[0]), SPEEDUP_EXPONENT_TOL)
        row.update({f"x_{k}": v for k, v in d.items()})
        row.update(x_median_large=float(np.nanmedian(x.exponent_large)) if x.exponent_large.notna().any() else np.nan,
                   x_median_small=float(np.nanmedian(x.exponent_small)) if x.exponent_small.notna().any() else np.nan)
        out.append(row)
    dist = ["n", "median", "lo", "hi", "q10", "q90", "theory", "tol", "within"]
    cols = (["case", "method", "gamma", "error", "s_median", "s_lo", "s_hi", "s_q10", "s_q90"]
            + [f"x_{k}" for k in dist] + ["x_median_large", "x_median_small"])
    return pd.DataFrame(out).reindex(columns=cols)


def decades(eps):
    """Decade windows (largest, smallest target error) anchored at the smallest target:
    (10 e_min, e_min), (100 e_min, 10 e_min), ... while a window lies within the targets."""
    eps = np.asarray(eps, float)
    lo, top = float(eps.min()), float(eps.max())
    out = []
    while 10 * lo <= top * (1 + 1e-9):
        out.append((10 * lo, lo))
        lo *= 10
    return out


def local_exponents(points, against="mlem"):
    """Exponents over each decade of target error (`decades` of the case's targets), per
    (case, replicate): each method's cost exponent (-slope of log cost on log error on the
    replicate's frontier within the decade; NaN with fewer than 3 points or errors spread by
    less than 2x) and the speed-up exponent of `against` over each other method, the
    difference of their two cost exponents (d log S / d log(1/e) of S = C_other / C_against
    fitted over the decade; on a decade's few configurations the cheapest-configuration curve
    S(e) is a step function too coarse to fit). One row per (case, replicate, quantity,
    decade); quantity is a method name or "speedup-<method>"."""
    out = []
    for case, g in points.groupby("case", sort=False):
        gamma = float(g.gamma.iloc[0])
        for hi, lo in decades(g.eps_target.unique()):
            for rep, r in g.groupby("replicate", sort=False):
                x = {}
                for method, m in r.groupby("method", sort=False):
                    w = fit_window(frontier(m), (hi, lo))
                    ok = len(w) >= 3 and w.error.max() >= 2 * w.error.min()
                    x[method] = -log_slope(w.error, w.cost) if ok else np.nan
                    out.append({"case": case, "replicate": int(rep), "gamma": gamma, "quantity": method,
                                "eps_hi": hi, "eps_lo": lo, "exponent": x[method],
                                "theory": -ALL_METHODS[method].theory_slope(gamma)})
                for method in x:
                    if method != against and against in x:
                        out.append({"case": case, "replicate": int(rep), "gamma": gamma,
                                    "quantity": f"speedup-{method}", "eps_hi": hi, "eps_lo": lo,
                                    "exponent": x[method] - x[against],
                                    "theory": theory_speedup_exponent(method, gamma, against)})
    return pd.DataFrame(out, columns=["case", "replicate", "gamma", "quantity", "eps_hi", "eps_lo", "exponent",
                                      "theory"])


def local_exponent_table(local):
    """Per (case, quantity, decade): the local exponent's distribution over replicates
    (median, bootstrap interval, 10-90%) against theory."""
    out = []
    for (case, q, hi, lo), g in local.groupby(["case", "quantity", "eps_hi", "eps_lo"], sort=False):
        d = distribution(g.exponent)
        out.append({"case": case, "quantity": q, "gamma": float(g.gamma.iloc[0]), "eps_hi": hi, "eps_lo": lo, **d,
                    "theory": float(g.theory.iloc[0])})
    return pd.DataFrame(out, columns=["case", "quantity", "gamma", "eps_hi", "eps_lo", "n", "median", "lo", "hi",
                                      "q10", "q90", "theory"])


def regularity(levels):
    """Per (case, replicate): how regular the ladder's terminal biases b_l are: the largest
    ratio b_{l+1}/b_l and how many levels are out of order (b_{l+1} >= b_l)."""
    out = []
    if "replicate" not in levels:
        levels = levels.assign(replicate=0)
    for (case, rep), g in levels.groupby(["case", "replicate"], sort=False):
        b = g.sort_values("level").bias.to_numpy(float)
        ratio = b[1:] / b[:-1]
        out.append({"case": case, "replicate": int(rep), "max_ratio": float(np.max(ratio)) if ratio.size else np.nan,
                    "out_of_order": int(np.sum(ratio >= 1)), "levels": len(b)})
    return pd.DataFrame(out, columns=["case", "replicate", "max_ratio", "out_of_order", "levels"])
