"""Numba kernels: pure functions over arrays, no Python objects, no I/O.

One kernel, `simulate`, steps every path of a block with one of these methods:

* EM        X_{n+1} = X_n + f^k(t_n, X_n) h + g(t_n) dW_n
* MLEM      f^k replaced by the randomized telescoping estimator (`mlem_estimate`);
            with share > 1, paths i with the same i // share use one Bernoulli pattern
            (what a batched GPU sampler does)
* SCHEDULE  the estimator with a deterministic schedule: level l is drawn every
            m_l = round(1/p_l) steps (random phase per path) with weight m_l
* STITCH    EM with level 1 for steps n < switch_step and level k after
* DIAG      EM with level k, recording moments of f^l - f^{l-1} and f^l - f along the path
* NOISE     X_{n+1} = X_n + g(t_n) dW_n only: the cost of drawing the path, the floor of a step

Randomness is keyed by (seed, stream, global path index), so a path's result does
not depend on the thread count or on how paths are split into blocks.
"""
import numpy as np
from numba import njit, prange

from .brownian import levy_increments
from .drift import MAX_LEVELS, level_drift
from .rng import STREAM_BERNOULLI, STREAM_BROWNIAN, fill_normals, stream_key, uniform

EM, MLEM, DIAG, NOISE, STITCH, SCHEDULE = 0, 1, 2, 3, 4, 5
BLOWUP = 1e8  # |x| beyond this counts as an exploding path
# DIAG moments per level l, summed over steps: with D = f^l - f^{l-1}, Y = sum_c D_c / sqrt(d)
# (a fixed projection, for Giles-style mean / variance / kurtosis) and E = f^l - f:
DIAG_SQ, DIAG_Y1, DIAG_Y2, DIAG_Y3, DIAG_Y4, DIAG_ERR = 0, 1, 2, 3, 4, 5   # |D|^2, Y, Y^2, Y^3, Y^4, |E|^2
N_DIAG = 6
PHASE_COUNTER = 1 << 62   # Bernoulli-stream counters of the schedule phases (steps use n * MAX_LEVELS + l)


@njit(inline="always")
def mlem_estimate(t, x, drift, pp, lad, top, probs, bkey, counter0, vals, drawn, need, out, evals,
                  step, period, phase):
    """Unbiased estimate of f^top(t, x); returns the counted cost of this draw.

    out = f^1 + sum_{l=2..top} B_l w_l (f^l - f^{l-1}). Random (step < 0): B_l ~
    Bernoulli(p_l) from uniforms number counter0 + l of stream `bkey`, w_l = 1/p_l.
    Schedule (step >= 0): B_l = [(step + phase_l) mod period_l == 0], w_l = period_l.
    A level needed by two terms is evaluated once, at the same point x.
    """
    cost_table = lad[1]
    dim = x.shape[0]
    need[1] = True
    for l in range(2, top + 1):
        need[l] = False
    for l in range(2, top + 1):
        if step < 0:
            drawn[l] = uniform(bkey, counter0 + l) < probs[l]
        else:
            drawn[l] = (step + phase[l]) % period[l] == 0
        if drawn[l]:
            need[l] = True
            need[l - 1] = True
    cost = 0.0
    for l in range(1, top + 1):
        if need[l]:
            level_drift(l, t, x, drift, pp, lad, vals[l])
            cost += cost_table[l]
            evals[l] += 1
    for c in range(dim):
        out[c] = vals[1, c]
    for l in range(2, top + 1):
        if drawn[l]:
            w = 1.0 / probs[l] if step < 0 else float(period[l])
            for c in range(dim):
                out[c] += w * (vals[l, c] - vals[l - 1, c])
    return cost


@njit(parallel=True)
def simulate(drift, diffusion, pp, lad, method, level, probs, x0, T, n_steps, seed, path_offset,
             noisy, dW_given, share, switch_step, x_out, cost_out, evals_out, diag_out, fail_step):
    """Step paths path_offset .. path_offset + len(x0) - 1 from x0 to time T.

    share: paths per Bernoulli pattern (MLEM; 1 = independent per path).
    switch_step: first step that uses level `level` (STITCH; level 1 before).
    Outputs (filled): x_out (n, d) terminal states, cost_out (n,) counted cost,
    evals_out (n, L+1) evaluations per level, diag_out (n, L+1, N_DIAG) (DIAG only),
    fail_step (n,) 0 or the step at which the path became non-finite or exploded.
    dW_given is (n, n_steps, d) to use given increments, or (0, 0, 0) to draw them.
    """
    n_paths, dim = x0.shape
    h = T / n_steps
    n_levels = lad[0].shape[0]
    cost_table = lad[1]
    use_given = dW_given.shape[0] > 0
    inv_sqrt_d = 1.0 / np.sqrt(dim)
    for i in prange(n_paths):
        path = path_offset + i
        if noisy and use_given:
            dW = dW_given[i]              # read in place: no per-path copy
        else:
            dW = np.zeros((n_steps, dim))
            if noisy:
                z = np.empty(n_steps * dim)
                w = np.empty((n_steps + 1, dim))
                fill_normals(stream_key(seed, STREAM_BROWNIAN, path), z)
                levy_increments(z, T, w, dW)
        bkey = stream_key(seed, STREAM_BERNOULLI, path // share)
        period = np.ones(n_levels, dtype=np.int64)
        phase = np.zeros(n_levels, dtype=np.int64)
        if method == SCHEDULE:
            for l in range(2, level + 1):
                period[l] = max(1, int(np.round(1.0 / probs[l])))
                phase[l] = int(uniform(bkey, PHASE_COUNTER + l) * period[l])
        x = x0[i].copy()
        f = np.empty(dim)
        vals = np.empty((n_levels, dim))
        drawn = np.zeros(n_levels, dtype=np.bool_)
        need = np.zeros(n_levels, dtype=np.bool_)
        evals = evals_out[i]
        cost = 0.0
        failed = 0
        for n in range(n_steps):
            t = n * h
            if method == NOISE:
                for c in range(dim):
                    f[c] = 0.0
            elif method == MLEM or method == SCHEDULE:
                # one inlined call site for both: the estimator is the largest inlined code
                cost += mlem_estimate(t, x, drift, pp, lad, level, probs, bkey, n * MAX_LEVELS, vals,
                                      drawn, need, f, evals, n if method == SCHEDULE else -1, period, phase)
            else:
                lv = 1 if (method == STITCH and n < switch_step) else level
                level_drift(lv, t, x, drift, pp, lad, f)
                cost += cost_table[lv]
                evals[lv] += 1
                if method == DIAG:
                    level_drift(0, t, x, drift, pp, lad, vals[0])
                    for l in range(1, n_levels):
                        level_drift(l, t, x, drift, pp, lad, vals[l])
                        s = 0.0
                        y = 0.0
                        e = 0.0
                        for c in range(dim):
                            r = vals[l, c] - vals[l - 1, c]
                            s += r * r
                            y += r
                            q = vals[l, c] - vals[0, c]
                            e += q * q
                        y *= inv_sqrt_d
                        d = diag_out[i, l]
                        d[DIAG_SQ] += s
                        d[DIAG_Y1] += y
                        d[DIAG_Y2] += y * y
                        d[DIAG_Y3] += y * y * y
                        d[DIAG_Y4] += y * y * y * y
                        d[DIAG_ERR] += e
            g = diffusion(t, pp)
            for c in range(dim):
                x[c] += h * f[c] + g * dW[n, c]
                if not (abs(x[c]) < BLOWUP):
                    failed = n + 1
            if failed:
                break
        fail_step[i] = failed
        cost_out[i] = cost
        for c in range(dim):
            x_out[i, c] = x[c] if failed == 0 else np.nan


@njit
def estimator_draws(drift, pp, lad, top, probs, t, x, seed, n_draws, out):
    """n_draws independent ML-EM drift estimates at one point (tests, diagnostics)."""
    n_levels = lad[0].shape[0]
    dim = x.shape[0]
    vals = np.empty((n_levels, dim))
    drawn = np.zeros(n_levels, dtype=np.bool_)
    need = np.zeros(n_levels, dtype=np.bool_)
    evals = np.zeros(n_levels, dtype=np.int64)
    unused = np.ones(n_levels, dtype=np.int64)
    bkey = stream_key(seed, STREAM_BERNOULLI, 0)
    total = 0.0
    for j in range(n_draws):
        total += mlem_estimate(t, x, drift, pp, lad, top, probs, bkey, j * MAX_LEVELS,
                               vals, drawn, need, out[j], evals, -1, unused, unused)
    return total / n_draws


@njit
def evaluate_level(drift, pp, lad, level, t, x, out):
    """out[i] = f^level(t[i], x[i]) for points (t (n,), x (n, d))."""
    for i in range(x.shape[0]):
        level_drift(level, t[i], x[i], drift, pp, lad, out[i])
