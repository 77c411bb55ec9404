"""A user problem: a double-well SDE dX = (X - X^3) dt + 0.5 dW from jitted functions.

Run: .venv/bin/python examples/user_problem.py [OUT_DIR]
The reference is the exact-drift EM solution on a much finer grid, same Brownian paths.
"""
import sys

import numba

from mlem_bench import Case, SyntheticLadder, Sweep, UserProblem, render_report, run_sweep


@numba.njit
def drift(t, x, params, out):
    for i in range(x.shape[0]):
        out[i] = x[i] - x[i] ** 3


@numba.njit
def diffusion(t, params):
    return params[0]


problem = UserProblem(drift, diffusion, dim=1, T=1.0, x0=0.5, params=[0.5], min_steps=8)
case = Case(
    name="double-well-g2.5",
    problem=problem,
    ladder=SyntheticLadder(gamma=2.5, levels=12, eps1=1.0, seed=0),
    sweep=Sweep(eps=[0.04, 0.02, 0.01, 0.005], n_paths=500, seed=0),
)

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "results/double-well"
    run_sweep([case], out, resume=True)
    t = render_report(out)
    print(t["rates"][["case", "method", "slope", "slope_lo", "slope_hi", "theory_slope"]].round(2).to_string(index=False))
    print(t["speed"].round(3).to_string(index=False))
