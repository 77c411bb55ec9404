"""Numba kernels: pure functions over arrays, no Python objects, no I/O.

One kernel, `simulate`, steps every path with one of these methods:

* EM        X_{n+1} = X_n + f^k(t_n, X_n) h + g(t_n) dW_n
* MLEM      f^k replaced by the randomized telescoping estimator (`mlem_block`);
            with share > 1, paths i with the same i // share use one Bernoulli pattern
            (what a batched GPU sampler does)
* SCHEDULE  the estimator with a deterministic schedule: level l is drawn every
            m_l = round(1/p_l) steps (random phase per path) with weight m_l
* STITCH    EM with level 1 for steps n < switch_step and level k after
* DIAG      EM with level k, recording moments of f^l - f^{l-1} and f^l - f along the path
            (level l on a random fraction probs[l] of the path-steps: `diag_draws`)
* NOISE     X_{n+1} = X_n + g(t_n) dW_n only: the cost of drawing the path, the floor of a step

Lock-step blocks: threads take blocks of up to B paths; a block advances together with
its state stored component-major, X (d, m), so the drift, the noise update and the
random numbers are loops over the m paths that LLVM vectorises (docs/performance.md
shows the generated code). ML-EM gathers, per step and level, the paths whose
Bernoulli draws need that level, evaluates them together and scatters the values back.

Randomness is keyed by (seed, stream, global path index) and every path's arithmetic is
the same whatever its block, so results are bit-identical for any thread count, block
size and path count.
"""
from contextlib import contextmanager

import numpy as np
from numba import njit, prange, typeof

from .brownian import stream_chunk, stream_grid, stream_rows, stream_start
from .drift import MAX_LEVELS, is_cacheable, level_drift, problem_diffusion
from .rng import STREAM_BERNOULLI, stream_key, uniform, uniform_pair

EM, MLEM, DIAG, NOISE, STITCH, SCHEDULE = 0, 1, 2, 3, 4, 5
BLOWUP = 1e8  # |x| beyond this counts as an exploding path
# DIAG moments per level l, summed over steps: with D = f^l - f^{l-1}, Y = sum_c D_c / sqrt(d)
# (a fixed projection, for Giles-style mean / variance / kurtosis) and E = f^l - f:
DIAG_SQ, DIAG_Y1, DIAG_Y2, DIAG_Y3, DIAG_Y4, DIAG_ERR = 0, 1, 2, 3, 4, 5   # |D|^2, Y, Y^2, Y^3, Y^4, |E|^2
N_DIAG = 6
PHASE_COUNTER = 1 << 62   # Bernoulli-stream counters of the schedule phases (steps use n * MAX_LEVELS + l)
BLOCK = 64                # default paths per lock-step block (docs/performance.md: the block-size sweep)


def block_bytes(n_steps, dim, n_levels, m=BLOCK):
    """Bytes `run_block` allocates for one lock-step block of m paths (a thread holds one
    block at a time): the streamed Brownian path (`brownian.stream_grid`: normals scratch,
    coarse grid and one chunk, O(sqrt(n_steps)) per path), the level values (n_levels, d, m),
    five (d, m) work arrays and a few per-path ones."""
    coarse, chunk = stream_grid(n_steps)
    path = stream_rows(n_steps) + coarse + 1 + chunk + 1
    doubles = (path + n_levels + 5) * dim * m + (n_levels + 7) * m
    return 8 * doubles


@njit(inline="always")
def level_on(l, t, X, idx, cnt, prob, lad, scr, G, H, V):
    """V[:, idx[:cnt]] = f^l(t, X[:, idx[:cnt]]): gather, evaluate together, scatter.

    G and H are flat (d m) buffers; when every path of the block is needed the level is
    evaluated on X directly."""
    dim, m = X.shape
    whole = cnt == m
    Xg = X if whole else G[:dim * cnt].reshape((dim, cnt))
    Vg = V if whole else H[:dim * cnt].reshape((dim, cnt))
    if not whole:
        for c in range(dim):
            for j in range(cnt):
                Xg[c, j] = X[c, idx[j]]
    # one inlined call site (each is a full copy of the level's code: compile time)
    level_drift(l, t, Xg, prob, lad, scr, Vg)
    if not whole:
        for c in range(dim):
            for j in range(cnt):
                V[c, idx[j]] = Vg[c, j]


@njit(inline="always")
def evaluate_drawn(l, every, counted, t, X, drawn, idx, prob, lad, scr, G, H, V, cost, evals):
    """V = f^l on the paths that need it: all when `every`, else those with drawn[l] or
    drawn[l + 1] (a level serves two differences and is evaluated once); when `counted`,
    cost[b] and evals[b, l] count each evaluation. The one call site of `level_on` per
    kernel (each inlines a full copy of the level's code: compile time)."""
    m = X.shape[1]
    cnt = 0
    for b in range(m):
        if every or drawn[l, b] or drawn[l + 1, b]:
            idx[cnt] = b
            cnt += 1
    if cnt == 0:
        return
    level_on(l, t, X, idx, cnt, prob, lad, scr, G, H, V)
    if counted:
        cl = lad[1][l]
        for j in range(cnt):
            cost[idx[j]] += cl
            evals[idx[j], l] += 1


@njit(inline="always")
def mlem_draws(top, probs, bkeys, counter0, step, period, phase, drawn):
    """drawn[l, b] = B_l of path b for l = 2..top (drawn[top + 1] = False). Random
    (step < 0): B_l ~ Bernoulli(p_l) from uniform number counter0 + l of the path's stream
    bkeys[b]. Schedule (step >= 0): B_l = [(step + phase_l) mod period_l == 0]."""
    m = bkeys.shape[0]
    if step < 0:
        # uniforms counter0 + l and counter0 + l + 1 share a Philox block when the first is
        # even: draw both from one block (the same numbers as one at a time, half the work)
        l = 2
        while l <= top:
            i = counter0 + l
            if i % 2 == 0 and l < top:
                pa, pb = probs[l], probs[l + 1]
                q = np.uint64(i // 2)
                for b in range(m):
                    ua, ub = uniform_pair(bkeys[b], q)
                    drawn[l, b] = ua < pa
                    drawn[l + 1, b] = ub < pb
                l += 2
            else:
                pl = probs[l]
                for b in range(m):
                    drawn[l, b] = uniform(bkeys[b], i) < pl
                l += 1
    else:
        for l in range(2, top + 1):
            for b in range(m):
                drawn[l, b] = (step + phase[l, b]) % period[l] == 0
    for b in range(m):
        drawn[top + 1, b] = False


@njit(inline="always")
def mlem_combine(top, probs, step, period, vals, drawn, F):
    """F = f^1 + sum_{l=2..top} B_l w_l (f^l - f^{l-1}) from the evaluated levels;
    w_l = 1/p_l (random) or period_l (schedule)."""
    dim, m = F.shape
    for c in range(dim):
        for b in range(m):
            F[c, b] = vals[1, c, b]
    for l in range(2, top + 1):
        w = 1.0 / probs[l] if step < 0 else float(period[l])
        for c in range(dim):
            for b in range(m):
                if drawn[l, b]:
                    F[c, b] += w * (vals[l, c, b] - vals[l - 1, c, b])


@njit(inline="always")
def mlem_block(t, X, prob, lad, top, probs, bkeys, counter0, step, period, phase,
               vals, drawn, idx, scr, G, H, cost, evals, F):
    """F = the ML-EM drift estimate of every path of the block (one draw per path):
    `mlem_draws`, then level 1 always and level l >= 2 when B_l or B_{l+1} is drawn (a level
    needed by two terms is evaluated once, at the same point; cost[b] and evals[b, l] count
    the evaluations of path b), then `mlem_combine`. `run_block` composes the same three
    steps itself, sharing the evaluation loop with the diagnostics."""
    mlem_draws(top, probs, bkeys, counter0, step, period, phase, drawn)
    for l in range(1, top + 1):
        evaluate_drawn(l, l == 1, True, t, X, drawn, idx, prob, lad, scr, G, H, vals[l], cost, evals)
    mlem_combine(top, probs, step, period, vals, drawn, F)


@njit(inline="always")
def diag_draws(probs, bkeys, counter0, drawn):
    """drawn[l, b] for l >= 1: whether path b records level l's difference at this step,
    uniform number counter0 + l of its stream below probs[l] (always when probs[l] = 1,
    never when 0); drawn[L + 1] = False."""
    n_levels = probs.shape[0]
    m = bkeys.shape[0]
    for l in range(1, n_levels):
        pl = probs[l]
        for b in range(m):
            drawn[l, b] = pl >= 1.0 or (pl > 0.0 and uniform(bkeys[b], counter0 + l) < pl)
    for b in range(m):
        drawn[n_levels, b] = False


@njit(inline="always")
def diag_moments(probs, vals, drawn, diag_out, inv_sqrt_d):
    """Add this step's DIAG moments of every level l >= 1 to diag_out on the paths that drew
    it, weighted 1/probs[l] so that the sums stay unbiased (Horvitz-Thompson): the pilot
    measures an expensive level on a fraction of its path-steps."""
    n_levels, dim, m = vals.shape
    for l in range(1, n_levels):
        if probs[l] == 0.0:
            continue
        w = 1.0 / probs[l]
        for b in range(m):
            if not drawn[l, b]:
                continue
            s = 0.0
            y = 0.0
            e = 0.0
            for c in range(dim):
                r = vals[l, c, b] - vals[l - 1, c, b]
                s += r * r
                y += r
                q = vals[l, c, b] - vals[0, c, b]
                e += q * q
            y *= inv_sqrt_d
            d = diag_out[b, l]
            d[DIAG_SQ] += w * s
            d[DIAG_Y1] += w * y
            d[DIAG_Y2] += w * (y * y)
            d[DIAG_Y3] += w * (y * y * y)
            d[DIAG_Y4] += w * (y * y * y * y)
            d[DIAG_ERR] += w * e


@njit
def run_block(prob, lad, method, level, probs, x0, T, n_steps, seed, a,
              noisy, dW_given, col, share, switch_step, n_scratch, x_out, cost_out, evals_out, diag_out,
              fail_step):
    """Step paths a .. a + m - 1 (rows of x0 and of the outputs) in lock-step; see `simulate`.
    Given increments are rows col .. col + m - 1 of dW_given (n, n_steps, d)."""
    m, dim = x0.shape
    h = T / n_steps
    n_levels = lad[0].shape[0]
    cost_table = lad[1]
    use_given = dW_given.shape[0] > 0
    inv_sqrt_d = 1.0 / np.sqrt(dim)
    draw = noisy and not use_given
    # the block's Brownian motion, streamed (brownian.py): a coarse grid, then one chunk at a time
    coarse, chunk = stream_grid(n_steps)
    Z = np.empty((stream_rows(n_steps) * dim if draw else 0, m))
    Wc = np.empty((coarse + 1 if draw else 0, dim, m))
    W = np.empty((chunk + 1 if draw else 0, dim, m))
    wkeys = np.empty(m, dtype=np.uint64)
    if draw:
        stream_start(seed, a, m, T, wkeys, Z, Wc)
    X = np.empty((dim, m))
    for c in range(dim):
        for b in range(m):
            X[c, b] = x0[b, c]
    F = np.zeros((dim, m))
    dW = np.zeros((dim, m))
    use_vals = method == MLEM or method == SCHEDULE or method == DIAG
    vals = np.empty((n_levels if use_vals else 0, dim, m))
    drawn = np.zeros((n_levels + 1, m), dtype=np.bool_)
    idx = np.empty(m, dtype=np.int64)
    G = np.empty(dim * m)
    H = np.empty(dim * m)
    scr = np.empty(n_scratch)
    cost = np.zeros(m)
    failed = np.zeros(m, dtype=np.int64)
    bkeys = np.empty(m, dtype=np.uint64)
    for b in range(m):
        bkeys[b] = stream_key(seed, STREAM_BERNOULLI, (a + b) // share)
    period = np.ones(n_levels, dtype=np.int64)
    phase = np.zeros((n_levels, m), dtype=np.int64)
    if method == SCHEDULE:
        for l in range(2, level + 1):
            period[l] = max(1, int(np.round(1.0 / probs[l])))
            for b in range(m):
                phase[l, b] = int(uniform(bkeys[b], PHASE_COUNTER + l) * period[l])
    n_failed = 0
    for n in range(n_steps):
        t = n * h
        if use_vals:
            # ML-EM (`mlem_block`'s three steps) and the diagnostics share one evaluation
            # loop: one inlined copy of the level code (compile time)
            step = n if method == SCHEDULE else -1
            if method == DIAG:
                diag_draws(probs, bkeys, n * MAX_LEVELS, drawn)
                first, last = 0, n_levels - 1     # level 0 on every path, counted below as EM's
            else:
                mlem_draws(level, probs, bkeys, n * MAX_LEVELS, step, period, phase, drawn)
                first, last = 1, level
            for l in range(first, last + 1):
                evaluate_drawn(l, l == first, l > 0, t, X, drawn, idx, prob, lad, scr, G, H, vals[l], cost,
                               evals_out)
            if method == DIAG:
                diag_moments(probs, vals, drawn, diag_out, inv_sqrt_d)
            else:
                mlem_combine(level, probs, step, period, vals, drawn, F)
        if method != MLEM and method != SCHEDULE and method != NOISE:
            lv = 1 if (method == STITCH and n < switch_step) else level
            level_drift(lv, t, X, prob, lad, scr, F)
            cl = cost_table[lv]
            for b in range(m):
                cost[b] += cl
                evals_out[b, lv] += 1
        if noisy:
            if use_given:
                for c in range(dim):
                    for b in range(m):
                        dW[c, b] = dW_given[col + b, n, c]
            else:
                r = n % chunk
                if r == 0:
                    stream_chunk(wkeys, T, n_steps, n // chunk, Wc, Z, W)
                for c in range(dim):
                    w0 = W[r, c]
                    w1 = W[r + 1, c]
                    for b in range(m):
                        dW[c, b] = w1[b] - w0[b]
        g = problem_diffusion(t, prob)
        for c in range(dim):
            for b in range(m):
                X[c, b] += h * F[c, b] + g * dW[c, b]
        # explosion check: one branch per path and step, off the vectorised update
        for b in range(m):
            if failed[b] == 0:
                for c in range(dim):
                    if not (abs(X[c, b]) < BLOWUP):
                        failed[b] = n + 1
                        n_failed += 1
                        break
        if n_failed == m:
            break
    for b in range(m):
        fail_step[b] = failed[b]
        cost_out[b] = cost[b]
        for c in range(dim):
            x_out[b, c] = X[c, b] if failed[b] == 0 else np.nan


def simulate(prob, lad, method, level, probs, x0, T, n_steps, seed, path_offset,
             noisy, dW_given, share, switch_step, block, n_scratch, x_out, cost_out, evals_out, diag_out,
             fail_step):
    """Step paths path_offset .. path_offset + len(x0) - 1 from x0 to time T.

    prob: the problem's kernel tuple (numerics/drift.py); lad: the ladder's kernel arrays.
    share: paths per Bernoulli pattern (MLEM; 1 = independent per path).
    switch_step: first step that uses level `level` (STITCH; level 1 before).
    block: paths per lock-step block; n_scratch: `drift.scratch_size(lad, d, block)`.
    Outputs (filled): x_out (n, d) terminal states, cost_out (n,) counted cost,
    evals_out (n, L+1) evaluations per level, diag_out (n, L+1, N_DIAG) (DIAG only),
    fail_step (n,) 0 or the step at which the path became non-finite or exploded.
    dW_given is (n, n_steps, d) to use given increments, or (0, 0, 0) to draw them (read in
    place: a path-minor copy would cost more than the solve, measured).
    """
    n_paths = x0.shape[0]
    n_blocks = (n_paths + block - 1) // block
    for k in prange(n_blocks):
        a = k * block
        e = min(a + block, n_paths)
        run_block(prob, lad, method, level, probs, x0[a:e], T, n_steps, seed,
                  path_offset + a, noisy, dW_given, a, share, switch_step,
                  n_scratch, x_out[a:e], cost_out[a:e], evals_out[a:e], diag_out[a:e], fail_step[a:e])


def estimator_draws(prob, lad, top, probs, t, x, seed, n_draws, n_scratch, out):
    """n_draws independent ML-EM drift estimates at one point (tests, diagnostics): draw j
    uses the uniforms number j * MAX_LEVELS + l of stream (seed, STREAM_BERNOULLI, 0)."""
    n_levels = lad[0].shape[0]
    dim = x.shape[0]
    X = np.empty((dim, 1))
    for c in range(dim):
        X[c, 0] = x[c]
    F = np.empty((dim, 1))
    vals = np.empty((n_levels, dim, 1))
    drawn = np.zeros((n_levels + 1, 1), dtype=np.bool_)
    idx = np.empty(1, dtype=np.int64)
    G = np.empty(dim)
    H = np.empty(dim)
    scr = np.empty(n_scratch)
    cost = np.zeros(1)
    evals = np.zeros((1, n_levels), dtype=np.int64)
    period = np.ones(n_levels, dtype=np.int64)
    phase = np.zeros((n_levels, 1), dtype=np.int64)
    bkeys = np.empty(1, dtype=np.uint64)
    bkeys[0] = stream_key(seed, STREAM_BERNOULLI, 0)
    for j in range(n_draws):
        mlem_block(t, X, prob, lad, top, probs, bkeys, j * MAX_LEVELS, -1, period, phase,
                   vals, drawn, idx, scr, G, H, cost, evals, F)
        for c in range(dim):
            out[j, c] = F[c, 0]
    return cost[0] / n_draws


@njit(cache=True)
def sample_uniforms(seed, samples, step, n_levels, out):
    """out[i, l] = the uniform that draws B_l of sample samples[i] at step `step`, for
    l = 0 .. n_levels - 1: number step * MAX_LEVELS + l of stream (seed, STREAM_BERNOULLI,
    samples[i]), the numbers the kernels above draw for path samples[i] at that step.
    The torch samplers draw per sample from here, so a sample's draws depend on its index
    and not on the batch it is evaluated in."""
    for i in range(samples.shape[0]):
        key = stream_key(seed, STREAM_BERNOULLI, samples[i])
        for l in range(n_levels):
            out[i, l] = uniform(key, step * MAX_LEVELS + l)


def per_sample_uniforms(seed, samples, step, n_levels):
    """(len(samples), n_levels) uniforms of `sample_uniforms` (Python entry: validates)."""
    samples = np.ascontiguousarray(samples, dtype=np.int64)
    if samples.ndim != 1 or (samples.size and samples.min() < 0):
        raise ValueError("samples: a 1-D array of non-negative sample indices")
    if not 0 < n_levels <= MAX_LEVELS:
        raise ValueError(f"n_levels = {n_levels}: between 1 and {MAX_LEVELS}")
    if step < 0:
        raise ValueError(f"step = {step}: a non-negative step number")
    out = np.empty((samples.size, n_levels))
    sample_uniforms(np.int64(seed), samples, np.int64(step), np.int64(n_levels), out)
    return out


def evaluate_level(prob, lad, level, t, x, n_scratch, out):
    """out[i] = f^level(t[i], x[i]) for points (t (n,), x (n, d)); points sharing a time
    are evaluated as one block."""
    n, dim = x.shape
    scr = np.empty(n_scratch)
    i = 0
    while i < n:
        j = i + 1
        while j < n and t[j] == t[i]:
            j += 1
        X = np.empty((dim, j - i))
        V = np.empty((dim, j - i))
        for c in range(dim):
            for b in range(j - i):
                X[c, b] = x[i + b, c]
        level_drift(level, t[i], X, prob, lad, scr, V)
        for c in range(dim):
            for b in range(j - i):
                out[i + b, c] = V[c, b]
        i = j


class TwinKernel:
    """One kernel body behind two dispatchers: cached on disk for built-in problems (no
    function among the arguments: `drift.is_cacheable`), compiled in each process for user
    problems, whose jitted functions are arguments (Numba cannot cache those)."""

    def __init__(self, py_func, **options):
        self.py_func = py_func
        self.cached = njit(cache=True, **options)(py_func)
        self.per_process = njit(**options)(py_func)
        self.__doc__ = py_func.__doc__

    def dispatcher(self, prob):
        """The dispatcher that runs this problem tuple."""
        return self.cached if is_cacheable(prob) else self.per_process

    def __call__(self, prob, *args):
        dispatcher = self.dispatcher(prob)
        if COMPILE_ONLY[0]:
            dispatcher.compile(tuple(typeof(a) for a in (prob, *args)))
            return None
        return dispatcher(prob, *args)


# set inside `compile_only()`: entry points compile for their arguments' types and return None
COMPILE_ONLY = [False]


@contextmanager
def compile_only():
    """Inside, the entry points compile (into the cache) without running: outputs stay unfilled,
    so whatever the Python around them returns is meaningless (`perf.warm` uses it)."""
    COMPILE_ONLY[0] = True
    try:
        yield
    finally:
        COMPILE_ONLY[0] = False


simulate = TwinKernel(simulate, parallel=True)
estimator_draws = TwinKernel(estimator_draws)
evaluate_level = TwinKernel(evaluate_level)
# the entry points Python calls (tests read their compile statistics)
ENTRY_POINTS = (simulate, estimator_draws, evaluate_level)
