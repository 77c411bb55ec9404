"""The speed-up of ML-EM over EM as a curve over the error, by the cheapest-configuration
rule, and cost in measured time.

S(e) = (cheapest EM configuration with error <= e) / (cheapest ML-EM configuration with
error <= e), on a geometric grid of e from the smallest error both methods reach up to the
largest error both have a configuration at. The same rule serves measured points (error
and cost of runs) and predicted ones (the tuner's predicted error and cost), so predicted
and measured curves are read alike. (A replicated version of this curve, with intervals
over replicates, may replace this function; its contract is the columns below.)
"""
import numpy as np
import pandas as pd

CURVE_COLUMNS = ["error", "cost_em", "cost_mlem", "speedup"]


def cheapest_below(error, cost, at):
    """Cost of the cheapest configuration with error <= each value of `at` (NaN where none)."""
    error, cost = np.asarray(error, float), np.asarray(cost, float)
    out = np.full(np.size(at), np.nan)
    for i, e in enumerate(np.atleast_1d(at)):
        ok = error <= e * (1 + 1e-12)
        if ok.any():
            out[i] = cost[ok].min()
    return out


def speedup_curve(err_em, cost_em, err_mlem, cost_mlem, n=12, grid=None):
    """S(e) on a geometric grid of n errors both methods reach (or on `grid`): a DataFrame
    with columns CURVE_COLUMNS, error decreasing."""
    err_em, err_mlem = np.asarray(err_em, float), np.asarray(err_mlem, float)
    if grid is None:
        lo = max(err_em.min(), err_mlem.min())
        hi = min(err_em.max(), err_mlem.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return pd.DataFrame(columns=CURVE_COLUMNS)
        grid = np.geomspace(max(hi, lo), lo, n) if hi > lo else np.array([lo])
    grid = np.asarray(grid, float)
    a, b = cheapest_below(err_em, cost_em, grid), cheapest_below(err_mlem, cost_mlem, grid)
    return pd.DataFrame({"error": grid, "cost_em": a, "cost_mlem": b, "speedup": a / b})


def time_cost(evals_per_level, eval_ns):
    """Measured-time cost of a run (ns per path): its mean evaluations of each level per path
    times that level's measured time per evaluation (batched, as the sampler calls it)."""
    ev = np.asarray(evals_per_level, float)
    return float(ev @ np.asarray(eval_ns, float)[:ev.size])
