"""Fill the on-disk kernel cache for every built-in problem and ladder kind, in parallel.

The kernels are compiled once per (problem kind, ladder kind): one `simulate` serves every
method, step count and path count. Compiling takes tens of seconds each; cached
(`numerics.jit_cache`), a new process loads them in well under a second. `make test` and
`make bench-quick` run `mlem-bench warm` first, so that the processes they start (xdist
workers, asv benchmarks, Dask workers, the CLI in a subprocess) load rather than compile.
"""
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..ladders.synthetic import SyntheticLadder
from ..numerics import kernels, learned_kernel
from ..numerics.solve import estimator_draws, evaluate_level, solve
from ..problems import GaussianMixtureReverse, OrnsteinUhlenbeck


class LearnedShape:
    """A stand-in learned ladder of one level: kernel arrays of the learned kind's types,
    enough to compile for (nothing is run while compiling only)."""

    levels = 1

    def arrays(self, dim):
        layout = np.zeros((2, 2, 4), dtype=np.int64)
        return learned_kernel.LearnedArrays(np.ones(2), np.ones(2), np.zeros(1), layout, np.zeros(dim + 2))


def builtin_pairs():
    """(name, problem, ladder) of every built-in problem kind with every ladder kind it takes."""
    ou = OrnsteinUhlenbeck(1)
    mixture = GaussianMixtureReverse([1.0], [[0.0]], [1.0])
    synthetic = SyntheticLadder(gamma=2.5, levels=2, eps1=1.0, seed=0)
    # the longest compile first, so that two processes finish together
    return [("mixture x learned", mixture, LearnedShape()), ("ou x synthetic", ou, synthetic),
            ("mixture x synthetic", mixture, synthetic)]


def compile_pair(index):
    """Compile every entry point for builtin_pairs()[index]; returns (name, seconds, compiled)."""
    name, problem, ladder = builtin_pairs()[index]
    t0 = time.perf_counter()
    before = sum(len(k.cached.stats.cache_misses) for k in kernels.ENTRY_POINTS)
    with kernels.compile_only():
        solve(problem, ladder, "mlem", 1, problem.min_steps, 1, 0)
        estimator_draws(problem, ladder, 1, None, 0.0, np.zeros(problem.dim), 0, 1)
        evaluate_level(problem, ladder, 1, 0.0, np.zeros((1, problem.dim)))
    if index == 1:
        # the torch samplers' per-sample draws (sampling.MultilevelModel): one small kernel
        kernels.per_sample_uniforms(0, np.zeros(1, dtype=np.int64), 0, 1)
    compiled = sum(len(k.cached.stats.cache_misses) for k in kernels.ENTRY_POINTS) - before
    return name, time.perf_counter() - t0, compiled


def warm(jobs=2, log=print):
    """Compile (or load) the kernels of every built-in pair in `jobs` processes; returns seconds."""
    t0 = time.perf_counter()
    n = len(builtin_pairs())
    if jobs <= 1:
        done = map(compile_pair, range(n))
    else:
        pool = ProcessPoolExecutor(max_workers=min(jobs, n))
        done = pool.map(compile_pair, range(n))
    for name, seconds, compiled in done:
        log(f"kernels {name}: {'compiled' if compiled else 'loaded from the cache'} in {seconds:.1f} s")
    if jobs > 1:
        pool.shutdown()
    return time.perf_counter() - t0
