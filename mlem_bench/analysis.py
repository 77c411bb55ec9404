"""Functions of the results table only: rate fits and speed-ups."""
import numpy as np
import pandas as pd
from scipy import stats

from .methods import METHODS


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


def fit_window(df, fit_eps):
    """Rows whose target eps lies in fit_eps = [largest, smallest] (all rows when None)."""
    if fit_eps is None:
        return df
    hi, lo = fit_eps
    return df[(df.eps_target <= hi * (1 + 1e-12)) & (df.eps_target >= lo * (1 - 1e-12))]


def fit_rates(results, windows=None):
    """One row per (case, method): fitted slope with its 95% interval and the theory slope."""
    out = []
    for (case, method), g in results.groupby(["case", "method"], sort=False):
        w = fit_window(g, (windows or {}).get(case))
        slope, lo, hi, icpt = fit_slope(w.error, w.cost)
        gamma = float(g.gamma.iloc[0])
        out.append({"case": case, "gamma": gamma, "method": method, "slope": slope, "slope_lo": lo,
                    "slope_hi": hi, "theory_slope": METHODS[method].theory_slope(gamma),
                    "intercept": icpt, "n_points": len(w),
                    "fit_eps_hi": float(w.eps_target.max()), "fit_eps_lo": float(w.eps_target.min())})
    return pd.DataFrame(out)


def cost_at_error(g, error):
    """Cost of a method at `error`, interpolated log-log along its points sorted by error.

    Each point's cost is replaced by the cheapest cost among points at least as
    accurate (the frontier), so a costlier configuration that happened to be less
    accurate does not bend the curve.
    """
    g = g.sort_values("error")
    e, c = g.error.to_numpy(), g.cost.to_numpy()
    c = np.minimum.accumulate(c)
    if error < e[0] or error > e[-1]:
        return np.nan
    return float(np.exp(np.interp(np.log(error), np.log(e), np.log(c))))


def speedups(results):
    """ML-EM over EM at the smallest error both methods reach, per case."""
    out = []
    for case, g in results.groupby("case", sort=False):
        em, ml = g[g.method == "em"], g[g.method == "mlem"]
        if em.empty or ml.empty:
            continue
        common = max(em.error.min(), ml.error.min())
        c_em, c_ml = cost_at_error(em, common), cost_at_error(ml, common)
        out.append({"case": case, "gamma": float(g.gamma.iloc[0]), "common_error": common,
                    "cost_em": c_em, "cost_mlem": c_ml, "speedup": c_em / c_ml})
    return pd.DataFrame(out)
