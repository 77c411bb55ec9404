"""Samplers of the image track on a batch of images: EM with the largest UNet, ML-EM over
the ladder (B_l drawn per sample, keyed by seed, sample index and step), and the stitch
baseline, all on one Brownian path drawn on the sampling device."""
import math

import numpy as np

from ..errors import SpecError
from ..nets.common import vp_coefficients
from ..nets.unet import compiled
from ..numerics.rng import TORCH_BROWNIAN_MULT, TORCH_INITIAL_MULT, TORCH_INITIAL_SHIFT
from ..numerics.vp import T_MIN, reverse_drift
from ..optional import require_torch
from ..torch_tools import sync

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

    def level(self, level):
        """Level `level` as a callable (y, s) -> drift (`sampling.MultilevelModel`'s signature)."""
        return lambda y, s: self.drift(level, s, y)

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


def sample(ladder, method, n_steps, x0, ref_steps, seed, probs=None, switch_step=0, record=None):
    """Run a sampler from x0 (B, C, R, R) over n_steps.

    method: "em" (largest level), "mlem" (probs indexed by level), "stitch" (level 1 for
    steps < switch_step, the largest after). ML-EM draws B_l per sample, keyed by (seed,
    sample index in x0, step) (`sampling.MultilevelModel`), and evaluates each level on the
    samples that need it. Brownian increments are sums of the ref_steps-grid increments, so
    every step count sees the same path. record(s, y, f): optional callback at every step
    (gamma measurement; its evaluations are counted).

    Returns
    -------
    (x, FLOPs per image (mean over the batch), evaluations per image of each level
    (index 0 unused), FLOPs of each sample (B,))
    """
    torch = require_torch()
    from ..sampling.multilevel import MultilevelModel     # imports torch: on demand, as above
    L = ladder.L
    T = 1.0 - T_MIN
    h, r = T / n_steps, ref_steps // n_steps
    x = x0.clone()
    batch = x.shape[0]
    flops = np.asarray(ladder.flops, dtype=float)
    evaluated = np.zeros((batch, L + 1))         # sample-evaluations of each level
    if method == "mlem":
        mlem = MultilevelModel([ladder.level(lv) for lv in range(1, L + 1)], np.asarray(probs)[1:], seed=seed)
    elif method not in ("em", "stitch"):
        raise ValueError(f"unknown sampler {method!r}")
    for n in range(n_steps):
        s = n * h
        cache = {}

        def f(level):
            if level not in cache:
                cache[level] = ladder.drift(level, s, x)
                evaluated[:, level] += 1
            return cache[level]

        if method == "em":
            drift = f(L)
        elif method == "stitch":
            drift = f(1 if n < switch_step else L)
        else:
            drift = mlem(x, s)
            evaluated += mlem.last_evaluated
        if record is not None:
            record(s, x, f)
        dw = sum(brownian(seed, n * r + j, x.shape, T / ref_steps, x.device) for j in range(r))
        g = math.sqrt(float(vp_coefficients(1.0 - s)[2]))
        x = x + h * drift + g * dw
        if not torch.isfinite(x).all():
            raise SpecError(f"{method} with {n_steps} steps produced non-finite images at step {n + 1}; "
                            f"use more [sampler].steps or more training")
    sample_flops = evaluated @ flops
    return x, float(sample_flops.mean()), evaluated.mean(axis=0), sample_flops


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

