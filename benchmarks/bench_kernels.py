"""Wall-clock time of the EM and ML-EM kernels (compilation happens in setup, never timed)."""
import numpy as np

from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.problems import GaussianMixtureReverse, OrnsteinUhlenbeck
from mlem_bench.numerics.solve import solve

LEVEL = 6


def make_problem(family):
    if family == "ou":
        return OrnsteinUhlenbeck(2)
    return GaussianMixtureReverse([0.3, 0.7], [[-1.0, 0.5], [1.0, -0.5]], [0.3, 0.5])


# setup compiles the kernel for the problem family: 20-60 s on a busy 2-core machine, more
# than asv's default 60 s timeout, which covers setup
TIMEOUT = 300


class Kernels:
    """2000 paths x 256 steps; ML-EM with p_l = 0.25 on levels 2..6."""
    timeout = TIMEOUT

    params = (["ou", "gmm-sde"], ["em", "mlem"])
    param_names = ["family", "method"]

    def setup(self, family, method):
        self.problem = make_problem(family)
        self.ladder = SyntheticLadder(gamma=2.5, levels=8, eps1=1.0)
        self.probs = np.full(self.ladder.levels + 1, 0.25)
        self.run(method, 16, 8)  # compile outside the timed region

    def run(self, method, n_paths, n_steps):
        return solve(self.problem, self.ladder, method, LEVEL, n_steps, n_paths, 0, probs=self.probs)

    def time_solve(self, family, method):
        self.run(method, 2000, 256)



class Floor(Kernels):
    """The same kernel drawing the Brownian increments only: the floor of an EM step."""

    params = (["ou"], ["noise"])


def _size(size):
    n_paths, n_steps = size.split("x")
    return int(n_paths), int(n_steps)


class Scaling:
    """EM on OU over dimension and size (paths x steps); ML-EM over the number of levels.
    (Every parameter combination is a fresh process that compiles the kernel: few of them.)"""
    timeout = TIMEOUT

    params = ([1, 4], ["1000x64", "10000x512"])
    param_names = ["dim", "paths x steps"]

    def setup(self, dim, size):
        self.problem = OrnsteinUhlenbeck(dim)
        solve(self.problem, None, "em", 0, 8, 4, 0)  # compile outside the timed region

    def time_em(self, dim, size):
        n_paths, n_steps = _size(size)
        solve(self.problem, None, "em", 0, n_steps, n_paths, 0)


class Levels:
    """ML-EM on the mixture SDE with k levels, p_l = 2^-(l-1) (2000 paths x 256 steps)."""
    timeout = TIMEOUT

    params = [4, 12]
    param_names = ["levels"]

    def setup(self, levels):
        self.problem = make_problem("gmm-sde")
        self.ladder = SyntheticLadder(gamma=2.5, levels=levels, eps1=1.0)
        self.probs = 2.0 ** -np.arange(levels + 1.0)
        solve(self.problem, self.ladder, "mlem", levels, 8, 16, 0, probs=self.probs)

    def time_mlem(self, levels):
        solve(self.problem, self.ladder, "mlem", levels, 256, 2000, 0, probs=self.probs)


class Memory:
    """Peak memory of a solve: paths are streamed in lock-step blocks (a block's Brownian
    path lives in its thread only: block x steps x d per thread), so memory grows with
    paths + steps, never with paths x steps (20x the paths and 32x the steps here; the
    ~430 MB baseline is the interpreter and LLVM)."""
    timeout = TIMEOUT

    params = ["1000x64", "20000x2048"]
    param_names = ["paths x steps"]

    def setup(self, size):
        self.problem = OrnsteinUhlenbeck(2)
        solve(self.problem, None, "em", 0, 8, 4, 0)

    def peakmem_em(self, size):
        n_paths, n_steps = _size(size)
        solve(self.problem, None, "em", 0, n_steps, n_paths, 0)
