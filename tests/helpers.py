"""Shared test helpers: paths, small problems and an in-process CLI runner."""
import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlem_bench.problems import GaussianMixtureReverse

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TINY_SWEEP = DATA / "tiny-sweep.toml"
SUITE = ROOT / "mlem_bench" / "suite"


@contextlib.contextmanager
def numba_threads(n):
    """Run the block with n Numba threads, then restore the previous count (pytest-xdist
    workers run with one thread each; a test that needs two says so)."""
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def make_gmm(ode=False):
    """A 2-D, two-component mixture (reverse SDE, or its probability-flow ODE)."""
    return GaussianMixtureReverse([0.3, 0.7], [[-1.0, 0.5], [1.0, -0.5]], [0.3, 0.5], ode=ode)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(args, cwd=None):
    """`mlem-bench ARGS` in-process (kernels compiled by earlier tests are reused); output captured."""
    from mlem_bench.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(args)
        except SystemExit as e:
            rc = e.code
    return CliResult(rc, out.getvalue(), err.getvalue())


class RandomLearnedLadder:
    """A learned ladder with random weights (no torch, no training): the kernels' learned
    code path against tests/numpy_reference.learned_level. layers[l] = [(W (n_out, n_in), b)]."""

    def __init__(self, problem, widths, depth=2, n_freq=3, seed=0):
        from mlem_bench.ladders.learned import skip_moments
        rng = np.random.default_rng(seed)
        self.problem, self.levels, self.n_freq, self.gamma = problem, len(widths), n_freq, float("nan")
        d = problem.dim
        self.layers = [None]
        for w in widths:
            sizes = [(d + 1 + 2 * n_freq, w)] + [(w, w)] * (depth - 1) + [(w, d)]
            self.layers.append([(rng.normal(size=(o, i)) / np.sqrt(i), 0.1 * rng.normal(size=o)) for i, o in sizes])
        self.eps = np.concatenate([[0.0], 0.5 ** np.arange(1, self.levels + 1)])
        self.cost = np.concatenate([[0.0], [float(sum(i * o for i, o in (W.shape for W, _ in ls))) for ls in self.layers[1:]]])
        self.skip = skip_moments(problem)

    def arrays(self, dim):
        from mlem_bench.numerics.learned_kernel import LearnedArrays
        max_layers = max(len(ls) for ls in self.layers[1:])
        layout = np.zeros((self.levels + 1, max_layers + 1, 4), dtype=np.int64)
        chunks, offset = [], 0
        for level in range(1, self.levels + 1):
            ls = self.layers[level]
            layout[level, 0] = (len(ls), max(W.shape[0] for W, _ in ls), 0, 0)
            for j, (W, b) in enumerate(ls, start=1):
                n_out, n_in = W.shape
                layout[level, j] = (offset, offset + W.size, n_in, n_out)
                chunks += [W.T.ravel(), b]
                offset += W.size + b.size
        m, v = self.skip
        return LearnedArrays(self.eps, self.cost, np.concatenate(chunks), layout,
                             np.concatenate([[float(self.n_freq)], m, [v]]))


def write_spec(path, doc):
    """Write a spec document (name, [problem], [ladder], [sweep]) as TOML."""
    lines = [f'name = "{doc["name"]}"']
    for table in ("problem", "ladder", "sweep"):
        lines.append(f"[{table}]")
        for k, v in doc[table].items():
            lines.append(f"{k} = {toml_value(v)}")
    path.write_text("\n".join(lines) + "\n")


def toml_value(v):
    """A string, number or (nested) list as a TOML value."""
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(e) for e in v) + "]"
    return repr(v)


class LazyModule:
    """A module imported on first attribute access. Every xdist worker collects every test
    module, so an import at collection is paid by both workers; diffusers' takes 3-6 s here
    (it imports torch._dynamo) and only the worker that runs its tests needs it."""

    def __init__(self, name):
        self.name = name

    def __getattr__(self, attr):
        import importlib
        return getattr(importlib.import_module(self.name), attr)


def optional_module(name):
    """LazyModule(name) when the package is installed, else None (nothing is imported)."""
    import importlib.util
    return LazyModule(name) if importlib.util.find_spec(name) is not None else None
