"""FID with Inception weights at a local path: the Frechet distance against closed forms,
the network's layout against the FID weights' (parameter names and count), loading errors,
and FID in the UNet track. Real FID weights are the user's; the tests write random ones in
the same format (with the classifier keys the real file carries)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="FID needs the 'learned' extra (torch==2.13.0)")

from mlem_bench.images.fid import (FEATURES, fid, frechet_distance, gaussian_stats, inception_features,  # noqa: E402
                            load_inception, psd_root)
from mlem_bench.sweep.spec import SpecError  # noqa: E402


def test_frechet_distance_closed_forms():
    # commuting (diagonal) covariances: |dmu|^2 + sum (sqrt a - sqrt b)^2
    d = frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.array([1.0, 2.0]), np.diag([4.0, 9.0]))
    assert d == pytest.approx(5 + 1 + 1, abs=1e-12)
    # non-commuting 2x2: tr (A^1/2 B A^1/2)^1/2 = sqrt(tr AB + 2 sqrt(det A det B))
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
        A, B = a @ a.T + 0.1 * np.eye(2), b @ b.T + 0.1 * np.eye(2)
        cross = np.sqrt(np.trace(A @ B) + 2 * np.sqrt(np.linalg.det(A) * np.linalg.det(B)))
        want = np.trace(A) + np.trace(B) - 2 * cross
        assert frechet_distance(np.zeros(2), A, np.zeros(2), B) == pytest.approx(want, rel=1e-9, abs=1e-12)
    S = np.cov(rng.standard_normal((50, 30)), rowvar=False)
    assert abs(frechet_distance(np.ones(30), S, np.ones(30), S)) < 1e-8


def test_network_has_the_fid_layout(fid_weights):
    net = load_inception(fid_weights)
    # the torchvision Inception-v3 layout has 27,161,264 parameters; without its auxiliary
    # head (3,326,696) and 1000-class classifier (2,049,000) that leaves 21,785,568
    assert sum(p.numel() for p in net.parameters()) == 21_785_568
    x = np.random.default_rng(1).uniform(-1, 1, (6, 3, 16, 16)).astype(np.float32)
    f = inception_features(net, x, batch=4)
    assert f.shape == (6, FEATURES) and np.all(np.isfinite(f)) and np.all(f >= 0)   # pooled ReLUs
    assert np.array_equal(f[:2], inception_features(net, x[:2]))
    mu, cov = gaussian_stats(f)
    assert abs(frechet_distance(mu, cov, mu, cov)) < 1e-6 * np.trace(cov)
    mu2, cov2 = gaussian_stats(inception_features(net, -x))
    assert frechet_distance(mu, cov, mu2, cov2) > 1e-3 * np.trace(cov)


def test_fid_from_features_is_the_frechet_distance():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((300, 40)) @ rng.standard_normal((40, 40))
    mu, cov = gaussian_stats(ref)
    for n in (5, 60):       # fewer and more samples than features
        f = 0.3 + rng.standard_normal((n, 40)) @ rng.standard_normal((40, 40))
        want = frechet_distance(*gaussian_stats(f), mu, cov)
        # the d x d route takes square roots of the rounding-level eigenvalues of a rank-4
        # covariance (n = 5): about sqrt(1e-16) relative, hence 1e-6 and not machine precision
        assert fid(f, mu, psd_root(cov)) == pytest.approx(want, rel=1e-6)


def test_bad_weights_files(tmp_path, fid_weights):
    with pytest.raises(SpecError, match=r"\[metrics\].inception_weights: .*missing.pth is not a file; nothing is downloaded"):
        load_inception(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(SpecError, match=r"\[metrics\].inception_weights: cannot read .*junk.pth"):
        load_inception(junk)
    other = tmp_path / "other.pth"
    state = torch.load(fid_weights, weights_only=True)
    del state["Mixed_7c.branch_pool.conv.weight"]
    torch.save(state, other)
    with pytest.raises(SpecError, match=r"is not FID Inception-v3 weights \(missing \['Mixed_7c.branch_pool.conv.weight'\]"):
        load_inception(other)
