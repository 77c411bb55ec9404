"""Score MLPs of the learned ladders: the torch network of a level, its training on the
CPU (denoising score matching, or regression on the closed-form noise), and the measurement
that writes family.json.

The network predicts the noise eps_hat(x, t) of x = alpha(t) x0 + sigma(t) eps plus a
fixed Gaussian skip (see `numerics.learned_kernel.learned_level_drift`); the sampler
runs it in Numba from the weights `ladders.learned.LearnedLadder` reads back.
"""
import json
import time
from pathlib import Path

import numpy as np

from ..analysis.diagnostics import measured_gamma
from ..errors import LadderError
from ..files import atomic_write
from ..ladders.learned import FAMILY_FORMAT, N_FREQ, eval_ns, mlp_sizes, multiply_adds, skip_moments, train_macs
from ..numerics.kernels import DIAG_ERR
from ..numerics.rng import MEASURE_SEED_OFFSET, heldout_seed, train_seeds
from ..numerics.solve import evaluate_level, solve
from ..optional import require_torch
from ..progress import Progress
from .common import adam_cosine, vp_alpha, vp_coefficients


def build_model(problem, width, depth):
    """The torch network of one level: eps_hat(x, t) = MLP(x, time features) + Gaussian skip."""
    torch = require_torch()
    nn = torch.nn
    m, v = skip_moments(problem)
    dim = problem.dim
    bmin, bmax = problem.beta_min, problem.beta_max

    class ScoreMLP(nn.Module):
        def __init__(self):
            super().__init__()
            layers = []
            for j, (a, b) in enumerate(mlp_sizes(dim, width, depth)):
                layers.append(nn.Linear(a, b))
                if j < depth:
                    layers.append(nn.SiLU())
            self.net = nn.Sequential(*layers)
            # float64 and not saved: the skip is a fixed function of the problem, exact in float64 inference
            self.register_buffer("mean", torch.tensor(m, dtype=torch.float64), persistent=False)
            self.var = v

        def forward(self, x, t):
            u = (2 * t - 1)[:, None]
            k = torch.arange(1, N_FREQ + 1, dtype=x.dtype) * np.pi * u
            # sin and cos interleaved as in numerics.learned_kernel.features: u, sin(pi u), cos(pi u), sin(2 pi u), ...
            feats = torch.stack([torch.sin(k), torch.cos(k)], dim=-1).reshape(x.shape[0], 2 * N_FREQ)
            h = torch.cat([x, u, feats], dim=1)
            alpha = vp_alpha(t, bmin, bmax)[:, None]
            sigma = torch.sqrt(1 - alpha * alpha)
            skip = sigma * (x - alpha * self.mean.to(x.dtype)) / (alpha * alpha * self.var + sigma * sigma)
            return self.net(h) + skip

    return ScoreMLP()


def sample_batch(problem, n, gen, torch):
    """(x_t, t, eps) for denoising score matching: x0 ~ p_0, t ~ U[t_min, 1]."""
    w = torch.tensor(problem.weights, dtype=torch.float32)
    mu = torch.tensor(problem.means, dtype=torch.float32)
    sd = torch.tensor(np.sqrt(problem.variances), dtype=torch.float32)
    comp = torch.multinomial(w, n, replacement=True, generator=gen)
    x0 = mu[comp] + sd[comp, None] * torch.randn(n, problem.dim, generator=gen)
    t = problem.t_min + (1 - problem.t_min) * torch.rand(n, generator=gen)
    bmin, bmax = problem.beta_min, problem.beta_max
    alpha = vp_alpha(t, bmin, bmax)[:, None]
    eps = torch.randn(n, problem.dim, generator=gen)
    return alpha * x0 + torch.sqrt(1 - alpha * alpha) * eps, t, eps


def regression_target(ladder, x, t, eps, torch):
    """What the network regresses on: the noise eps that made x (target "dsm"), or the
    closed-form noise of the marginal, E[eps | x_t] = -sigma(t) score(t, x) (target "exact";
    the problem's own score, in float64)."""
    if ladder.target == "dsm":
        return eps
    score = ladder.problem.score(t.double().numpy(), x.double().numpy())
    _, sigma, _ = vp_coefficients(t.double(), ladder.problem.beta_min, ladder.problem.beta_max)
    return (-sigma[:, None] * torch.from_numpy(score)).to(x.dtype)


def loss_weights(ladder, t):
    """Per-sample loss weights: None (uniform), or (beta/sigma)^2 normalised to mean 1 over
    the batch ("sampler": the factor by which a noise error enters the reverse drift)."""
    if ladder.weight == "uniform":
        return None
    _, sigma, beta = vp_coefficients(t, ladder.problem.beta_min, ladder.problem.beta_max)
    w = (beta / sigma) ** 2
    return w / w.mean()


def batch_loss(ladder, model, x, t, target):
    """Mean (weighted) squared error of the noise prediction over the batch."""
    sq = ((model(x, t) - target) ** 2).sum(dim=1)
    w = loss_weights(ladder, t)
    return sq.mean() if w is None else (w * sq).mean()


def train_level(ladder, level, progress=None):
    """Train one level for `ladder.steps(level)` Adam steps on its target; returns
    (state_dict, losses, seconds).

    Deterministic: one thread, a seeded generator for the data and a seeded initialisation,
    so the same machine gives the same weights bit for bit.
    """
    torch = require_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        init_seed, data_seed = train_seeds(ladder.seed, level)
        torch.manual_seed(init_seed)
        model = build_model(ladder.problem, ladder.widths[level - 1], ladder.depth)
        gen = torch.Generator().manual_seed(data_seed)

        def loss_at(step):
            x, t, eps = sample_batch(ladder.problem, ladder.batch_size, gen, torch)
            return batch_loss(ladder, model, x, t, regression_target(ladder, x, t, eps, torch))

        losses, secs = adam_cosine(model, ladder.steps(level), ladder.lr, loss_at, progress)
        return model.state_dict(), losses, secs
    finally:
        torch.set_num_threads(threads)


def heldout_loss(ladder, model, n=20000):
    """The training loss (target and weight of the ladder) of a model on a fixed held-out
    batch (the same for every level)."""
    torch = require_torch()
    gen = torch.Generator().manual_seed(heldout_seed(ladder.seed))
    x, t, eps = sample_batch(ladder.problem, n, gen, torch)
    with torch.no_grad():
        return float(batch_loss(ladder, model, x, t, regression_target(ladder, x, t, eps, torch)))


def training_time_left(done, seconds, todo):
    """Seconds to train the levels `todo` [(steps, multiply-adds)], from those `done` and
    their measured `seconds`: a non-negative fit of seconds = a steps + b multiply-adds
    (a alone from a single level)."""
    from scipy.optimize import nnls
    A = np.array(done, dtype=float)
    if len(done) < 2:
        A = A[:, :1]
    coef, _ = nnls(A, np.asarray(seconds, dtype=float))
    return float((np.array(todo, dtype=float)[:, :coef.size] @ coef).sum())


def train_family(ladder, force=False, log=print):
    """Train every level that is not already trained with the same configuration, then
    measure eps_l, cost, times and gamma and write family.json. Returns the family dict.

    Resumable: each finished level is saved (atomically) as it completes.
    """
    torch = require_torch()
    path = ladder.path
    path.mkdir(parents=True, exist_ok=True)
    meta = {}
    trained = False
    # the time still to go: seconds = a * steps + b * training multiply-adds, fitted to the
    # levels trained so far (small networks cost per step, large ones per multiply-add)
    to_train = {l: (ladder.steps(l), train_macs(multiply_adds(ladder.problem.dim, ladder.widths[l - 1], ladder.depth),
                                                ladder.batch_size, ladder.steps(l))) for l in range(1, ladder.levels + 1)}
    done, done_s = [], []
    for level in range(1, ladder.levels + 1):
        f = ladder.checkpoint_file(level)
        want = ladder.training_config(level)
        if f.is_file() and not force:
            ck = torch.load(f, map_location="cpu", weights_only=True)
            ladder.check_config(level, ck.get("config"), f.name)      # names the field that differs
            meta[level] = ck["meta"]
            log(f"level {level} (width {want['width']}): trained already, kept")
            del to_train[level]
            continue
        # a log gets the level's closing line below, not the bar's
        bar = Progress(ladder.steps(level), f"level {level} width {want['width']}", unit="step", closing_line=False)

        def tick(step, loss):
            bar.update(f"loss {loss:.4f}" if step % 100 == 0 else None)

        trained = True
        state, losses, secs = train_level(ladder, level, tick)
        bar.close()
        model = build_model(ladder.problem, want["width"], ladder.depth)
        model.load_state_dict(state)
        meta[level] = {"train_s": secs, "final_loss": float(np.mean(losses[-100:])),
                       "heldout_loss": heldout_loss(ladder, model.eval()),
                       "params": int(sum(p.numel() for p in model.parameters())),
                       "losses": [float(np.mean(losses[i:i + 100])) for i in range(0, len(losses), 100)]}
        atomic_write(f, lambda p, s=state, m=meta[level]: torch.save({"config": want, "state_dict": s, "meta": m}, p))
        done.append(to_train.pop(level))
        done_s.append(secs)
        rest = f"; about {training_time_left(done, done_s, list(to_train.values())):.0f}s of training to go" \
            if to_train else ""
        log(f"level {level} (width {want['width']}): trained in {secs:.1f}s, held-out loss "
            f"{meta[level]['heldout_loss']:.3g}{rest}")
    if not trained and (path / "family.json").is_file():
        # nothing retrained: keep the measured family as it is, so its digest (and with it
        # every plan and cell of the sweeps that use it) stays valid
        try:
            fam = ladder.family
        except LadderError:
            pass                  # incomplete or from another spec: measure again below
        else:
            log("family.json kept (every level trained already)")
            return fam
    # measure accuracy along exact-drift trajectories with the new weights (family kept in memory)
    levels = [{"level": l, "width": ladder.widths[l - 1], "macs": multiply_adds(ladder.problem.dim, ladder.widths[l - 1],
                                                                                  ladder.depth),
               "config": ladder.training_config(l), "eps": float("nan"), **meta[l]} for l in range(1, ladder.levels + 1)]
    fam = {"format": FAMILY_FORMAT, "levels": levels, "gamma": float("nan")}
    # the measurement runs the sampler's kernels on the new weights through a copy of the
    # ladder that reads the family in memory; family.json is written only once it is
    # complete, so a half-measured family is never read back
    fresh = ladder.with_family(fam)
    measure_seed = ladder.seed + MEASURE_SEED_OFFSET
    diag = solve(ladder.problem, fresh, "diag", 0, ladder.measure_steps, ladder.measure_paths, measure_seed)
    eps = np.sqrt(diag.diag.mean(axis=0)[:, DIAG_ERR] / ladder.measure_steps)
    for l, row in enumerate(levels, start=1):
        row["eps"] = float(eps[l])
        row["eval_ns"] = eval_ns(fresh, l)
    cost = np.array([r["macs"] for r in levels], float)
    g, lo, hi = measured_gamma(eps[1:], cost)
    fam.update(gamma=g, gamma_lo=lo, gamma_hi=hi,
               measure={"paths": ladder.measure_paths, "steps": ladder.measure_steps, "seed": measure_seed})
    atomic_write(path / "family.json", lambda p: Path(p).write_text(json.dumps(fam, indent=1)))
    log(f"measured gamma {g:.2f} [{lo:.2f}, {hi:.2f}] from eps_l = {', '.join(f'{e:.3g}' for e in eps[1:])}")
    return fam


def load_level_model(ladder, level):
    """The torch model of a learned ladder's `level` (float32, eval mode), checked against the spec."""
    ck = ladder.load_checkpoint(level)
    model = build_model(ladder.problem, ladder.widths[level - 1], ladder.depth)
    model.load_state_dict(ck["state_dict"])
    return model.eval()
