"""Our EM beside the Euler schemes of torchsde (PyTorch, CPU) and diffrax (JAX, CPU) on the
same OU problem and the same Brownian increments, in float64.

Two uses: a correctness cross-check (the terminal states agree to round-off) and a race
(path-steps per second). The peers are optional (`pip install -e '.[peers]'`); each
function raises ImportError with the install line when its peer is missing.
"""
import numpy as np

from ..numerics.brownian import brownian_increments
from ..numerics.solve import solve
from .bench import best_time

PEERS_HINT = "install the peers with: .venv/bin/pip install -e '.[peers]'"


def increments(problem, n_paths, n_steps, seed):
    """The project's Brownian increments of paths 0..n_paths-1: (n_paths, n_steps, d)."""
    return brownian_increments(seed, n_paths, n_steps, problem.dim, problem.T)


def ours(problem, dW):
    """Terminal states of our EM kernel (exact drift) driven by increments dW."""
    n_paths, n_steps, _ = dW.shape
    return solve(problem, None, "em", 0, n_steps, n_paths, 0, increments=dW).x


def torchsde_euler(problem, dW):
    """Terminal states of torchsde's Euler (Ito, diagonal noise) driven by increments dW."""
    try:
        import torch
        import torchsde
        from torchsde._brownian.brownian_base import BaseBrownian
    except ImportError:
        raise ImportError(f"torchsde is not installed; {PEERS_HINT}") from None
    n_paths, n_steps, d = dW.shape
    h = problem.T / n_steps
    inc = torch.from_numpy(np.ascontiguousarray(dW))
    theta_t = torch.from_numpy(problem.theta.T.copy())
    sigma = problem.sigma

    class Given(BaseBrownian):
        # the increment over [t_n, t_n + h] is dW[:, n]
        def __call__(self, ta, tb=None, return_U=False, return_A=False):
            return inc[:, int(round(float(ta) / h))]

        def __repr__(self):
            return "Given()"

        dtype = torch.float64
        device = torch.device("cpu")
        shape = (n_paths, d)
        levy_area_approximation = "none"

    class OU(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return -(y @ theta_t)

        def g(self, t, y):
            return torch.full_like(y, sigma)

    y0 = torch.from_numpy(np.tile(problem.x0, (n_paths, 1)))
    ts = torch.tensor([0.0, problem.T], dtype=torch.float64)
    with torch.no_grad():
        ys = torchsde.sdeint(OU(), y0, ts, bm=Given(), method="euler", dt=h)
    return ys[-1].numpy()


def diffrax_euler(problem, dW):
    """Terminal states of diffrax's Euler driven by the piecewise-linear path of dW."""
    try:
        import diffrax
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise ImportError(f"diffrax is not installed; {PEERS_HINT}") from None
    jax.config.update("jax_enable_x64", True)
    n_paths, n_steps, d = dW.shape
    ts = jnp.linspace(0.0, problem.T, n_steps + 1)
    A, sigma, x0 = jnp.asarray(problem.theta), problem.sigma, jnp.asarray(problem.x0)

    def one(w):
        path = diffrax.LinearInterpolation(ts=ts, ys=w)
        terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, a: -(A @ y)),
                                  diffrax.ControlTerm(lambda t, y, a: sigma * jnp.eye(d), path))
        sol = diffrax.diffeqsolve(terms, diffrax.Euler(), 0.0, problem.T, None, x0,
                                  saveat=diffrax.SaveAt(t1=True), max_steps=n_steps + 1,
                                  stepsize_controller=diffrax.StepTo(ts))
        return sol.ys[-1]

    W = np.concatenate([np.zeros((n_paths, 1, d)), np.cumsum(dW, axis=1)], axis=1)
    run = jax.jit(jax.vmap(one))
    return np.asarray(run(jnp.asarray(W)).block_until_ready()), run, jnp.asarray(W)


def compare(problem, n_paths, n_steps, seed=0, repeats=3):
    """Agreement and throughput of every installed peer against our EM.

    Returns rows (dicts): solver, max |x - ours|, seconds (best of repeats after a warm-up,
    the increments given), path-steps per second, and our throughput over the peer's.
    """
    dW = increments(problem, n_paths, n_steps, seed)
    work = n_paths * n_steps
    x_ours = ours(problem, dW)

    def best(fn):
        return best_time(fn, repeats)

    t_ours = best(lambda: ours(problem, dW))
    t_own = best(lambda: solve(problem, None, "em", 0, n_steps, n_paths, seed))
    rows = [{"solver": "mlem_bench EM (given increments)", "max_abs_diff": 0.0, "seconds": t_ours},
            {"solver": "mlem_bench EM (own generator)", "max_abs_diff": np.nan, "seconds": t_own}]
    try:
        x = torchsde_euler(problem, dW)
        rows.append({"solver": "torchsde euler", "max_abs_diff": float(np.max(np.abs(x - x_ours))),
                     "seconds": best(lambda: torchsde_euler(problem, dW))})
    except ImportError as e:
        rows.append({"solver": f"torchsde: {e}", "max_abs_diff": np.nan, "seconds": np.nan})
    try:
        x, run, W = diffrax_euler(problem, dW)
        rows.append({"solver": "diffrax Euler (jit, vmap)", "max_abs_diff": float(np.max(np.abs(x - x_ours))),
                     "seconds": best(lambda: run(W).block_until_ready())})
    except ImportError as e:
        rows.append({"solver": f"diffrax: {e}", "max_abs_diff": np.nan, "seconds": np.nan})
    for r in rows:
        r["Mpath_steps_per_s"] = work / r["seconds"] / 1e6
        r["ours_given_over_this"] = r["seconds"] / t_ours
    return rows
