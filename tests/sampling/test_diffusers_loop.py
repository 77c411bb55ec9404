"""ML-EM in the diffusers convention (`sampling.diffusers_loop.mlem_sample`): with every
p = 1 it is the stock diffusers loop bit for bit (Euler, Euler-ancestral, DDPM, DDIM on three
tiny UNet2DModels); guidance is applied per level with B_l shared by both halves; refused
schedulers and settings are named in one line; on a score-MLP ladder trained here its ML-EM
samples agree in distribution with the image track's ML-EM sampler."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch samplers need the 'learned' extra (torch==2.13.0)")
from helpers import optional_module  # noqa: E402

diffusers = optional_module("diffusers")     # imported by the first test that uses it
if diffusers is None:
    pytest.skip("the diffusers loop needs the 'diffusers' extra", allow_module_level=True)

from mlem_bench.sampling import mlem_sample  # noqa: E402
from mlem_bench.sampling.diffusers_loop import UnsupportedSchedulerError  # noqa: E402

SCHEDULERS = {"euler": ("EulerDiscreteScheduler", {}),        # diffusers class names and settings
              "euler-ancestral": ("EulerAncestralDiscreteScheduler", {}),
              "ddpm": ("DDPMScheduler", {"clip_sample": False}),
              "ddim": ("DDIMScheduler", {"clip_sample": False})}


@pytest.fixture(scope="module")
def unets():
    """Three random-init tiny UNet2DModels of growing width (sample size 8, two channels)."""
    torch.manual_seed(0)
    return [diffusers.UNet2DModel(sample_size=8, in_channels=2, out_channels=2, block_out_channels=w,
                                  layers_per_block=1, norm_num_groups=4, down_block_types=("DownBlock2D",) * 2,
                                  up_block_types=("UpBlock2D",) * 2).eval()
            for w in ((8, 16), (16, 32), (32, 64))]


def latents():
    return torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(2))


@torch.no_grad()
def stock_loop(unet, scheduler, steps, x, generator):
    """diffusers' sampling loop as its pipelines write it."""
    scheduler.set_timesteps(steps)
    x = x * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        eps = unet(scheduler.scale_model_input(x, t), t).sample
        x = scheduler.step(eps, t, x, generator=generator).prev_sample
    return x


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_every_p_one_is_the_stock_loop_bit_for_bit(unets, name):
    name, cfg = SCHEDULERS[name]
    cls = getattr(diffusers, name)
    ref = stock_loop(unets[-1], cls(**cfg), 3, latents(), torch.Generator().manual_seed(5))
    out = mlem_sample(unets, cls(**cfg), [1, 1, 1], 3, latents=latents(), generator=torch.Generator().manual_seed(5))
    assert torch.equal(out.sample, ref)
    assert list(out.evaluations[1:]) == [0, 0, 3 * 3]
    # with p < 1 the coarser levels take part (and the result moves)
    ml = mlem_sample(unets, cls(**cfg), [1, 0.5, 0.5], 3, latents=latents(), generator=torch.Generator().manual_seed(5))
    assert ml.evaluations[1] == 9 and 0 < ml.evaluations[3] < 9 and not torch.equal(ml.sample, ref)


def test_same_seed_same_samples_and_a_sample_ignores_its_batch(unets):
    def run(x, seed=7, **kw):
        return mlem_sample(unets, diffusers.DDIMScheduler(clip_sample=False), [1, 0.5, 0.25], 3, latents=x,
                           seed=seed, **kw).sample
    full = run(latents())
    assert torch.equal(full, run(latents()))
    assert not torch.allclose(full, run(latents(), seed=8), atol=1e-3)
    # samples 1 and 2 alone (sample_offset = 1) draw what they drew in the batch of three;
    # the networks on a smaller batch agree to float32 rounding
    assert torch.allclose(run(latents()[1:], sample_offset=1), full[1:], atol=1e-5)
    assert not torch.allclose(run(latents()[1:]), full[1:], atol=1e-3)


class Conditional:
    """A cheap conditional 'UNet': x * a_l + (mean of encoder_hidden_states) * c_l."""

    def __init__(self, level):
        g = torch.Generator().manual_seed(level)
        self.a, self.c = 1 + 0.1 * torch.randn(1, generator=g), torch.randn(1, generator=g)

    def __call__(self, x, t, encoder_hidden_states):
        return x * self.a + encoder_hidden_states.mean(dim=(1, 2))[:, None, None, None] * self.c


def test_guidance_per_level_shares_the_draws_of_both_halves():
    """One deterministic DDIM step is affine in the model output, so with B_l shared by the
    two halves the guided ML-EM sample is uncond + g (cond - uncond) of the unguided ML-EM
    samples with the same draws (to float32 rounding); with separate draws it would not be."""
    levels = [Conditional(level) for level in (1, 2, 3)]
    x = torch.randn(64, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    cond, uncond = torch.randn(64, 4, 3), torch.randn(1, 4, 3)
    probs, g = [1, 0.5, 0.3], 7.5
    kw = dict(latents=x, seed=3)

    def run(**more):
        return mlem_sample(levels, diffusers.DDIMScheduler(clip_sample=False), probs, 1, **kw, **more).sample
    guided = run(guidance_scale=g, encoder_hidden_states=cond, negative_encoder_hidden_states=uncond)
    c, u = run(encoder_hidden_states=cond), run(encoder_hidden_states=uncond)
    assert torch.allclose(guided, u + g * (c - u), rtol=1e-5, atol=1e-5)
    # the draws matter here: another seed gives another guided sample
    assert not torch.allclose(guided, mlem_sample(levels, diffusers.DDIMScheduler(clip_sample=False), probs, 1,
                                                  latents=x, seed=4, guidance_scale=g, encoder_hidden_states=cond,
                                                  negative_encoder_hidden_states=uncond).sample, atol=1e-3)


@pytest.mark.parametrize("scheduler, kw, match", [
    ("DDPMScheduler", {}, r"DDPMScheduler: clip_sample = True .*set clip_sample=False"),
    ("DDIMScheduler", {"clip_sample": False, "thresholding": True}, r"DDIMScheduler: thresholding = True"),
    ("DPMSolverMultistepScheduler", {}, r"DPMSolverMultistepScheduler: solver_order = 2"),
    ("UniPCMultistepScheduler", {}, r"UniPCMultistepScheduler: solver_order = 2"),
    ("HeunDiscreteScheduler", {}, r"HeunDiscreteScheduler: order = 2"),
    ("PNDMScheduler", {}, r"PNDMScheduler: its step is not known to be affine"),
    ("LMSDiscreteScheduler", {}, r"LMSDiscreteScheduler: its step is not known to be affine"),
    ("DDPMScheduler", {"clip_sample": False, "variance_type": "learned_range"}, r"variance_type = 'learned_range'"),
    ("EulerDiscreteScheduler", {"guidance_rescale": 0.7}, r"guidance_rescale = 0.7: .*use guidance_rescale = 0"),
])
def test_refused_schedulers_name_the_setting(scheduler, kw, match):
    rescale = kw.pop("guidance_rescale", 0.0)
    with pytest.raises(UnsupportedSchedulerError, match=match) as e:
        mlem_sample([Conditional(1)], getattr(diffusers, scheduler)(**kw), [1], 2, shape=(1, 1, 2, 2),
                    guidance_rescale=rescale)
    assert "\n" not in str(e.value) and isinstance(e.value, ValueError)


def test_ml_em_agrees_in_distribution_with_the_image_track_sampler():
    """Score MLPs on a 2-D mixture (the tiny learned ladder, trained here). DDPM with its 1000
    linear betas 1e-4..0.02 discretises the VP SDE with beta 0.1..20 (the image track's
    schedule) at step 1/1000, as do 1000 EM steps of the image track's sampler, so both
    target the same law (the top model's reverse SDE) up to O(1/1000). The two ML-EM sample sets (independent
    noise and draws, 1000 samples each) must pass a permutation test on the sliced W2
    distance at the 1% level (threshold: the 99% quantile of sliced W2 between random halves
    of the pooled samples, 200 splits); the same test tells the coarse model's EM apart
    (sliced W2 0.86 against a threshold of 0.13), though not the middle model's (0.081): it
    catches gross errors of either path, not level-sized ones."""
    import tomllib

    from helpers import ROOT
    from mlem_bench.analysis.metrics import sliced_w2
    from mlem_bench.images.sampler import Ladder, sample
    from mlem_bench.nets.score_mlp import build_model, train_level
    from mlem_bench.sweep.spec import parse_case
    doc = tomllib.loads((ROOT / "tests" / "data" / "tiny-learned.toml").read_text())
    doc["ladder"]["checkpoints"] = "unused"
    lad = parse_case(doc, "tiny").ladder
    nets = []
    for level in (1, 2, 3):
        m = build_model(lad.problem, lad.widths[level - 1], lad.depth)
        m.load_state_dict(train_level(lad, level)[0])
        nets.append(m.eval())
    n, probs = 1000, [1.0, 0.5, 0.25]

    class Discrete:
        """The MLP at DDPM timestep k: continuous time (k + 1) / 1000."""

        def __init__(self, net):
            self.net = net

        def __call__(self, x, t):
            return self.net(x, torch.full((x.shape[0],), (float(t) + 1) / 1000))
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, clip_sample=False)
    with torch.no_grad():
        a = mlem_sample([Discrete(m) for m in nets], sched, probs, 1000, shape=(n, 2), seed=1,
                        generator=torch.Generator().manual_seed(1)).sample
        track = Ladder(nets, [1.0, 4.0, 16.0])
        x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(2))
        b = sample(track, "mlem", 1000, x0, 1000, 2, probs=np.array([0.0] + probs))[0]
        coarse = sample(Ladder(nets[:1], [1.0]), "em", 250, x0, 1000, 3)[0]     # the power check
    a, b, coarse = (v.double().numpy() for v in (a, b, coarse))
    # the permutation null of sliced W2 between two halves of the pooled samples (200 splits)
    rng = np.random.default_rng(0)
    pooled = np.concatenate([a, b])
    null = []
    for _ in range(200):
        perm = rng.permutation(2 * n)
        null.append(sliced_w2(pooled[perm[:n]], pooled[perm[n:]]))
    threshold = np.quantile(null, 0.99)
    print(f"sliced W2: ML-EM paths {sliced_w2(a, b):.4f}, coarse EM {sliced_w2(a, coarse):.4f}, "
          f"null median {np.median(null):.4f}, 99% {threshold:.4f}")
    assert sliced_w2(a, b) < threshold, (sliced_w2(a, b), threshold)
    assert sliced_w2(a, coarse) > threshold, (sliced_w2(a, coarse), threshold)
