"""Frechet Inception distance with Inception weights the user supplies at a local path.

Nothing is downloaded. The network is the Inception-v3 variant that FID is defined with
(average pools that do not count padding, a max pool in the last block), laid out with the
parameter names of the common PyTorch port, so its weights file
``pt_inception-2015-12-05-6726825d.pth`` loads as it is. Features are the 2048 pooled
activations of the last block after a bilinear resize to 299 x 299; images come in [-1, 1],
the range the network expects. FID = |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)).

FID is biased upwards at small sample sizes (the covariance of 2048 features from a few
hundred images is rank-deficient): compare FIDs of equal sample size only.
"""
import hashlib
from pathlib import Path

import numpy as np

from ..errors import SpecError
from ..optional import require_torch

FEATURES = 2048
RESOLUTION = 299


def inception_network():
    """The FID Inception-v3 feature network (random initialisation; load weights with
    `load_inception`). forward(x) maps (n, 3, 299, 299) in [-1, 1] to (n, 2048)."""
    torch = require_torch()
    nn, F = torch.nn, torch.nn.functional

    class Conv(nn.Module):
        # convolution without bias, batch norm (eps 1e-3), ReLU
        def __init__(self, c_in, c_out, kernel, stride=1, padding=0):
            super().__init__()
            self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
            self.bn = nn.BatchNorm2d(c_out, eps=0.001)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    def avg3(x):
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

    class A(nn.Module):
        def __init__(self, c, pool):
            super().__init__()
            self.branch1x1 = Conv(c, 64, 1)
            self.branch5x5_1, self.branch5x5_2 = Conv(c, 48, 1), Conv(48, 64, 5, padding=2)
            self.branch3x3dbl_1 = Conv(c, 64, 1)
            self.branch3x3dbl_2, self.branch3x3dbl_3 = Conv(64, 96, 3, padding=1), Conv(96, 96, 3, padding=1)
            self.branch_pool = Conv(c, pool, 1)

        def forward(self, x):
            return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                              self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                              self.branch_pool(avg3(x))], 1)

    class B(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.branch3x3 = Conv(c, 384, 3, stride=2)
            self.branch3x3dbl_1 = Conv(c, 64, 1)
            self.branch3x3dbl_2, self.branch3x3dbl_3 = Conv(64, 96, 3, padding=1), Conv(96, 96, 3, stride=2)

        def forward(self, x):
            return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                              F.max_pool2d(x, 3, stride=2)], 1)

    class C(nn.Module):
        def __init__(self, c, c7):
            super().__init__()
            row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
            self.branch1x1 = Conv(c, 192, 1)
            self.branch7x7_1, self.branch7x7_2, self.branch7x7_3 = Conv(c, c7, 1), Conv(c7, c7, **row), Conv(c7, 192, **col)
            self.branch7x7dbl_1, self.branch7x7dbl_2 = Conv(c, c7, 1), Conv(c7, c7, **col)
            self.branch7x7dbl_3, self.branch7x7dbl_4 = Conv(c7, c7, **row), Conv(c7, c7, **col)
            self.branch7x7dbl_5 = Conv(c7, 192, **row)
            self.branch_pool = Conv(c, 192, 1)

        def forward(self, x):
            d = x
            for m in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
                d = m(d)
            return torch.cat([self.branch1x1(x), self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))), d,
                              self.branch_pool(avg3(x))], 1)

    class D(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.branch3x3_1, self.branch3x3_2 = Conv(c, 192, 1), Conv(192, 320, 3, stride=2)
            self.branch7x7x3_1 = Conv(c, 192, 1)
            self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
            self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
            self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

        def forward(self, x):
            d = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
            return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), d, F.max_pool2d(x, 3, stride=2)], 1)

    class E(nn.Module):
        def __init__(self, c, max_pool):
            super().__init__()
            self.max_pool = max_pool      # the last block pools by max in the FID network
            self.branch1x1 = Conv(c, 320, 1)
            self.branch3x3_1 = Conv(c, 384, 1)
            self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
            self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
            self.branch3x3dbl_1, self.branch3x3dbl_2 = Conv(c, 448, 1), Conv(448, 384, 3, padding=1)
            self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
            self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
            self.branch_pool = Conv(c, 192, 1)

        def forward(self, x):
            a = self.branch3x3_1(x)
            d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else avg3(x)
            return torch.cat([self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                              self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d), self.branch_pool(pool)], 1)

    class Inception(nn.Module):
        def __init__(self):
            super().__init__()
            self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
            self.Conv2d_2a_3x3 = Conv(32, 32, 3)
            self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
            self.Conv2d_3b_1x1 = Conv(64, 80, 1)
            self.Conv2d_4a_3x3 = Conv(80, 192, 3)
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
            self.Mixed_6a = B(288)
            self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e = C(768, 128), C(768, 160), C(768, 160), C(768, 192)
            self.Mixed_7a = D(768)
            self.Mixed_7b, self.Mixed_7c = E(1280, False), E(2048, True)

        def forward(self, x):
            x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
            x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, stride=2)))
            x = F.max_pool2d(x, 3, stride=2)
            for m in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
                x = m(x)
            return x.mean(dim=(2, 3))

    return Inception()


FIELD = "[metrics].inception_weights"


def weights_path(path):
    """`path` as a Path; SpecError naming the field when no file is there."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{FIELD}: {path} is not a file; nothing is downloaded: put the FID Inception weights "
                        "(pt_inception-2015-12-05-6726825d.pth) there, or remove the field to report pixel sliced-W2 only")
    return path


def load_inception(path, device="cpu"):
    """The FID network with the weights at `path` (a state dict; classifier keys are ignored).

    Raises SpecError naming the field when the file is missing, unreadable or holds other weights.
    """
    torch = require_torch()
    path = weights_path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise SpecError(f"{FIELD}: cannot read {path} as a PyTorch state dict ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SpecError(f"{FIELD}: {path} holds no state dict")
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}
    net = inception_network()
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or wrong:
        what = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra
                else f"shape of {wrong[:3]}")
        raise SpecError(f"{FIELD}: {path} is not FID Inception-v3 weights ({what}, "
                        f"{len(missing)} missing, {len(extra)} unexpected, {len(wrong)} of other shape)")
    net.load_state_dict(state)
    return net.to(device).eval()


def weights_digest(path):
    """SHA-256 (first 16 hex digits) of the weights file: FIDs of other weights never mix."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def inception_features(net, images, batch=64):
    """(n, 2048) float64 features of images (n, 3, R, R) in [-1, 1] (array or tensor)."""
    torch = require_torch()
    device = next(net.parameters()).device
    x_all = torch.as_tensor(np.asarray(images, np.float32))
    out = []
    with torch.no_grad():
        for a in range(0, x_all.shape[0], batch):
            x = x_all[a:a + batch].to(device)
            x = torch.nn.functional.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
            out.append(net(x).double().cpu().numpy())
    return np.concatenate(out)


def gaussian_stats(features):
    """Mean and covariance (unbiased) of features (n, d)."""
    f = np.asarray(features, float)
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def psd_root(cov):
    """Symmetric square root of a positive semi-definite matrix (eigh; rounding negatives to 0)."""
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu_a, cov_a, mu_b, cov_b):
    """Squared Frechet (W2) distance between Gaussians N(mu_a, cov_a) and N(mu_b, cov_b).

    tr (C_a^(1/2) C_b C_a^(1/2))^(1/2) is the sum of singular values of C_a^(1/2) C_b^(1/2).
    Taken that way, the many zero eigenvalues of a covariance of fewer samples than
    features enter at rounding level, not at its square root.
    """
    cross = np.linalg.svd(psd_root(cov_a) @ psd_root(cov_b), compute_uv=False).sum()
    d = np.asarray(mu_a, float) - np.asarray(mu_b, float)
    return float(d @ d + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def fid(features, mu_ref, root_ref):
    """FID of sample features (n, d) against reference statistics (mean, `psd_root` of the
    covariance): `frechet_distance` with the samples' mean and unbiased covariance.

    With X the centred features, C = X^T X / (n - 1), and the cross term is the sum of
    singular values of X C_ref^(1/2) / sqrt(n - 1), an n x d matrix: no d x d root per sample set.
    """
    f = np.asarray(features, float)
    x = (f - f.mean(axis=0)) / np.sqrt(len(f) - 1)
    cross = np.linalg.svd(x @ root_ref, compute_uv=False).sum()
    d = f.mean(axis=0) - mu_ref
    return float(d @ d + np.sum(x * x) + np.sum(root_ref * root_ref) - 2 * cross)
