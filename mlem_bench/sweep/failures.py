"""A failing case does not sink the sweep: its tasks return a failure record instead of
raising, with advice derived from what happened.

A task fails when its paths explode (`PathExplosionError`) or when the tuner cannot
configure the case (`TuningError`). For an explosion the advice depends on the cause:

* the exact solution itself grows beyond the blow-up bound (an OU drift matrix with an
  eigenvalue < 0 grows like |e^{-Theta T}|): no step count helps, and the advice says so;
* the step size: Euler-Maruyama is unstable on a linear drift when h |lambda| > 2, and a
  rerun of the exploding configuration (level, deterministic drift) on 2x and 4x the
  steps tells whether a smaller step cures it; only then are more steps advised.
"""
import math

import numpy as np

from ..errors import PathExplosionError, TuningError
from ..numerics.kernels import BLOWUP
from ..numerics.solve import solve

FAILED = "failed"          # the key of a failure record among task results
PROBE_PATHS = 64           # paths of the step-halving probe


def failure(stage, reason):
    """A failure record: what a failed task returns in place of its result."""
    return {FAILED: {"stage": stage, "reason": " ".join(str(reason).split())}}


def is_failure(result):
    return isinstance(result, dict) and set(result) == {FAILED}


def run_task(stage, fn, task, *args):
    """fn(task, *args), or a failure record when the case's paths explode or its tuner
    cannot configure it (the case's fault: the other cases go on)."""
    try:
        return fn(task, *args)
    except TuningError as e:
        return failure(stage, f"{e}; choose target eps the ladder can reach ([sweep].eps) or a finer ladder")
    except PathExplosionError as e:
        seed = args[1] if stage == "cell" else task.case.sweep.seed
        return failure(stage, f"{e}; {explosion_advice(task.case, e, seed)}")


def linear_drift_eigenvalues(problem):
    """Eigenvalues of the drift matrix of a linear (OU) problem, or None."""
    theta = getattr(problem, "theta", None)
    if problem.family != "ou" or theta is None:
        return None
    return np.linalg.eigvals(np.asarray(theta, dtype=float))


def explosion_advice(case, err, seed):
    """What to do about an explosion (one clause), from its cause."""
    p = case.problem
    eig = linear_drift_eigenvalues(p)
    if eig is not None:
        growth = -float(np.min(eig.real)) * p.T      # log of |e^{-Theta T}|'s largest growth
        scale = max(1.0, float(np.max(np.abs(p.x0))), p.sigma)
        if growth > 0 and growth + math.log(scale) > math.log(BLOWUP) / 2:
            return (f"the exact solution grows like e^{{{growth:.3g}}} over T = {p.T:g} (Theta has an eigenvalue with "
                    f"real part {float(np.min(eig.real)):.3g} < 0), so no step count helps: give [problem].theta "
                    f"eigenvalues > 0 (or a shorter T)")
        n = err.n_steps
        if n:
            h_lam = p.T / n * float(np.max(np.abs(eig)))
            if h_lam > 2:
                need = 2 ** math.ceil(math.log2(p.T * float(np.max(np.abs(eig))) / 2))
                return (f"the step is too large for this drift (h |lambda| = {h_lam:.3g} > 2, Euler-Maruyama's "
                        f"stability bound): use at least {need} steps (a smaller target eps or [sweep].ref_factor)")
    if err.n_steps:
        for factor in (2, 4):
            try:
                solve(p, case.ladder, "em", err.level or 0, factor * err.n_steps, min(PROBE_PATHS, case.sweep.n_paths),
                      seed)
            except PathExplosionError:
                continue
            return (f"the same level on {factor} x {err.n_steps} steps stays finite, so the step size is the cause: "
                    f"use at least {factor * err.n_steps} steps (smaller target eps)")
        return (f"the paths explode on {err.n_steps}, {2 * err.n_steps} and {4 * err.n_steps} steps alike, so the step "
                f"size is not the cause: check the drift and the problem's parameters")
    return "check the drift and the problem's parameters"
