"""ML-EM in the diffusers convention: the level outputs are combined, then the scheduler's
own `step` runs on the combination.

That is ML-EM exactly when the step is affine in the model output at a fixed timestep and
keeps no state from earlier outputs: Euler, Euler-ancestral, DDPM and DDIM (with
`clip_sample` and `thresholding` off). Schedulers or settings that break it are refused in
one line naming the setting: clipping or thresholding of the predicted sample, multistep
and higher-order solvers (DPM-Solver, UniPC, PNDM, LMS, Heun, DPM2...), learned variances,
guidance rescale. Classifier-free guidance is applied inside each level (uncond +
g (cond - uncond)) before the levels are combined, so a sample's B_l is shared by its
conditional and unconditional halves.
"""
from typing import NamedTuple

import numpy as np

from ..errors import SpecError
from ..optional import require_torch
from .multilevel import MultilevelModel, in_precision_of

torch = require_torch()

# Scheduler classes whose `step` is affine in the model output at a fixed timestep (given the
# settings `check_scheduler` refuses) and uses no earlier model output. A class-based list:
# PNDM and LMS report order 1 in their config yet keep earlier outputs, so no config test
# alone is safe.
AFFINE_SCHEDULERS = ("EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DDPMScheduler", "DDIMScheduler")


class UnsupportedSchedulerError(SpecError):
    """A scheduler or setting whose step is not affine in the model output."""


class MLEMSampleOutput(NamedTuple):
    """`mlem_sample`'s result: the final samples and the per-level sample-evaluations
    (index 0 unused; each evaluation of a conditional level counts once although it runs
    the network on both halves)."""
    sample: object
    evaluations: np.ndarray


def check_scheduler(scheduler, guidance_rescale=0.0):
    """UnsupportedSchedulerError naming the setting when ML-EM cannot run through this
    scheduler's `step` (its step is not affine in the model output)."""
    name = type(scheduler).__name__
    cfg = dict(getattr(scheduler, "config", {}) or {})
    if guidance_rescale:
        raise UnsupportedSchedulerError(
            f"guidance_rescale = {guidance_rescale}: rescaling by the guided output's standard deviation is not "
            "affine in the level outputs; use guidance_rescale = 0")
    for key, why in (("clip_sample", "clipping the predicted sample"),
                     ("thresholding", "dynamic thresholding of the predicted sample")):
        if cfg.get(key):
            raise UnsupportedSchedulerError(
                f"{name}: {key} = True ({why} is not affine in the model output); set {key}=False")
    for key in ("solver_order", "order"):
        value = cfg.get(key, getattr(scheduler, key, 1) if key == "order" else 1)
        if isinstance(value, (int, np.integer)) and value > 1:
            raise UnsupportedSchedulerError(
                f"{name}: {key} = {value} (a multistep or higher-order step combines several model "
                f"outputs); use one of {', '.join(AFFINE_SCHEDULERS)}")
    if cfg.get("variance_type") in ("learned", "learned_range"):
        raise UnsupportedSchedulerError(
            f"{name}: variance_type = {cfg['variance_type']!r} (a learned variance enters the step nonlinearly); "
            "use a fixed variance_type")
    if name not in AFFINE_SCHEDULERS:
        raise UnsupportedSchedulerError(
            f"{name}: its step is not known to be affine in the model output (multistep state or higher order); "
            f"use one of {', '.join(AFFINE_SCHEDULERS)}")


def model_output(out):
    """The tensor of a model's output: diffusers' `.sample`, a tuple's first entry, or the tensor."""
    if torch.is_tensor(out):
        return out
    if hasattr(out, "sample"):
        return out.sample
    return out[0]


class GuidedLevel:
    """One level as `MultilevelModel` calls it: the network's output at (x, t), with
    classifier-free guidance when `guidance_scale` is set (both halves in one batch, as
    diffusers' pipelines run them)."""

    def __init__(self, unet, guidance_scale, unet_kwargs):
        self.unet, self.g, self.kwargs = unet, guidance_scale, unet_kwargs

    def __call__(self, x, t, cond=None, uncond=None):
        if self.g is None:
            extra = {} if cond is None else {"encoder_hidden_states": cond}
            return model_output(self.unet(x, t, **extra, **self.kwargs))
        out = model_output(self.unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond, cond]),
                                     **self.kwargs))
        u, c = out.chunk(2)
        return u + self.g * (c - u)


def batched(value, batch, name):
    """value with a first dimension of `batch` (a single conditioning row is repeated)."""
    if value is None:
        return None
    if value.shape[0] == batch:
        return value
    if value.shape[0] == 1:
        return value.expand(batch, *value.shape[1:])
    raise ValueError(f"{name} has {value.shape[0]} rows for a batch of {batch}: give one row or one per sample")


@torch.no_grad()
def mlem_sample(unets, scheduler, probs, num_inference_steps, *, latents=None, shape=None, seed=0,
                generator=None, guidance_scale=None, encoder_hidden_states=None,
                negative_encoder_hidden_states=None, guidance_rescale=0.0, sample_offset=0,
                unet_kwargs=None, step_kwargs=None, output_type="pt", device=None, dtype=None):
    """Sample with ML-EM over a ladder of diffusers models (coarsest first) and a scheduler.

    Parameters
    ----------
    unets : sequence of models called as ``unet(x, t, encoder_hidden_states=..., **unet_kwargs)``
        returning a tensor or an object with ``.sample`` (diffusers' UNets), all in the
        scheduler's parameterisation (epsilon, v or sample).
    scheduler : a diffusers scheduler whose step is affine in the model output
        (`check_scheduler`); its `set_timesteps` is called here.
    probs : p_l per level, p_1 = 1 (every p = 1 gives the top model's loop bit for bit).
    num_inference_steps : int
    latents, shape : the starting noise (unit variance, scaled by the scheduler's
        ``init_noise_sigma`` as diffusers' pipelines do), or its shape to draw it from `generator`.
    seed : int
        Key of the per-sample Bernoulli draws (`MultilevelModel`): sample ``sample_offset + i``
        draws the same B_l whatever batch it is sampled in.
    generator : torch.Generator, optional
        The scheduler's noise (and the starting noise when `latents` is not given).
    guidance_scale : float, optional
        Classifier-free guidance applied per level before combining; needs
        `encoder_hidden_states` and `negative_encoder_hidden_states` (one row or one per sample).
    guidance_rescale : must be 0 (not affine; refused otherwise).
    unet_kwargs : passed unchanged to every network call (neither gathered per sample nor
        doubled for guidance: batched extra conditioning, e.g. SDXL's added_cond_kwargs,
        is not supported).
    step_kwargs : extra arguments of ``scheduler.step`` (e.g. ``eta`` for DDIM).
    output_type : "pt" (tensor) or "np" (NumPy array), the raw final sample (decode latents yourself).

    Returns
    -------
    MLEMSampleOutput(sample, evaluations)
    """
    check_scheduler(scheduler, guidance_rescale)
    if output_type not in ("pt", "np"):
        raise ValueError(f"output_type = {output_type!r}: 'pt' (tensor) or 'np' (NumPy array)")
    if guidance_scale is not None and (encoder_hidden_states is None or negative_encoder_hidden_states is None):
        raise ValueError("guidance_scale needs encoder_hidden_states and negative_encoder_hidden_states")
    if latents is None:
        if shape is None:
            raise ValueError("give latents or shape")
        latents = torch.randn(tuple(shape), generator=generator, device=device or "cpu", dtype=dtype or torch.float32)
    x = latents.to(device=device or latents.device, dtype=dtype or latents.dtype)
    batch = x.shape[0]
    levels = [GuidedLevel(u, guidance_scale, dict(unet_kwargs or {})) for u in unets]
    model = MultilevelModel(levels, probs, seed=seed, sample_offset=sample_offset)
    cond = {}
    if encoder_hidden_states is not None:
        cond["cond"] = batched(encoder_hidden_states, batch, "encoder_hidden_states")
    if negative_encoder_hidden_states is not None:
        cond["uncond"] = batched(negative_encoder_hidden_states, batch, "negative_encoder_hidden_states")
    scheduler.set_timesteps(num_inference_steps, device=x.device)
    x = x * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        out = in_precision_of(model(scheduler.scale_model_input(x, t), t, **cond), x)
        x = scheduler.step(out, t, x, generator=generator, **(step_kwargs or {})).prev_sample
    return MLEMSampleOutput(x.cpu().numpy() if output_type == "np" else x, model.evaluations.copy())
