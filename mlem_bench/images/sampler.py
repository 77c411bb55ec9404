"""Samplers of the image track on a batch of images: EM with the largest UNet, ML-EM over
the ladder (one Bernoulli pattern per step for the whole batch), and the stitch baseline,
all on one Brownian path drawn on the sampling device."""
import math

import numpy as np

from ..errors import SpecError
from ..nets.common import vp_coefficients
from ..nets.unet import compiled
from ..numerics.rng import TORCH_BERNOULLI_MULT, TORCH_BROWNIAN_MULT, TORCH_INITIAL_MULT, TORCH_INITIAL_SHIFT
from ..numerics.vp import T_MIN, reverse_drift
from ..optional import require_torch

class Ladder:
    """Drift evaluators f^l(s, y) = beta (y/2 - eps_hat_l / sigma) at solver time s (diffusion
    time 1 - s) on a batch, with counted FLOPs per image. compile: torch.compile each network
    (FLOPs are counted on the network itself)."""

    def __init__(self, models, flops, compile=False):
        self.models = [compiled(m, compile) for m in models]
        self.flops = [0.0] + [float(f) for f in flops]
        self.L = len(models)

    def warm_up(self, y):
        """One evaluation of every level on a batch shaped like y, so that compilation and
        kernel selection are not timed."""
        for level in range(1, self.L + 1):
            self.drift(level, 0.5, y)
        sync(y.device)

    def drift(self, level, s, y):
        torch = require_torch()
        t = 1.0 - s
        alpha, sigma, beta = (float(v) for v in vp_coefficients(t))
        with torch.no_grad():
            e = self.models[level - 1](y, torch.full((y.shape[0],), t, device=y.device))
        return reverse_drift.py_func(beta, y, -e / sigma, 1.0)


def device_normal(key, shape, device):
    """Standard normals of shape `shape` from a torch generator seeded with `key`."""
    # Drawn on the sampling device (no host-to-device copy inside timed sampling): CPU and
    # GPU runs see different numbers, every method on one device the same ones.
    torch = require_torch()
    g = torch.Generator(device=device).manual_seed(int(key))
    return torch.randn(shape, generator=g, device=device)


def brownian(seed, k, shape, h, device):
    """Fine Brownian increment number k (independent of the step count that sums it)."""
    return device_normal(int(seed) * TORCH_BROWNIAN_MULT + int(k), shape, device) * math.sqrt(h)


def bernoulli_uniforms(seed, step, n):
    """One uniform per level for step `step`: the pattern shared by the whole batch."""
    torch = require_torch()
    g = torch.Generator().manual_seed(int(seed) * TORCH_BERNOULLI_MULT + int(step) + 1)
    return torch.rand(n, generator=g).numpy()


def mlem_drift(f, probs, u, L):
    """f^1 + sum_l B_l / p_l (f^l - f^{l-1}) with B_l = [u_l < p_l]; leading levels with
    p = 1 collapse to f^m. `f(l)` evaluates (and caches) level l at the current point."""
    m = 1
    while m < L and probs[m + 1] >= 1.0:
        m += 1
    out = f(m)
    for l in range(m + 1, L + 1):
        if u[l] < probs[l]:
            out = out + (f(l) - f(l - 1)) / probs[l]
    return out


def sample(ladder, method, n_steps, x0, ref_steps, seed, probs=None, switch_step=0, record=None):
    """Run a sampler from x0 (B, C, R, R) over n_steps; returns (x, FLOPs per image, evals per level).

    method: "em" (largest level), "mlem" (probs indexed by level), "stitch" (level 1 for
    steps < switch_step, the largest after). Brownian increments are sums of the
    ref_steps-grid increments, so every step count sees the same path.
    record(s, y, f): optional callback at every step (gamma measurement).
    """
    torch = require_torch()
    L = ladder.L
    T = 1.0 - T_MIN
    h, r = T / n_steps, ref_steps // n_steps
    x = x0.clone()
    flops, evals = 0.0, np.zeros(L + 1)
    for n in range(n_steps):
        s = n * h
        cache = {}

        def f(level):
            if level not in cache:
                cache[level] = ladder.drift(level, s, x)
                evals[level] += 1
            return cache[level]

        if method == "em":
            drift = f(L)
        elif method == "stitch":
            drift = f(1 if n < switch_step else L)
        elif method == "mlem":
            drift = mlem_drift(f, probs, bernoulli_uniforms(seed, n, L + 1), L)
        else:
            raise ValueError(f"unknown sampler {method!r}")
        if record is not None:
            record(s, x, f)
        flops += sum(ladder.flops[lv] for lv in cache)
        dw = sum(brownian(seed, n * r + j, x.shape, T / ref_steps, x.device) for j in range(r))
        g = math.sqrt(float(vp_coefficients(1.0 - s)[2]))
        x = x + h * drift + g * dw
        if not torch.isfinite(x).all():
            raise SpecError(f"{method} with {n_steps} steps produced non-finite images at step {n + 1}; "
                            f"use more [sampler].steps or more training")
    return x, flops, evals


def initial_noise(seed, n, channels, resolution, device):
    """The sampler's starting images (standard normal), the same for every method."""
    return device_normal(int(seed) * TORCH_INITIAL_MULT + TORCH_INITIAL_SHIFT, (n, channels, resolution, resolution), device)


def check_device(device):
    """SpecError naming --device when torch cannot use it."""
    torch = require_torch()
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as e:
        raise SpecError(f"--device {device}: torch cannot use it here ({str(e).splitlines()[0]}); "
                        "use --device cpu or a machine with that accelerator") from None


def sync(device):
    """Wait for the device's queued work (timing on a GPU)."""
    torch = require_torch()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
