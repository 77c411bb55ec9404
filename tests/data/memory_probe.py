"""Peak memory of one large solve against the memory guard's estimate of it, printed as JSON
(tests/sweep/test_memory_estimate.py runs it in a fresh process with two Numba threads)."""
import json
import resource

from mlem_bench.numerics.solve import solve
from mlem_bench.problems import OrnsteinUhlenbeck
from mlem_bench.sweep.resources import solve_bytes

N_STEPS, N_PATHS, DIM = 2**18, 128, 2
problem = OrnsteinUhlenbeck(DIM)
solve(problem, None, "em", 0, 8, 4, 0)            # loads the kernel: not part of the solve's memory
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
solve(problem, None, "em", 0, N_STEPS, N_PATHS, 0)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"measured": after - before, "estimate": solve_bytes(N_PATHS, N_STEPS, DIM, 1)}))
