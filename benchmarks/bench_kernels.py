"""Wall-clock time of the EM and ML-EM kernels (compilation happens in setup, never timed)."""
import numpy as np

from mlem_bench.ladders import SyntheticLadder
from mlem_bench.problems import GaussianMixtureReverse, OrnsteinUhlenbeck
from mlem_bench.solve import solve

LEVEL = 6


def make_problem(family):
    if family == "ou":
        return OrnsteinUhlenbeck(2)
    return GaussianMixtureReverse([0.3, 0.7], [[-1.0, 0.5], [1.0, -0.5]], [0.3, 0.5])


class Kernels:
    """2000 paths x 256 steps; ML-EM with p_l = 0.25 on levels 2..6."""

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
