"""What the torch networks share: the torch twin of the VP schedule and the optimiser loop."""
import time

from ..numerics import vp
from ..optional import require_torch


def vp_alpha(t, bmin=vp.BETA_MIN, bmax=vp.BETA_MAX):
    """alpha(t) of the VP schedule for a torch tensor t (`numerics.vp.log_alpha`, evaluated by torch)."""
    torch = require_torch()
    return torch.exp(vp.log_alpha.py_func(t, bmin, bmax))


def vp_coefficients(t, bmin=vp.BETA_MIN, bmax=vp.BETA_MAX):
    """(alpha, sigma, beta) of the VP schedule at diffusion time t (tensor or float)."""
    torch = require_torch()
    t = torch.as_tensor(t)
    alpha = vp_alpha(t, bmin, bmax)
    return alpha, torch.sqrt(1 - alpha * alpha), vp.beta.py_func(t, bmin, bmax)


def adam_cosine(model, steps, lr, loss_at, progress=None):
    """Adam with cosine decay to 0 over `steps`; loss_at(step) returns the batch loss.
    Returns (losses, seconds); progress(step, loss) after each step."""
    torch = require_torch()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    t0 = time.perf_counter()
    for step in range(steps):
        loss = loss_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step + 1, losses[-1])
    return losses, time.perf_counter() - t0
