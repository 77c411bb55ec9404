"""Speed ratios measured in one run (`mlem-bench bench`): the machine is shared and noisy,
so every figure is a ratio of two timings taken back to back, each the minimum of repeats.

* the generator alone: normals per second per thread against NumPy's PCG64 ziggurat;
* EM kernel against the floor of drawing the same Brownian increments in the same kernel;
* EM kernel against a vectorised NumPy EM (PCG64 normals) on the same problem;
* 2 threads against 1;
* ML-EM's time per drift evaluation against EM's (its overhead: Bernoulli draws, bookkeeping);
* learned levels: ns per evaluation of an MLP inside ML-EM, by width;
* with the real-work ladder, ML-EM's wall-clock speed-up over EM against its counted-cost one.
"""
import tempfile
import time

import numba
import numpy as np
import pandas as pd

from ..analysis.rates import matched_speedup, pooled
from ..ladders.synthetic import SyntheticLadder
from ..numerics.learned_kernel import LearnedArrays
from ..numerics.rng import fill_normals, stream_key
from ..numerics.solve import solve
from ..problems import OrnsteinUhlenbeck
from ..sweep.driver import run_sweep
from ..sweep.spec import Case, Sweep


def best_time(fn, repeats=3):
    """Minimum wall time of fn() over repeats (the first call is a warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def numpy_em_ou(problem, n_steps, n_paths, seed):
    """A well-written vectorised NumPy EM for OU: one matrix product and one normal draw per step."""
    rng = np.random.default_rng(seed)
    h = problem.T / n_steps
    step = (np.eye(problem.dim) - h * problem.theta).T
    noise = problem.sigma * np.sqrt(h)
    x = np.tile(problem.x0, (n_paths, 1))
    for _ in range(n_steps):
        x = x @ step + noise * rng.standard_normal((n_paths, problem.dim))
    return x


def generator_rate(count=4_000_000, repeats=3):
    """Normals per second on one thread: the project's generator against NumPy's default
    (PCG64 + ziggurat), both filling a preallocated array."""
    out = np.empty(count)
    key = np.uint64(stream_key(0, 0, 0))
    rng = np.random.default_rng(0)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        ours = best_time(lambda: fill_normals(key, out), repeats)
    finally:
        numba.set_num_threads(threads)
    theirs = best_time(lambda: rng.standard_normal(out=out), repeats)
    return pd.DataFrame([{"normals": count, "ours_M_per_s": count / ours / 1e6,
                          "numpy_M_per_s": count / theirs / 1e6, "ours_over_numpy": theirs / ours}])


class RandomMLPLadder:
    """A learned-ladder stand-in with random weights (no torch): every level one MLP of
    `width` (depth 2, the learned ladders' input features), for timing inference."""

    def __init__(self, dim, width, levels=3, n_freq=3, seed=0):
        rng = np.random.default_rng(seed)
        self.levels, self.gamma = levels, float("nan")
        sizes = [(dim + 1 + 2 * n_freq, width), (width, width), (width, dim)]
        layout = np.zeros((levels + 1, len(sizes) + 1, 4), dtype=np.int64)
        chunks, off = [], 0
        for lv in range(1, levels + 1):
            layout[lv, 0] = (len(sizes), width, 0, 0)
            for j, (i, o) in enumerate(sizes, start=1):
                layout[lv, j] = (off, off + i * o, i, o)
                chunks += [rng.normal(size=i * o) / np.sqrt(i), 0.1 * rng.normal(size=o)]
                off += i * o + o
        macs = float(sum(i * o for i, o in sizes))
        self._arrays = LearnedArrays(0.5 ** np.arange(levels + 1), np.full(levels + 1, macs),
                                     np.concatenate(chunks), layout,
                                     np.concatenate([[float(n_freq)], np.zeros(dim), [1.0]]))

    def arrays(self, dim):
        return self._arrays


def learned_inference(widths=(8, 256), n_paths=4000, n_steps=64, repeats=3):
    """ns per evaluation of a width-w MLP level inside ML-EM (one thread) on the 1-D mixture."""
    from ..problems import GaussianMixtureReverse
    p = GaussianMixtureReverse([0.3, 0.7], [[-1.0], [1.0]], [0.3, 0.5])
    probs = np.array([1.0, 1.0, 0.5, 0.5])
    rows = []
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for w in widths:
            lad = RandomMLPLadder(1, w)
            paths = max(64, n_paths * 8 // w) if w > 8 else n_paths
            ev = solve(p, lad, "mlem", 3, n_steps, paths, 0, probs=probs).evals.sum()
            t = best_time(lambda: solve(p, lad, "mlem", 3, n_steps, paths, 0, probs=probs), repeats)
            macs = lad.arrays(1).cost[1]
            rows.append({"width": w, "macs": macs, "ns_per_eval": t / ev * 1e9, "gflops": 2 * macs * ev / t / 1e9})
    finally:
        numba.set_num_threads(threads)
    return pd.DataFrame(rows)


def kernel_ratios(dims=(1, 4), n_paths=100_000, n_steps=1024, repeats=3):
    """Throughputs (path-steps/s) and ratios for EM on OU; one row per dimension."""
    rows = []
    for d in dims:
        p = OrnsteinUhlenbeck(d)
        em = best_time(lambda: solve(p, None, "em", 0, n_steps, n_paths, 0), repeats)
        floor = best_time(lambda: solve(p, None, "noise", 0, n_steps, n_paths, 0), repeats)
        npy = best_time(lambda: numpy_em_ou(p, n_steps, n_paths, 0), max(1, repeats - 1))
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            em1 = best_time(lambda: solve(p, None, "em", 0, n_steps, n_paths, 0), repeats)
        finally:
            numba.set_num_threads(threads)
        work = n_paths * n_steps
        rows.append({"dim": d, "paths": n_paths, "steps": n_steps, "threads": threads,
                     "em_Mps": work / em / 1e6, "floor_Mps": work / floor / 1e6, "numpy_Mps": work / npy / 1e6,
                     "em_over_floor": em / floor, "em_speedup_vs_numpy": npy / em, "threads_speedup": em1 / em})
    return pd.DataFrame(rows)


def mlem_overhead(n_paths=20_000, n_steps=256, level=6, repeats=3):
    """ML-EM's wall time per drift evaluation over EM's, same problem, ladder and steps.

    `overhead` compares the time spent beyond the Brownian floor (method "noise") per
    evaluation, so it isolates what the estimator adds: Bernoulli draws and bookkeeping.
    `overhead_total` compares whole-run time per evaluation (ML-EM amortises the per-step
    noise over its several evaluations, so this one flatters it).
    """
    p = OrnsteinUhlenbeck(2)
    lad = SyntheticLadder(gamma=2.5, levels=level, eps1=1.0)
    probs = np.full(level + 1, 0.3)
    n_em = solve(p, lad, "em", level, n_steps, n_paths, 0).evals.sum()
    n_ml = solve(p, lad, "mlem", level, n_steps, n_paths, 0, probs=probs).evals.sum()
    t_em = best_time(lambda: solve(p, lad, "em", level, n_steps, n_paths, 0), repeats)
    t_ml = best_time(lambda: solve(p, lad, "mlem", level, n_steps, n_paths, 0, probs=probs), repeats)
    t_0 = best_time(lambda: solve(p, lad, "noise", level, n_steps, n_paths, 0), repeats)
    return pd.DataFrame([{"evals_per_step_em": n_em / (n_paths * n_steps),
                          "evals_per_step_mlem": n_ml / (n_paths * n_steps),
                          "ns_per_eval_em": t_em / n_em * 1e9, "ns_per_eval_mlem": t_ml / n_ml * 1e9,
                          "overhead": ((t_ml - t_0) / n_ml) / ((t_em - t_0) / n_em) - 1,
                          "overhead_total": (t_ml / n_ml) / (t_em / n_em) - 1}])


def real_work_speedup(work_per_unit=200.0, n_paths=200):
    """Counted-cost and wall-clock speed-ups of ML-EM over EM on a real-work ladder."""
    case = Case("real-work-ou-1d", OrnsteinUhlenbeck(1),
                SyntheticLadder(gamma=2.5, levels=7, eps1=1.0, work_per_unit=work_per_unit),
                Sweep(eps=[0.1, 0.05, 0.025, 0.0125], n_paths=n_paths, pilot_paths=50))
    with tempfile.TemporaryDirectory() as d:
        res = run_sweep([case], d, progress=False)["results"]
    keys = ["case", "method", "config"]
    wall = (res.groupby(keys).wall_s.mean() / n_paths).rename("wall").reset_index()
    pts = pooled(res).merge(wall, on=keys, validate="one_to_one")
    em, ml = pts[pts.method == "em"], pts[pts.method == "mlem"]
    common, _, _, counted = matched_speedup(em.error, em.cost, ml.error, ml.cost)
    wall = matched_speedup(em.error, em.wall, ml.error, ml.wall)[3]
    return pd.DataFrame([{"common_error": common, "counted_speedup": counted,
                          "wall_speedup": wall, "wall_over_counted": wall / counted}])


def run_all(quick=False):
    """Yield (name, table) for every ratio; quick shrinks the sizes (smoke runs), not the method."""
    if quick:
        yield "generator", generator_rate(count=200_000, repeats=1)
        yield "kernel", kernel_ratios(dims=(1,), n_paths=5000, n_steps=256, repeats=1)
        yield "learned", learned_inference(widths=(8,), n_paths=256, n_steps=16, repeats=1)
        yield "mlem_overhead", mlem_overhead(n_paths=2000, n_steps=64, repeats=1)
        yield "real_work", real_work_speedup(work_per_unit=5.0, n_paths=100)   # the pilot burns it at every level
        return
    yield "generator", generator_rate()
    yield "kernel", kernel_ratios()
    yield "learned", learned_inference()
    yield "mlem_overhead", mlem_overhead()
    yield "real_work", real_work_speedup()
