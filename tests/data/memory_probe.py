"""Peak memory of one large solve against the memory guard's estimate of it, printed as JSON
(tests/sweep/test_memory_estimate.py runs it in a fresh process with two Numba threads)."""
import json
from pathlib import Path

from mlem_bench.numerics.solve import solve
from mlem_bench.problems import OrnsteinUhlenbeck
from mlem_bench.sweep.resources import solve_bytes

N_STEPS, N_PATHS, DIM = 2**22, 128, 2


def peak_resident_bytes():
    """This process image's peak resident size (VmHWM). Not getrusage's ru_maxrss: on Linux
    that keeps the peak of the process before its exec, e.g. of a large pytest worker."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak():
    """Reset VmHWM to the current resident size (Linux >= 4.0): a compile before the solve
    (an empty kernel cache) must not hide the solve's own peak under its own."""
    Path("/proc/self/clear_refs").write_text("5")
    return peak_resident_bytes()


problem = OrnsteinUhlenbeck(DIM)
solve(problem, None, "em", 0, 8, 4, 0)            # loads the kernel: not part of the solve's memory
before = reset_peak()
solve(problem, None, "em", 0, N_STEPS, N_PATHS, 0)
after = peak_resident_bytes()
print(json.dumps({"measured": after - before, "estimate": solve_bytes(N_PATHS, N_STEPS, DIM, 1)}))
