import numpy as np
import pytest

from mlem_bench.ladders import SyntheticLadder
from mlem_bench.problems import GaussianMixtureReverse, OrnsteinUhlenbeck

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ou():
    theta = np.array([[1.0, 0.3], [-0.2, 0.8]])  # non-symmetric: exercises the matrix code paths
    return OrnsteinUhlenbeck(2, T=1.0, theta=theta, sigma=0.7, x0=[1.0, -0.5])


def make_gmm(ode=False):
    return GaussianMixtureReverse([0.3, 0.7], [[-1.0, 0.5], [1.0, -0.5]], [0.3, 0.5], ode=ode)


@pytest.fixture(scope="session")
def gmm():
    return make_gmm()


@pytest.fixture(scope="session")
def ladder():
    return SyntheticLadder(gamma=2.5, levels=8, eps1=1.0, seed=3)


TINY_SWEEP = ROOT / "tests" / "data" / "tiny-sweep.toml"


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """Folder of an uninterrupted in-process run of the tiny sweep (every method and baseline)."""
    from mlem_bench.experiment import run_sweep
    from mlem_bench.spec import load_case
    out = tmp_path_factory.mktemp("tiny-sweep") / "out"
    run_sweep([load_case(TINY_SWEEP)], out, progress=False)
    return out
