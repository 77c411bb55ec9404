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


@pytest.fixture(scope="session")
def fid_weights(tmp_path_factory):
    """A random-weights file laid out as the FID weights file (1008-class classifier included).
    Batch-norm statistics are calibrated on random images, so that features are of order one
    (with the initial statistics they vanish through the 94 layers)."""
    torch = pytest.importorskip("torch", reason="FID needs the 'learned' extra (torch==2.13.0)")
    from mlem_bench.fid import FEATURES, inception_network
    torch.manual_seed(0)
    net = inception_network()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None          # running statistics = plain average over calibration batches
    with torch.no_grad():
        net.train()(torch.rand(8, 3, 299, 299) * 2 - 1)
    state = net.state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, FEATURES), torch.zeros(1008)
    path = tmp_path_factory.mktemp("fid") / "pt_inception-random.pth"
    torch.save(state, path)
    return path
