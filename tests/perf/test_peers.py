"""Our EM agrees with the peers' Euler on identical increments (skipped, with the reason,
when a peer is not installed: the peers are the optional extra `.[peers]`)."""
import numpy as np
import pytest

from mlem_bench.perf import peers
from mlem_bench.problems import OrnsteinUhlenbeck

PROBLEM = OrnsteinUhlenbeck(2, theta=np.array([[1.0, 0.3], [-0.2, 0.8]]), sigma=0.7, x0=[1.0, -0.5])


@pytest.fixture(scope="module")
def dW():
    return peers.increments(PROBLEM, 300, 128, seed=4)


def test_torchsde_agrees(dW):
    pytest.importorskip("torchsde", reason=f"torchsde not installed; {peers.PEERS_HINT}")
    x = peers.torchsde_euler(PROBLEM, dW)
    # the same arithmetic in another order: agreement to round-off
    assert np.max(np.abs(x - peers.ours(PROBLEM, dW))) < 1e-12


def test_diffrax_agrees(dW):
    pytest.importorskip("diffrax", reason=f"diffrax not installed; {peers.PEERS_HINT}")
    x = peers.diffrax_euler(PROBLEM, dW)[0]
    # diffrax differences a cumulative path: agreement to round-off of the cumulative sum
    assert np.max(np.abs(x - peers.ours(PROBLEM, dW))) < 1e-12
