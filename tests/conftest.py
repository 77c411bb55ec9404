import os

import numba
import numpy as np
import pytest

from helpers import TINY_SWEEP, make_gmm, numba_threads
from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.problems import OrnsteinUhlenbeck


if os.environ.get("PYTEST_XDIST_WORKER"):
    # one Numba thread per xdist worker (two workers share the two cores); the limit stays
    # NUMBA_NUM_THREADS, so a test that needs more threads sets them (helpers.numba_threads)
    numba.set_num_threads(1)
    # and one OpenMP thread for torch (imported later): two workers' spinning OpenMP teams
    # on two cores spend their time waiting for each other
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items):
    """Modules marked slow run first, longest first (the order of SLOW_FIRST), so that with
    two xdist workers (--dist loadfile) the long ones do not start last on a busy worker."""
    def rank(item):
        if item.get_closest_marker("slow") is None:
            return len(SLOW_FIRST) + 1
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)
    items.sort(key=rank)          # stable: the order inside a module is kept


# the modules marked slow, by measured duration (pytest --durations), longest first
SLOW_FIRST = ["test_rates.py", "test_asymptotic.py", "test_installed.py", "test_unet.py", "test_cli.py",
              "test_blocks.py", "test_bad_input.py"]


@pytest.fixture(scope="session")
def ou():
    theta = np.array([[1.0, 0.3], [-0.2, 0.8]])  # non-symmetric: exercises the matrix code paths
    return OrnsteinUhlenbeck(2, T=1.0, theta=theta, sigma=0.7, x0=[1.0, -0.5])


@pytest.fixture(scope="session")
def gmm():
    return make_gmm()


@pytest.fixture(scope="session")
def ladder():
    return SyntheticLadder(gamma=2.5, levels=8, eps1=1.0, seed=3)


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """Folder of an uninterrupted in-process run of the tiny sweep (every method and baseline)
    on two Numba threads, its report rendered as `mlem-bench run` does."""
    from mlem_bench.report.render import render_report
    from mlem_bench.sweep.driver import run_sweep
    from mlem_bench.sweep.spec import load_case
    out = tmp_path_factory.mktemp("tiny-sweep") / "out"
    with numba_threads(2):
        run_sweep([load_case(TINY_SWEEP)], out, progress=False)
    render_report(out)
    return out


@pytest.fixture(scope="session")
def fid_weights(tmp_path_factory):
    """A random-weights file laid out as the FID weights file (1008-class classifier included).
    Batch-norm statistics are calibrated on random images, so that features are of order one
    (with the initial statistics they vanish through the 94 layers)."""
    torch = pytest.importorskip("torch", reason="FID needs the 'learned' extra (torch==2.13.0)")
    from mlem_bench.images.fid import FEATURES, inception_network
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
