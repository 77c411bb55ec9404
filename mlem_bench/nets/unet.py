"""UNets of increasing width for the image track: one architecture, a width multiplier
(base channels) per level, time conditioning for the VP diffusion, counted FLOPs, and
denoising-score-matching training. The same code runs on a GPU (mixed precision and
torch.compile where they help) and, slowly and on tiny sizes, on the CPU.

The VP schedule is the one of the mixture problems (beta linear from 0.1 to 20, diffusion
time t in [t_min, 1]); a network predicts the noise eps of x_t = alpha x_0 + sigma eps.
"""
import math

import numpy as np

from ..numerics.vp import T_MIN
from ..optional import require_torch
from ..torch_tools import call_flops
from .common import adam_cosine, vp_coefficients


def build_unet(base, mults=(1, 2), channels=3):
    """A UNet with `base` channels at full resolution and base * m at each lower one."""
    torch = require_torch()
    nn = torch.nn

    def norm(ch):
        return nn.GroupNorm(math.gcd(8, ch), ch)

    class ResBlock(nn.Module):
        def __init__(self, c_in, c_out, emb):
            super().__init__()
            self.n1, self.c1 = norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
            self.e = nn.Linear(emb, c_out)
            self.n2, self.c2 = norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
            self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

        def forward(self, x, e):
            h = self.c1(torch.nn.functional.silu(self.n1(x)))
            h = h + self.e(e)[:, :, None, None]
            h = self.c2(torch.nn.functional.silu(self.n2(h)))
            return h + self.skip(x)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            if base < 2 or base % 2:
                raise ValueError(f"[ladder].widths: base channels must be even and >= 2 (got {base})")
            emb = 4 * base
            self.base = base
            self.temb = nn.Sequential(nn.Linear(base, emb), nn.SiLU(), nn.Linear(emb, emb))
            self.inc = nn.Conv2d(channels, base, 3, padding=1)
            chans = [base * m for m in mults]
            self.down, self.pool = nn.ModuleList(), nn.ModuleList()
            c = base
            for i, ch in enumerate(chans):
                self.down.append(ResBlock(c, ch, emb))
                self.pool.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1) if i < len(chans) - 1 else nn.Identity())
                c = ch
            self.mid = ResBlock(c, c, emb)
            self.up, self.unpool = nn.ModuleList(), nn.ModuleList()
            for i, ch in reversed(list(enumerate(chans))):
                self.up.append(ResBlock(c + ch, ch, emb))
                self.unpool.append(nn.Upsample(scale_factor=2, mode="nearest") if i > 0 else nn.Identity())
                c = ch
            self.out = nn.Sequential(norm(c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))

        def forward(self, x, t):
            half = self.base // 2
            freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
            arg = 1000.0 * t.float()[:, None] * freqs[None]
            e = self.temb(torch.cat([torch.sin(arg), torch.cos(arg)], dim=1).to(x.dtype))
            h = self.inc(x)
            skips = []
            for blk, pool in zip(self.down, self.pool):
                h = blk(h, e)
                skips.append(h)
                h = pool(h)
            h = self.mid(h, e)
            for blk, unpool in zip(self.up, self.unpool):
                h = blk(torch.cat([h, skips.pop()], dim=1), e)
                h = unpool(h)
            return self.out(h)

    return UNet()


def count_flops(model, resolution, channels=3):
    """Floating-point operations of one evaluation on one image (`torch_tools.call_flops`)."""
    torch = require_torch()
    p = next(model.parameters())
    x = torch.zeros(1, channels, resolution, resolution, device=p.device, dtype=p.dtype)
    return call_flops(model, x, torch.full((1,), 0.5, device=p.device))


def ladder_flops(widths, mults=(1, 2), resolution=64, channels=3):
    """FLOPs of one evaluation on one image of each width's UNet (`count_flops`), level 1 first.
    The networks are built on torch's meta device: shapes only, no weights, no random numbers."""
    torch = require_torch()
    with torch.device("meta"):
        return [count_flops(build_unet(w, tuple(mults), channels), resolution, channels) for w in widths]


# The per-level training budget. "fixed": every level trains train_steps steps. "scaled":
# steps_l = train_steps * min(BUDGET_CAP, (F_l / F_1) ** BUDGET_EXPONENT), F_l the counted FLOPs
# of level l. Why: with equal steps the larger networks stop far from what their capacity
# allows (on the learned MLP ladders 4x more steps cut the largest one's drift error 3.4x), so
# their errors crowd together and the ladder looks flatter than it is; equal steps test the
# training length, not the sizes. Exponent 1/2: compute-optimal training grows data and
# parameters together, so steps grow with size, but a full step-per-FLOP scaling would give the
# largest level nearly all the compute; the square root doubles the steps per 4x in FLOPs (one
# width doubling) and keeps the largest level's share of training compute bounded. The cap
# bounds the longest level at BUDGET_CAP x train_steps on ladders with a wide FLOP range.
BUDGETS = ("fixed", "scaled")
BUDGET_EXPONENT = 0.5
BUDGET_CAP = 8.0


def level_steps(train_steps, flops, budget="fixed", exponent=BUDGET_EXPONENT, cap=BUDGET_CAP):
    """Training steps of each level (list of int, level 1 first) under `budget`; flops are the
    levels' FLOPs per evaluation (`ladder_flops`)."""
    if budget not in BUDGETS:
        raise ValueError(f"[ladder].budget must be one of {', '.join(map(repr, BUDGETS))} (got {budget!r})")
    if budget == "fixed":
        return [int(train_steps)] * len(flops)
    return [int(round(train_steps * min(cap, (f / flops[0]) ** exponent))) for f in flops]


def compiled(model, enabled):
    """`model` through torch.compile when enabled (its state dict stays the model's own).
    A graph the compiler cannot handle runs eagerly instead of failing the run."""
    if not enabled:
        return model
    torch = require_torch()
    import torch._dynamo
    torch._dynamo.config.suppress_errors = True
    return torch.compile(model)


def train_unet(model, data, steps, batch_size, lr, seed, device="cpu", progress=None, amp=False, compile=False):
    """Denoising score matching on `data` (float32 (n, C, R, R) in [-1, 1]) for `steps`
    Adam steps with cosine decay; returns (losses, seconds). Seeded: data order, t and
    noise come from one generator, the initialisation from `seed` before the model was built.
    amp: bf16 autocast on a GPU (a no-op on the CPU); compile: torch.compile the forward pass.
    The images, the generator and every draw live on `device`: on a GPU a step copies nothing
    from the host (drawing a batch's noise on the host took 5 ms at 32x32 and 30 ms at 64x64
    per step on one CPU core, longer than a small UNet's step on the GPU). On the CPU the draws
    are those of a CPU generator, as before; a GPU run draws other numbers.
    """
    torch = require_torch()
    gen = torch.Generator(device=device).manual_seed(seed)
    x_all = torch.from_numpy(np.ascontiguousarray(data)).to(device)
    model.to(device).train()
    use_amp = bool(amp) and device.startswith("cuda")
    forward = compiled(model, compile)

    def loss_at(step):
        idx = torch.randint(0, x_all.shape[0], (batch_size,), generator=gen, device=device)
        x0 = x_all[idx]
        t = T_MIN + (1 - T_MIN) * torch.rand(batch_size, generator=gen, device=device)
        eps = torch.randn(x0.shape, generator=gen, device=device)
        alpha, sigma, _ = vp_coefficients(t)
        xt = alpha[:, None, None, None] * x0 + sigma[:, None, None, None] * eps
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            pred = forward(xt, t)
        return ((pred.float() - eps) ** 2).mean()

    return adam_cosine(model, steps, lr, loss_at, progress)
