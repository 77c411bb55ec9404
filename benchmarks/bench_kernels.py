"""Smoke benchmarks of the EM and ML-EM kernels on OU (compilation happens in setup)."""
import numpy as np

from mlem_bench.ladders import SyntheticLadder
from mlem_bench.problems import OrnsteinUhlenbeck
from mlem_bench.solve import solve


class OUKernels:
    params = ([2], ["em", "mlem"])
    param_names = ["dim", "method"]

    def setup(self, dim, method):
        self.problem = OrnsteinUhlenbeck(dim)
        self.ladder = SyntheticLadder(gamma=2.5, levels=8, eps1=0.5)
        self.probs = np.full(self.ladder.levels + 1, 0.25)
        self.run(method, 16, 8)  # compile outside the timed region

    def run(self, method, n_paths, n_steps):
        return solve(self.problem, self.ladder, method, 6, n_steps, n_paths, 0, probs=self.probs)

    def time_solve(self, dim, method):
        self.run(method, 2000, 256)

    def track_top_level_evals(self, dim, method):
        return float(self.run(method, 2000, 256).evals[:, 6].mean())

    track_top_level_evals.unit = "evaluations per path"
