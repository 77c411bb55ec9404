"""ML-EM in the k-diffusion convention: `sample_euler` and `sample_euler_ancestral` with
k-diffusion's signature, over a ladder of denoisers ``model(x, sigma, **extra_args) -> denoised``.

The Euler and Euler-ancestral updates are affine in the denoised output, so ML-EM combines
the levels' denoised outputs (`MultilevelModel`) and takes k-diffusion's update on the
combination; with every p = 1 both are k-diffusion's samplers on the top denoiser, bit for bit
(tested against the updates as k-diffusion publishes them). k-diffusion itself is not needed.
"""
import math

from tqdm.auto import trange

from ..optional import require_torch
from .multilevel import MultilevelModel, in_precision_of

torch = require_torch()


def multilevel(model, probs, seed, sample_offset):
    """`model` reset to step 0 when it is a MultilevelModel (then `probs` must be None), else
    a MultilevelModel over the list of denoisers `model`."""
    if isinstance(model, MultilevelModel):
        if probs is not None:
            raise ValueError("probs: give them to the MultilevelModel, or pass a list of denoisers with probs")
        model.reset()
        return model
    if probs is None:
        raise ValueError("probs: one probability per denoiser of the list (p_1 = 1)")
    return MultilevelModel(list(model), probs, seed=seed, sample_offset=sample_offset)


def to_d(x, sigma, denoised):
    """k-diffusion's `to_d`: the ODE derivative (x - denoised) / sigma."""
    return (x - denoised) / sigma.reshape(sigma.shape + (1,) * (x.ndim - sigma.ndim))


def get_ancestral_step(sigma_from, sigma_to, eta=1.0):
    """k-diffusion's `get_ancestral_step`: (sigma_down, sigma_up) of an ancestral step."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


@torch.no_grad()
def sample_mlem_euler(model, x, sigmas, extra_args=None, callback=None, disable=None, s_churn=0.,
                      s_tmin=0., s_tmax=math.inf, s_noise=1., *, probs=None, seed=0, sample_offset=0):
    """k-diffusion's `sample_euler` (Algorithm 2 of Karras et al. 2022, churn included) with
    the ML-EM combination of the denoisers.

    Parameters
    ----------
    model : list of denoisers (coarsest first) with `probs`, or a `MultilevelModel`
        (reset here: step i of the loop draws B_l for step i; its counters then hold this call's
        evaluations).
    x, sigmas, extra_args, callback, disable, s_churn, s_tmin, s_tmax, s_noise : as in k-diffusion
        (the churn noise comes from torch's global generator, as there).
    probs : p_l per level (p_1 = 1) when `model` is a list.
    seed, sample_offset : keys of the per-sample Bernoulli draws when `model` is a list.

    Returns
    -------
    The final x.
    """
    model = multilevel(model, probs, seed, sample_offset)
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    for i in trange(len(sigmas) - 1, disable=disable):
        if s_churn > 0:
            gamma = min(s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1) if s_tmin <= sigmas[i] <= s_tmax else 0.
            sigma_hat = sigmas[i] * (gamma + 1)
        else:
            gamma = 0
            sigma_hat = sigmas[i]
        if gamma > 0:
            eps = torch.randn_like(x) * s_noise
            x = x + eps * (sigma_hat ** 2 - sigmas[i] ** 2) ** 0.5
        denoised = in_precision_of(model(x, sigma_hat * s_in, **extra_args), x)
        d = to_d(x, sigma_hat, denoised)
        if callback is not None:
            callback({'x': x, 'i': i, 'sigma': sigmas[i], 'sigma_hat': sigma_hat, 'denoised': denoised})
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def sample_mlem_euler_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.,
                                s_noise=1., noise_sampler=None, *, probs=None, seed=0, sample_offset=0):
    """k-diffusion's `sample_euler_ancestral` with the ML-EM combination of the denoisers.

    Parameters are those of `sample_mlem_euler` and k-diffusion's (eta, s_noise,
    noise_sampler(sigma, sigma_next); by default torch.randn_like(x) from the global generator).

    Returns
    -------
    The final x.
    """
    model = multilevel(model, probs, seed, sample_offset)
    extra_args = {} if extra_args is None else extra_args
    if noise_sampler is None:
        def noise_sampler(sigma, sigma_next):
            return torch.randn_like(x)
    s_in = x.new_ones([x.shape[0]])
    for i in trange(len(sigmas) - 1, disable=disable):
        denoised = in_precision_of(model(x, sigmas[i] * s_in, **extra_args), x)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        if callback is not None:
            callback({'x': x, 'i': i, 'sigma': sigmas[i], 'sigma_hat': sigmas[i], 'denoised': denoised})
        d = to_d(x, sigmas[i], denoised)
        x = x + d * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x
