"""Run benchmark cases: pilot, tuning, reference, solves; one tidy row per run."""
import json
import sys
import time

import numpy as np
import pandas as pd

from .methods import METHODS
from .solve import solve, strong_error
from .tuning import calibrate

COLUMNS = ["case", "family", "gamma", "method", "eps_target", "level", "n_steps", "n_paths", "seed",
           "cost", "error", "error_se", "top_evals", "wall_s", "pred_cost", "pred_error",
           "ref_error", "ref_steps", "evals_per_level", "probs"]


def results_table(rows):
    """The tidy results table (pandas) of rows returned by `run_case`."""
    return pd.DataFrame(rows, columns=COLUMNS)


def _log(progress, msg):
    if progress:
        progress(msg)


def stderr_progress(msg):
    print(msg, file=sys.stderr, flush=True)


def run_case(case, progress=stderr_progress):
    """Run one case; return (rows, info).

    rows: one dict per (method, eps target) with the columns in COLUMNS.
    info: the calibrated error model and the reference (for reports and checks).
    """
    sw, problem, ladder = case.sweep, case.problem, case.ladder
    t0 = time.perf_counter()
    _log(progress, f"[{case.name}] pilot ({sw.pilot_paths} paths)")
    model = calibrate(problem, ladder, sw.seed, sw.pilot_paths)
    _log(progress, f"[{case.name}] c_h={model.c_h:.3g} c_v={model.c_v:.3g} "
                   f"b_l={np.array2string(model.bias[1:], precision=2, max_line_width=10**6)}")
    configs = []
    for m in sw.methods:
        for eps in sw.eps:
            opts = {"var_share": sw.var_share, "max_refine": sw.max_refine} if m == "mlem" else {}
            configs.append((eps, METHODS[m].tune(model, ladder, eps, **opts)))
    ref_steps = sw.ref_factor * max(c.n_steps for _, c in configs)
    _log(progress, f"[{case.name}] reference on {ref_steps} steps, {sw.n_paths} paths")
    ref = problem.reference(sw.seed, sw.n_paths, ref_steps)
    rows = []
    for j, (eps, c) in enumerate(configs):
        sol = solve(problem, ladder, c.method, c.level, c.n_steps, sw.n_paths, sw.seed, probs=c.probs)
        err, se = strong_error(sol.x, ref.x)
        evals = sol.evals.mean(axis=0)
        rows.append({
            "case": case.name, "family": problem.family, "gamma": ladder.gamma, "method": c.method,
            "eps_target": eps, "level": c.level, "n_steps": c.n_steps, "n_paths": sw.n_paths, "seed": sw.seed,
            "cost": float(sol.cost.mean()), "error": err, "error_se": se, "top_evals": float(evals[c.level]),
            "wall_s": sol.wall_s, "pred_cost": c.predicted_cost, "pred_error": c.predicted_error,
            "ref_error": ref.own_error, "ref_steps": ref_steps,
            "evals_per_level": json.dumps([round(float(e), 4) for e in evals[1:c.level + 1]]),
            "probs": json.dumps([float(f"{p:.4g}") for p in c.probs[1:c.level + 1]]),
        })
        _log(progress, f"[{case.name}] {j + 1}/{len(configs)} {c.method:4s} eps={eps:<8.3g} k={c.level:<2d} "
                       f"N={c.n_steps:<6d} error={err:.3g}  cost={sol.cost.mean():.3g}  ({sol.wall_s:.1f}s)")
    _log(progress, f"[{case.name}] done in {time.perf_counter() - t0:.0f}s")
    return rows, {"model": model, "reference": ref}
