"""Memory the sweep of a case needs, estimated from its spec, and the guard that refuses a
sweep over a limit before it starts (instead of letting the machine swap).

The estimate counts the arrays that grow with the spec: paths x dimension (states,
references, exact samples, per-level counters), each thread's lock-step block (its streamed
Brownian path, O(sqrt(steps)) x dimension x paths of the block), an OU problem's dim x dim
matrices and its exact reference's (steps x dim x dim) Haar coefficients, and the synthetic
ladder's Fourier arrays. It is
an estimate (within a small factor), not a measurement: the limit is a guard against
specs that could never fit, not an accounting.
"""
import os

from ..errors import SpecError
from ..ladders.synthetic import SyntheticLadder
from ..numerics.kernels import BLOCK, N_DIAG, block_bytes

FLOAT = 8
GIB = 2**30


def default_limit():
    """Half of the machine's physical memory (8 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * GIB


def threads():
    """Threads the kernels run on (each holds one lock-step block's Brownian path)."""
    try:
        import numba
        return int(numba.config.NUMBA_NUM_THREADS)
    except (ImportError, AttributeError):
        return os.cpu_count() or 1


def solve_bytes(n_paths, n_steps, dim, levels, diag=False):
    """One solve: terminal states, costs, per-level counters (and diagnostics), and what
    each thread's lock-step block allocates (`kernels.block_bytes`: its streamed Brownian
    path, O(sqrt(n_steps)) doubles per path of the block)."""
    per_path = dim + 2 + (levels + 1) * (1 + (N_DIAG if diag else 0))
    block = min(BLOCK, int(n_paths))
    return FLOAT * n_paths * per_path + min(threads(), -(-int(n_paths) // block)) * block_bytes(
        n_steps, dim, levels + 1, block)


def reference_bytes(problem, n_paths, n_steps):
    """A reference on n_steps: the OU Haar series holds (n_steps, dim, dim) coefficients
    twice and each thread one path's n_steps d normals; a fine-grid reference is two solves."""
    d = problem.dim
    if problem.family == "ou":
        return FLOAT * (2 * n_steps * d * d + threads() * n_steps * d + n_paths * d)
    return 2 * solve_bytes(n_paths, n_steps, d, 0)


def fixed_bytes(case):
    """What a case holds whatever it runs: the problem's matrices and the ladder's arrays."""
    d, lad = case.problem.dim, case.ladder
    total = FLOAT * 12 * d * d if case.problem.family == "ou" else 0
    if isinstance(lad, SyntheticLadder):
        total += FLOAT * 3 * (lad.levels + 1) * lad.n_features * (d + 1)
    return total


def plan_bytes(case):
    """Peak of the plan stage: the calibration pilot (its reference on 16 x its grid, a
    diagnostic solve and a few per-level solves) and the weak-error floors."""
    p, sw, lad = case.problem, case.sweep, case.ladder
    n1 = 4 * max(int(getattr(p, "min_steps", 16)), 16)
    pilot = reference_bytes(p, sw.pilot_paths, 16 * n1) + solve_bytes(sw.pilot_paths, n1, p.dim, lad.levels, True) \
        + 2 * solve_bytes(sw.pilot_paths, n1, p.dim, lad.levels)
    floors = 3 * FLOAT * sw.n_paths * p.dim
    return fixed_bytes(case) + max(pilot, floors)


def cell_bytes(case, ref_steps):
    """Peak of one cell: its reference on ref_steps, the run itself and the exact samples."""
    p, sw, lad = case.problem, case.sweep, case.ladder
    run = solve_bytes(sw.n_paths, ref_steps, p.dim, lad.levels)
    return fixed_bytes(case) + reference_bytes(p, sw.n_paths, ref_steps) + run + 2 * FLOAT * sw.n_paths * p.dim


def human(n):
    return f"{n / GIB:.3g} GiB" if n >= GIB / 10 else f"{n / 2**20:.3g} MiB"


def check_memory(cases, limit, ref_steps=None):
    """Refuse (SpecError naming the case, the estimate and the limit) a sweep whose plan,
    or whose cells with the reference grid `ref_steps` = {case name: steps} once the plans
    fix it, would need more than `limit` bytes. Before the plans, the reference grid is
    bounded below by [sweep].ref_factor x the pilot's grid."""
    for c in cases:
        if ref_steps is None:
            steps = c.sweep.ref_factor * 4 * max(int(getattr(c.problem, "min_steps", 16)), 16)
            need, stage = max(plan_bytes(c), cell_bytes(c, steps)), "plan and cells"
        elif c.name in ref_steps:
            need, stage = cell_bytes(c, ref_steps[c.name]), f"cells (reference on {ref_steps[c.name]} steps)"
        else:
            continue
        if need > limit:
            raise SpecError(f"case {c.name}: its {stage} would need about {human(need)} of memory, over the limit "
                            f"{human(limit)} (--max-memory); lower [sweep].n_paths, [problem].dim or the target eps, "
                            f"or raise --max-memory")
