"""Example loaders for `mlem-bench measure` (docs/practitioners.md): a loader is any function
that returns the models of a ladder, coarsest first, each a callable ``model(x, time) ->
tensor shaped like x`` (here: the noise eps_hat(x, t) of the VP schedule, t = diffusion time).

* `score_mlps`: a family of score MLPs of growing width trained in seconds on a 2-D Gaussian
  mixture (the project's own `nets.score_mlp`, the mixture of tests/data/tiny-learned.toml);
  the tests use it too.
* `random_mlps`: random-init networks, for trying the mechanics only (their errors mean nothing).

Both take ``diffusers=True`` for models in diffusers' convention ``model(x, timestep)``
(`at_timestep`), which `mlem-bench sample` with a [sample].scheduler calls.

Your own loader replaces these with e.g. ``UNet2DModel.from_pretrained(path)`` wrapped as
``lambda x, t: unet(x, t * 999).sample`` (a diffusers UNet takes the timestep index).
"""
import functools

import torch

from mlem_bench.ladders.learned import LearnedLadder
from mlem_bench.nets.score_mlp import build_model, train_level
from mlem_bench.problems import GaussianMixtureReverse

MIXTURE = {"weights": [0.3, 0.7], "means": [[-1.0, 0.5], [1.0, -0.5]], "variances": [0.3, 0.5]}


@functools.lru_cache(maxsize=4)
def trained(widths, train_steps, seed, depth):
    problem = GaussianMixtureReverse(**MIXTURE)
    ladder = LearnedLadder(problem, widths, depth=depth, train_steps=train_steps, batch_size=256, seed=seed)
    models = []
    for level, w in enumerate(widths, start=1):
        state, _, _ = train_level(ladder, level)
        m = build_model(problem, w, depth)
        m.load_state_dict(state)
        models.append(m.eval())
    return models


class AtTimestep:
    """A VP model eps_hat(x, t) called as diffusers calls a UNet, ``model(x, timestep)``: the
    timestep k of diffusers' default 1000 linear betas 1e-4..0.02 (the VP schedule's beta
    0.1..20 in discrete form) is diffusion time t = (k + 1) / 1000."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x, timestep):
        return self.model(x, torch.full((x.shape[0],), (float(timestep) + 1) / 1000))


def score_mlps(widths=(2, 8, 32), train_steps=300, seed=1, depth=1, diffusers=False):
    """Score MLPs (eps-parameterised, VP schedule) of the given hidden widths, trained for
    `train_steps` Adam steps each (deterministic: same seed, same weights). Kept in memory
    per argument set, so the tests train them once per process."""
    models = list(trained(tuple(int(w) for w in widths), int(train_steps), int(seed), int(depth)))
    return [AtTimestep(m) for m in models] if diffusers else models


def random_mlps(widths=(4, 16, 64), dim=2, seed=0, diffusers=False):
    """Random-init MLPs eps_hat(x, t) of growing width (mechanics only)."""
    torch.manual_seed(seed)

    def level(w):
        net = torch.nn.Sequential(torch.nn.Linear(dim + 1, w), torch.nn.SiLU(), torch.nn.Linear(w, dim))
        return lambda x, t: net(torch.cat([x, t[:, None].to(x.dtype)], dim=1))

    models = [level(int(w)) for w in widths]
    return [AtTimestep(m) for m in models] if diffusers else models
