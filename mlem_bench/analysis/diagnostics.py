"""Ladder diagnostics (the MLMC habit): per level, moments of f^l - f^{l-1} along
trajectories, the measured accuracy eps_l, cost, chosen probability and expected
evaluations; and the ladder's measured gamma. Works for any ladder from the pilot's
moments, so the same code serves synthetic and learned ladders."""
import numpy as np

from ..numerics.kernels import DIAG_ERR, DIAG_SQ, DIAG_Y1, DIAG_Y2, DIAG_Y3, DIAG_Y4
from .rates import fit_slope


def level_table(model, ladder, probs, n_steps, level):
    """One row per level l = 1..L from the pilot moments and an ML-EM configuration.

    probs, n_steps, level: the ML-EM configuration whose p_l and expected evaluations
    per path are reported (level l >= 2 is evaluated in a step when it or level l + 1
    is drawn: n_steps (1 - (1 - p_l)(1 - p_{l+1})); level 1 every step).
    """
    m = model.moments
    rows = []
    for l in range(1, ladder.levels + 1):
        y1, y2, y3, y4 = m[l, DIAG_Y1], m[l, DIAG_Y2], m[l, DIAG_Y3], m[l, DIAG_Y4]
        var = y2 - y1 ** 2
        # fourth central moment from raw moments
        m4 = y4 - 4 * y1 * y3 + 6 * y1 ** 2 * y2 - 3 * y1 ** 4
        used = l <= level
        p = float(probs[l]) if 2 <= l <= level else (1.0 if l == 1 else 0.0)
        p_next = float(probs[l + 1]) if l + 1 <= level else 0.0
        evals = n_steps * (1.0 if l == 1 else 1.0 - (1.0 - p) * (1.0 - p_next)) if used else 0.0
        rows.append({"level": l, "eps_nominal": float(ladder.eps[l]), "eps_measured": float(np.sqrt(m[l, DIAG_ERR])),
                     "delta": float(np.sqrt(m[l, DIAG_SQ])), "mean_diff": float(y1), "var_diff": float(var),
                     "kurtosis": float(m4 / var ** 2) if var > 0 else float("nan"),
                     "cost": float(ladder.cost[l]), "bias": float(model.bias[l]), "p": p,
                     "evals_per_path": float(evals)})
    return rows


def measured_gamma(eps, cost, level=0.95):
    """gamma from cost ~ eps^-gamma by least squares in log-log: (gamma, lo, hi).

    Uses the same regression and t-interval as the rate fits.
    """
    slope, lo, hi, _ = fit_slope(eps, cost, level)
    return -slope, -hi, -lo
