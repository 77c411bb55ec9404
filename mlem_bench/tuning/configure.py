"""Choose (top level k, step h, probabilities p_l) for a target strong error eps.

Error model (every constant measured by `calibrate.calibrate` on a pilot run):

    e_h = c_h * h                        EM discretisation with the exact drift
    e_b = b_k                            drift approximation: RMS |X_T(f^k) - X_T(f)|
    e_v^2 = c_v * T * h * sum_{l=2..k} delta_l^2 (1/p_l - 1)      ML-EM randomisation
    error^2 = e_h^2 + e_b^2 + e_v^2      (the three sources are treated as uncorrelated)

Error budget (explicit and fixed, so a target eps means the same thing everywhere). Both
methods share one bias knob, `split`: the level bias gets (1 - split) eps^2, so at equal
split EM and ML-EM pick the same top level and differ only in how they spend the rest.

* EM:     e_b^2 <= (1 - split) eps^2 and e_h^2 <= split eps^2 (default split 1/2).
* ML-EM:  e_b^2 <= (1 - split) eps^2; of the remaining split eps^2 a share `var_share`
          (default 1/2) goes to the randomisation and the rest to the step:
          e_v^2 <= var_share split eps^2, e_h^2 <= (1 - var_share) split eps^2.

EM takes the largest dyadic h and the cheapest level that meet their budgets. ML-EM
takes the cheapest level meeting e_b, then for h among the largest allowed by e_h and
up to `max_refine` halvings of it, water-fills the probabilities for e_v and keeps the
h of least expected cost (for gamma > 2 smaller steps unsaturate levels and may pay).
"""
from dataclasses import dataclass

import numpy as np

from ..errors import TuningError

# Floor on p_l: a level whose difference vanishes still needs p > 0 (or the estimator is
# biased). 2^-50 is drawn exactly by the kernel's 53-bit uniforms and lies far below any
# probability the water-filling chooses down to errors of 1e-9: a higher floor (it was 1e-6)
# forces the top levels of a long ladder to be drawn more often than they pay, and bends the
# model's own cost exponent above max(gamma, 1 + gamma/2) at small errors (docs/method.md).
P_MIN = 2.0 ** -50


@dataclass
class Config:
    """One tuned configuration of a solver (the arguments of `solve` plus predictions)."""

    method: str              # solver: "em", "mlem", "schedule" or "stitch"
    level: int
    n_steps: int
    probs: np.ndarray        # indexed by level; all ones for EM
    predicted_cost: float
    predicted_error: float
    share: int = 1           # ML-EM paths per Bernoulli pattern
    switch_step: int = 0     # stitch: steps on level 1 before switching to `level`


def pow2_at_least(x):
    return int(2 ** max(0, int(np.ceil(np.log2(max(x, 1.0)) - 1e-12))))


def waterfill(delta, pair_cost, budget):
    """Probabilities minimising sum p_l C_l subject to sum delta_l^2 (1/p_l - 1) <= budget.

    p_l = min(1, lambda delta_l / sqrt(C_l)); saturated levels (p = 1) add no variance
    and are removed from the budget equation before lambda is recomputed.
    """
    delta = np.asarray(delta, dtype=float)
    C = np.asarray(pair_cost, dtype=float)
    p = np.ones_like(delta)
    if delta.size == 0 or budget <= 0:
        return p
    sat = np.zeros(delta.size, dtype=bool)
    for _ in range(delta.size + 1):
        free = ~sat
        a = np.sum(delta[free] * np.sqrt(C[free]))
        if a == 0:
            p[free] = P_MIN
            break
        lam = a / (budget + np.sum(delta[free] ** 2))
        p = np.minimum(1.0, lam * delta / np.sqrt(C))
        p[sat] = 1.0
        new = free & (p >= 1.0)
        if not new.any():
            break
        sat |= new
    return np.maximum(p, P_MIN)


def bias_budget(eps, split):
    """The largest terminal level bias b_k a configuration for target eps with bias split
    `split` accepts: e_b^2 <= (1 - split) eps^2 (EM and ML-EM alike)."""
    return float(np.sqrt(1 - split) * eps)


def level_for(model, ladder, budget, eps):
    ok = np.flatnonzero(model.bias[1:] <= budget)
    if ok.size == 0:
        raise TuningError(f"target eps={eps:g} needs a drift bias <= {budget:.3g} but the finest of the "
                          f"ladder's {ladder.levels} levels has {model.bias[-1]:.3g}; add levels or raise the smallest eps")
    return int(ok[0] + 1)


def steps_for(model, h_budget):
    return max(model.min_steps, pow2_at_least(model.c_h * model.T / h_budget))


def tune_em(model, ladder, eps, split=0.5, level=None):
    """EM: e_h^2 <= split eps^2 and e_b^2 <= (1 - split) eps^2.

    level: use this level instead of the cheapest that meets the bias budget (the
    fixed-level baselines); its whole remaining budget then goes to e_h when possible.
    """
    if not 0 < split < 1:
        raise ValueError(f"split must be in (0, 1) (got {split})")
    if level is None:
        k = level_for(model, ladder, bias_budget(eps, split), eps)
        h_budget = np.sqrt(split) * eps
    else:
        k = int(level)
        rest = eps ** 2 - model.bias[k] ** 2
        h_budget = np.sqrt(rest) if rest > split * eps ** 2 else np.sqrt(split) * eps
    n = steps_for(model, h_budget)
    pred_err = np.hypot(model.c_h * model.T / n, model.bias[k])
    return Config("em", k, n, np.ones(ladder.levels + 1), float(n * ladder.cost[k]), float(pred_err))


def mlem_step_cost(ladder, k, probs):
    """Expected counted cost of one ML-EM step with top level k, as the kernel counts it:
    level 1 always, level l >= 2 once when B_l or B_{l+1} is drawn (independent draws,
    B_{k+1} = 0), i.e. with probability 1 - (1 - p_l)(1 - p_{l+1})."""
    c = ladder.cost
    p = np.append(np.asarray(probs[2:k + 1], dtype=float), 0.0)
    need = 1.0 - (1.0 - p[:-1]) * (1.0 - p[1:])
    return c[1] + float(np.sum(need * c[2:k + 1]))


def pair_costs(cost, k):
    """Cost C_l of drawing B_l (l = 2..k) for the water-filling, from per-level costs
    (cost[l], index 0 unused): f^l and f^{l-1}, except that f^1 is evaluated every step
    anyway. Separable, so an upper bound where neighbouring pairs share a level;
    `mlem_step_cost` counts the shared evaluation once."""
    c = np.asarray(cost, dtype=float)
    pair = c[2:k + 1] + c[1:k]
    pair[:1] = c[2:3]
    return pair


def tune_mlem(model, ladder, eps, split=0.5, var_share=0.5, max_refine=6):
    """ML-EM: bias within sqrt(1 - split) eps (as EM), randomisation within
    sqrt(var_share split) eps and step error within sqrt((1 - var_share) split) eps."""
    for name, v in (("split", split), ("var_share", var_share)):
        if not 0 < v < 1:
            raise ValueError(f"{name} must be in (0, 1) (got {v})")
    k = level_for(model, ladder, bias_budget(eps, split), eps)
    n_min = steps_for(model, np.sqrt((1 - var_share) * split) * eps)
    best = None
    for j in range(max_refine + 1):
        n = n_min * 2 ** j
        h = model.T / n
        budget = var_share * split * eps ** 2 / (model.c_v * model.T * h)
        probs = np.ones(ladder.levels + 1)
        probs[2:k + 1] = waterfill(model.delta[2:k + 1], pair_costs(ladder.cost, k), budget)
        cost = n * mlem_step_cost(ladder, k, probs)
        if best is None or cost < best.predicted_cost:
            var = model.c_v * model.T * h * np.sum(model.delta[2:k + 1] ** 2 * (1 / probs[2:k + 1] - 1))
            pred = np.sqrt((model.c_h * h) ** 2 + model.bias[k] ** 2 + var)
            best = Config("mlem", k, n, probs, float(cost), float(pred))
    return best
