"""Lock-step blocks, learned inference and the generator alone (compilation in setup)."""
import numpy as np

from mlem_bench.numerics.solve import solve
from mlem_bench.problems import GaussianMixtureReverse, OrnsteinUhlenbeck

TIMEOUT = 300   # setup compiles the kernel (tens of seconds on a busy 2-core machine)


class BlockSize:
    """EM on OU, 20000 paths x 256 steps, over the paths per lock-step block and dimension."""
    timeout = TIMEOUT

    params = ([1, 16, 64, 256], [1, 4])
    param_names = ["block", "dim"]

    def setup(self, block, dim):
        self.problem = OrnsteinUhlenbeck(dim)
        solve(self.problem, None, "em", 0, 8, 4, 0, block_size=block)

    def time_em(self, block, dim):
        solve(self.problem, None, "em", 0, 256, 20000, 0, block_size=block)


class LearnedInference:
    """ML-EM on the 1-D mixture with an MLP of the given width at every level (random
    weights), p = 1/2 on levels 2, 3; 4000 paths x 64 steps x 8 / width."""
    timeout = TIMEOUT

    params = [8, 64, 256]
    param_names = ["width"]

    def setup(self, width):
        from mlem_bench.perf.bench import RandomMLPLadder
        self.problem = GaussianMixtureReverse([0.3, 0.7], [[-1.0], [1.0]], [0.3, 0.5])
        self.ladder = RandomMLPLadder(1, width)
        self.probs = np.array([1.0, 1.0, 0.5, 0.5])
        self.paths = max(64, 4000 * 8 // width)
        solve(self.problem, self.ladder, "mlem", 3, 8, 8, 0, probs=self.probs)

    def time_mlem(self, width):
        solve(self.problem, self.ladder, "mlem", 3, 64, self.paths, 0, probs=self.probs)


class Generator:
    """One stream of 10^6 normals (fill_normals), one thread's work."""

    def setup(self):
        from mlem_bench.numerics.rng import fill_normals, stream_key
        self.fill, self.key, self.out = fill_normals, np.uint64(stream_key(0, 0, 0)), np.empty(1_000_000)
        self.fill(self.key, self.out[:8])

    def time_fill_normals(self):
        self.fill(self.key, self.out)
