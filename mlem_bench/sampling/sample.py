"""`mlem-bench sample SPEC`: ML-EM samples of the models a `mlem-bench measure` spec loads.

Two samplers, chosen by the spec's optional [sample] table:

* without [sample].scheduler: EM over the spec's own [schedule] (`measure.em`, the loop the
  measurement ran) with `MultilevelModel` over the level drifts, initial noise and Brownian
  increments keyed by seed and sample index (`measure.prior_sample`, `measure.brownian`);
  with every p = 1 it is EM with the top model, bit for bit;
* with [sample].scheduler = "EulerDiscreteScheduler" (a diffusers scheduler class) and
  [sample].scheduler_config: `diffusers_loop.mlem_sample` with that scheduler. The models
  are then called as ``model(x, timestep)`` (diffusers' convention, a scalar timestep);
  [sample].loader and loader_args give such models when the spec's loader returns the
  measurement's ``model(x, time)``.

The models run at [measure].dtype and device; refused scheduler settings are SpecErrors
naming the setting (`diffusers_loop.check_scheduler`).
"""
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..optional import require_torch
from .diffusers_loop import AFFINE_SCHEDULERS, check_scheduler, mlem_sample
from .measure import (DEFAULT_PARAMETERISATION, LevelDrift, accumulator, check_parameterisation, dtype_of, em,
                      load_models, prior_sample, spec_schedule, usable_device)
from .multilevel import MultilevelModel

torch = require_torch()


@dataclass
class SampleRun:
    """What `sample_models` drew: the samples (n, *shape), the sample-evaluations per level
    (index 0 unused) summed over samples and steps, and the model calls per sample (steps)."""

    samples: np.ndarray
    evaluations: np.ndarray
    steps: int


def spec_scheduler(doc, source):
    """The diffusers scheduler [sample].scheduler names, built from [sample].scheduler_config
    and checked (`check_scheduler`, with [sample].guidance_rescale); None without one.
    SpecError naming the field or setting otherwise."""
    s = doc.get("sample", {})
    name = s.get("scheduler")
    if name is None:
        stray = [k for k in ("scheduler_config", "guidance_rescale") if k in s]
        if stray:
            raise SpecError(f"{source}: [sample].{stray[0]} needs [sample].scheduler (a diffusers scheduler class)")
        return None
    try:
        import diffusers
    except ImportError:
        raise SpecError(f"{source}: [sample].scheduler = {name!r} needs diffusers: pip install -e '.[diffusers]'") \
            from None
    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        raise SpecError(f"{source}: [sample].scheduler = {name!r} is not a diffusers scheduler class; "
                        f"use one of {', '.join(AFFINE_SCHEDULERS)}")
    try:
        scheduler = cls(**s.get("scheduler_config", {}))
    except (TypeError, ValueError) as e:
        raise SpecError(f"{source}: [sample].scheduler_config: {name} refused it ({e})") from None
    try:
        check_scheduler(scheduler, s.get("guidance_rescale", 0.0))
    except SpecError as e:
        raise SpecError(f"{source}: [sample] {e}") from None
    return scheduler


def spec_models(doc, base):
    """The models to sample with: [sample].loader (default: the spec's loader) called with
    loader_args updated by [sample].loader_args."""
    s = doc.get("sample", {})
    return load_models(s.get("loader", doc["loader"]), {**doc.get("loader_args", {}), **s.get("loader_args", {})},
                       base)


def sample_models(models, probs, n_steps, n, doc, seed=0, batch=None, scheduler=None):
    """n ML-EM samples of the models (coarsest first, one probability each, p_1 = 1) in
    n_steps, by the spec's schedule or by `scheduler` (see the module docstring), in chunks
    of `batch` samples (default all at once; a sample's B_l do not depend on its chunk).

    Returns
    -------
    SampleRun
    """
    if n < 1 or n_steps < 1 or (batch is not None and batch < 1):
        raise SpecError(f"n, steps and batch must be >= 1 (got {n}, {n_steps}, {batch})")
    shape = tuple(int(v) for v in doc["shape"])
    m = doc.get("measure", {})
    dtype = dtype_of(m.get("dtype", "float32"))
    device = usable_device(m.get("device", "cpu"))
    batch = n if batch is None else min(int(batch), n)
    chunks = [(a, min(a + batch, n)) for a in range(0, n, batch)]
    evals = np.zeros(len(models) + 1, dtype=np.int64)
    out = []
    if scheduler is None:
        schedule, ode = spec_schedule(doc)
        parameterisation = doc.get("parameterisation", DEFAULT_PARAMETERISATION[schedule.kind])
        check_parameterisation(schedule, parameterisation)
        drifts = [LevelDrift(f, schedule, parameterisation, dtype, ode) for f in models]
        for a, b in chunks:
            mm = MultilevelModel(drifts, probs, seed=seed, sample_offset=a)
            x0 = prior_sample(schedule, seed, a, b, shape, accumulator(dtype), device)
            out.append(em(mm, schedule, x0, n_steps, n_steps, seed, a, ode))
            evals += mm.evaluations
        steps = n_steps
    else:
        # the starting noise and the scheduler's noise from one generator, chunk after chunk
        gen = torch.Generator().manual_seed(int(seed))
        for a, b in chunks:
            latents = torch.randn((b - a,) + shape, generator=gen)
            res = mlem_sample(models, scheduler, probs, n_steps, latents=latents, seed=seed, generator=gen,
                              sample_offset=a, guidance_rescale=doc["sample"].get("guidance_rescale", 0.0),
                              device=device, dtype=dtype)
            out.append(res.sample)
            evals += res.evaluations
        steps = len(scheduler.timesteps)
    samples = torch.cat(out).detach().cpu()
    return SampleRun(samples.float().numpy() if samples.dtype.itemsize < 4 else samples.numpy(), evals, steps)

