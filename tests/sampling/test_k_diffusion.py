"""The k-diffusion-style ML-EM samplers: with every p = 1 they are k-diffusion's
`sample_euler` (with churn) and `sample_euler_ancestral`, bit for bit, on three tiny UNets
of growing width; the callback sees the combined denoiser; counts and probs checks.

k-diffusion is not installed (it pulls torchvision, which does not import beside the pinned
torch): its two samplers are written out below as it publishes them."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch samplers need the 'learned' extra (torch==2.13.0)")

from mlem_bench.sampling import sample_mlem_euler, sample_mlem_euler_ancestral  # noqa: E402
from mlem_bench.sampling.multilevel import MultilevelModel  # noqa: E402

SIGMAS = torch.tensor([8.0, 3.0, 1.2, 0.4, 0.1, 0.0])


# ---- k-diffusion's sampling code (k_diffusion/sampling.py, utils.append_dims), as published
def append_dims(x, target_dims):
    dims_to_append = target_dims - x.ndim
    return x[(...,) + (None,) * dims_to_append]


def to_d(x, sigma, denoised):
    return (x - denoised) / append_dims(sigma, x.ndim)


def get_ancestral_step(sigma_from, sigma_to, eta=1.):
    if not eta:
        return sigma_to, 0.
    sigma_up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


@torch.no_grad()
def sample_euler(model, x, sigmas, extra_args=None, s_churn=0., s_tmin=0., s_tmax=float('inf'), s_noise=1.):
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        if s_churn > 0:
            gamma = min(s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1) if s_tmin <= sigmas[i] <= s_tmax else 0.
            sigma_hat = sigmas[i] * (gamma + 1)
        else:
            gamma = 0
            sigma_hat = sigmas[i]
        if gamma > 0:
            eps = torch.randn_like(x) * s_noise
            x = x + eps * (sigma_hat ** 2 - sigmas[i] ** 2) ** 0.5
        denoised = model(x, sigma_hat * s_in, **extra_args)
        d = to_d(x, sigma_hat, denoised)
        dt = sigmas[i + 1] - sigma_hat
        x = x + d * dt
    return x


@torch.no_grad()
def sample_euler_ancestral(model, x, sigmas, extra_args=None, eta=1., s_noise=1.):
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = lambda sigma, sigma_next: torch.randn_like(x)  # noqa: E731 (default_noise_sampler)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        d = to_d(x, sigmas[i], denoised)
        dt = sigma_down - sigmas[i]
        x = x + d * dt
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x
# ----


class Denoiser(torch.nn.Module):
    """An eps-prediction network as a k-diffusion denoiser: x - sigma eps(x / sqrt(1 + sigma^2), t(sigma))."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, sigma, scale=1.0):
        s = append_dims(sigma, x.ndim)
        t = torch.atan(sigma) * (2 / math.pi)
        return x - scale * s * self.net(x / torch.sqrt(1 + s * s), t)


@pytest.fixture(scope="module")
def denoisers():
    """Three random-init tiny UNets of the project (base widths 2, 4, 8) as denoisers."""
    from mlem_bench.nets.unet import build_unet
    torch.manual_seed(0)
    return [Denoiser(build_unet(b).eval()) for b in (2, 4, 8)]


def x0():
    return torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(4)) * SIGMAS[0]


def test_euler_with_every_p_one_is_k_diffusion_euler_bit_for_bit(denoisers):
    extra = {"scale": 0.9}
    torch.manual_seed(11)       # the churn noise: torch's global generator, as in k-diffusion
    ref = sample_euler(denoisers[-1], x0(), SIGMAS, extra_args=extra, s_churn=2.0, s_tmin=0.3, s_tmax=5.0)
    torch.manual_seed(11)
    ml = sample_mlem_euler(denoisers, x0(), SIGMAS, extra_args=extra, disable=True, s_churn=2.0, s_tmin=0.3,
                           s_tmax=5.0, probs=[1, 1, 1])
    assert torch.equal(ml, ref)
    plain = sample_euler(denoisers[-1], x0(), SIGMAS)
    assert torch.equal(sample_mlem_euler(denoisers, x0(), SIGMAS, disable=True, probs=[1, 1, 1]), plain)
    assert not torch.equal(plain, ref)


def test_euler_ancestral_with_every_p_one_is_k_diffusion_bit_for_bit(denoisers):
    for eta in (1.0, 0.5):
        torch.manual_seed(12)
        ref = sample_euler_ancestral(denoisers[-1], x0(), SIGMAS, eta=eta, s_noise=0.9)
        torch.manual_seed(12)
        ml = sample_mlem_euler_ancestral(denoisers, x0(), SIGMAS, disable=True, eta=eta, s_noise=0.9,
                                         probs=[1, 1, 1])
        assert torch.equal(ml, ref), eta


def test_callback_sees_the_combined_denoiser_and_counts_are_per_sample(denoisers):
    m = MultilevelModel(denoisers, [1, 0.5, 0.25], seed=7)
    seen = []

    def callback(info):
        seen.append(info)
    x = x0()
    noise = torch.zeros_like(x)
    sample_mlem_euler_ancestral(m, x, SIGMAS, callback=callback, disable=True, noise_sampler=lambda s, t: noise)
    steps = len(SIGMAS) - 1
    assert [c["i"] for c in seen] == list(range(steps))
    assert set(seen[0]) == {"x", "i", "sigma", "sigma_hat", "denoised"}
    # the first step's denoised output is the ML-EM combination at step 0 of the seeded draws
    again = MultilevelModel(denoisers, [1, 0.5, 0.25], seed=7)
    assert torch.equal(seen[0]["denoised"], again(x, SIGMAS[0] * x.new_ones(3)))
    assert m.steps == steps and m.evaluations[1] == 3 * steps
    assert np.all(m.evaluations[2:] <= 3 * steps)


def test_probs_go_with_a_list_of_denoisers_only(denoisers):
    with pytest.raises(ValueError, match="probs: one probability per denoiser"):
        sample_mlem_euler(denoisers, x0(), SIGMAS, disable=True)
    with pytest.raises(ValueError, match="probs: give them to the MultilevelModel"):
        sample_mlem_euler(MultilevelModel(denoisers, [1, 1, 1]), x0(), SIGMAS, disable=True, probs=[1, 1, 1])


def test_half_precision_samples_stay_in_their_precision():
    """bfloat16 denoisers, samples and sigmas: the levels are combined in float32 and handed
    to the update in bfloat16, as k-diffusion would see the top denoiser's output (a float32
    combination would turn x into float32 after the first step)."""
    class Half:
        def __init__(self, k):
            self.k = k

        def __call__(self, x, sigma):
            assert x.dtype == torch.bfloat16
            return (x * self.k).to(torch.bfloat16)
    x = x0().to(torch.bfloat16)
    torch.manual_seed(0)
    out = sample_mlem_euler_ancestral([Half(0.5), Half(0.6), Half(0.7)], x, SIGMAS.to(torch.bfloat16), disable=True,
                                      probs=[1, 0.5, 0.5])
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
