"""Shared test helpers: paths, small problems and an in-process CLI runner."""
import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from mlem_bench.problems import GaussianMixtureReverse

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TINY_SWEEP = DATA / "tiny-sweep.toml"
SUITE = ROOT / "mlem_bench" / "suite"


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
