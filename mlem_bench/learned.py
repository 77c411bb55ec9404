"""Learned ladders: score networks of increasing size for the reverse VP diffusion of
a Gaussian mixture, trained by denoising score matching with PyTorch on the CPU.

Level l is a time-conditioned MLP of width widths[l-1] and `depth` hidden layers that
predicts the noise eps_hat(x, t) of x = alpha(t) x0 + sigma(t) eps (plus a fixed
Gaussian skip, see `mlp.learned_level_drift`). Its counted cost is the network's
multiply-adds per evaluation; its accuracy eps_l is measured after training, as the
RMS of |f^l - f| along exact-drift trajectories of the sampler (the error the drift
estimator sees), and the ladder's gamma is fitted from (c_l, eps_l) with
`diagnostics.measured_gamma`.

A trained family lives in one folder: ``level-XX.pt`` per level (the state dict and
the configuration it was trained with) and ``family.json`` (configuration, per-level
sizes, costs, losses, training and evaluation times, measured eps_l and gamma).
PyTorch is needed to train and to read the checkpoints (extra ``learned``); sampling
runs in Numba (`mlp.py`).
"""
import hashlib
import json
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .mlp import LEARNED_ARITY
from .spec import SpecError

FAMILY_FORMAT = 2
N_FREQ = 3                 # time features sin / cos(pi k u), k = 1..N_FREQ


class LadderError(SpecError):
    """A learned ladder whose checkpoints are missing or do not match its spec."""


def _torch():
    try:
        import torch
    except ImportError:
        raise LadderError("learned ladders need PyTorch: pip install -e '.[learned]' "
                          "(pins the CPU build torch==2.13.0)") from None
    return torch


def vp_alpha(t, bmin, bmax):
    """alpha(t) of the VP schedule for a torch tensor t (the torch twin of problems._vp_alpha)."""
    torch = _torch()
    return torch.exp(-0.5 * (bmin * t + 0.5 * (bmax - bmin) * t * t))


def skip_moments(problem):
    """Mean m and average per-coordinate variance v of the data law p_0 (the Gaussian skip)."""
    w, mu, var = problem.weights, problem.means, problem.variances
    m = w @ mu
    v = float(w @ var + w @ np.sum((mu - m) ** 2, axis=1) / problem.dim)
    return m, v


def mlp_sizes(dim, width, depth):
    """(n_in, n_out) of each linear layer of a level's network."""
    n_in = dim + 1 + 2 * N_FREQ
    return [(n_in, width)] + [(width, width)] * (depth - 1) + [(width, dim)]


def multiply_adds(dim, width, depth):
    """Counted cost of one evaluation: multiply-adds of the linear layers."""
    return int(sum(a * b for a, b in mlp_sizes(dim, width, depth)))


@dataclass(frozen=True, eq=False)
class LearnedLadder:
    """A family of trained score networks used as drift approximators f^1..f^L.

    Parameters
    ----------
    problem : problems.GaussianMixtureReverse the networks learn the score of.
    widths : hidden widths, one per level, increasing (a geometric ladder of sizes).
    depth : hidden layers per network.
    train_steps : Adam steps per level (the same for every size; see README).
    batch_size, lr : training batch and peak learning rate (cosine decay to 0).
    seed : training seed (initialisation and data of level l use seed and l).
    checkpoints : folder of the trained family.
    measure_paths, measure_steps : exact-drift trajectories on which eps_l is measured.
    twin : also run `synthetic_twin` of the case (the theory's ladder of the same gamma).
    """

    problem: object
    widths: tuple
    depth: int = 2
    train_steps: int = 3000
    batch_size: int = 512
    lr: float = 2e-3
    seed: int = 0
    checkpoints: str = "models/learned"
    measure_paths: int = 400
    measure_steps: int = 256
    twin: bool = False

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        w = self.widths
        checks = [
            ("widths", len(w) >= 2 and all(a >= 1 for a in w) and all(a < b for a, b in zip(w, w[1:])),
             "must be at least 2 increasing positive integers (one hidden width per level)"),
            ("depth", self.depth >= 1, "must be >= 1"),
            ("train_steps", self.train_steps >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 2, "must be >= 2"),
            ("lr", 0 < self.lr < 1, "must be in (0, 1)"),
            ("measure_paths", self.measure_paths >= 2, "must be >= 2"),
            ("measure_steps", self.measure_steps >= self.problem.min_steps
             and self.measure_steps & (self.measure_steps - 1) == 0,
             f"must be a power of two >= {self.problem.min_steps} (the problem's smallest stable grid)"),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ValueError(f"[ladder].{name} {what} (got {getattr(self, name)!r})")

    # ---------------------------------------------------------------- facts

    @property
    def levels(self):
        return len(self.widths)

    @property
    def path(self):
        return Path(self.checkpoints)

    def training_config(self, level):
        """What level `level` (1-based) is trained from; a checkpoint must match it exactly."""
        p = self.problem
        return {"format": FAMILY_FORMAT, "level": level, "dim": p.dim, "width": self.widths[level - 1],
                "depth": self.depth, "n_freq": N_FREQ, "train_steps": self.train_steps,
                "batch_size": self.batch_size, "lr": self.lr, "seed": self.seed,
                "problem": {"family": p.family, "params": [float(v) for v in p.params]}}

    @cached_property
    def family(self):
        """The trained family's family.json, checked against this spec (LadderError if not)."""
        f = self.path / "family.json"
        if not f.is_file():
            raise LadderError(f"[ladder].checkpoints: no trained family in {self.path} (missing {f.name}); "
                              f"train it with `mlem-bench train SPEC`")
        fam = json.loads(f.read_text())
        for level in range(1, self.levels + 1):
            self._check(level, fam["levels"][level - 1]["config"] if level <= len(fam["levels"]) else None,
                        f.name)
        if len(fam["levels"]) != self.levels:
            raise LadderError(f"[ladder].widths has {self.levels} levels but {f} holds {len(fam['levels'])}; "
                              f"retrain with `mlem-bench train SPEC --force` or point [ladder].checkpoints elsewhere")
        return fam

    def _check(self, level, saved, what):
        want = self.training_config(level)
        if saved is None:
            raise LadderError(f"[ladder].checkpoints: {self.path} has no level {level} ({what}); "
                              f"train it with `mlem-bench train SPEC`")
        if saved.get("dim") != want["dim"]:
            raise LadderError(f"[ladder].checkpoints: {self.path / what} was trained in dimension {saved.get('dim')} "
                              f"but [problem].dim is {want['dim']}; retrain with `mlem-bench train SPEC --force` "
                              f"or point [ladder].checkpoints at the family of this problem")
        for key in want:
            if saved.get(key) != want[key]:
                field_name = "[problem]" if key == "problem" else f"[ladder].{key}"
                raise LadderError(f"{field_name}: {self.path / what} was trained with {key} = {saved.get(key)!r}, "
                                  f"the spec asks for {want[key]!r}; retrain with `mlem-bench train SPEC --force` "
                                  f"or point [ladder].checkpoints elsewhere")

    @property
    def eps(self):
        """Measured eps_l for l = 0..L (eps_0 = 0: the exact drift)."""
        return np.array([0.0] + [lv["eps"] for lv in self.family["levels"]])

    @property
    def cost(self):
        """Counted cost c_l (multiply-adds per evaluation) for l = 0..L (c_0 = 0)."""
        return np.array([0.0] + [float(lv["macs"]) for lv in self.family["levels"]])

    @property
    def gamma(self):
        """The measured gamma (fit of c_l against eps_l)."""
        return float(self.family["gamma"])

    def digest(self):
        """Hash of the trained weights and their measurements (results of other weights never mix)."""
        self.family   # noqa: B018 -- checks the family against the spec first
        h = hashlib.sha256((self.path / "family.json").read_bytes())
        for level in range(1, self.levels + 1):
            h.update(self._file(level).read_bytes())
        return h.hexdigest()[:16]

    def _file(self, level):
        return self.path / f"level-{level:02d}.pt"

    # ---------------------------------------------------------------- networks

    def load_model(self, level):
        """The torch model of `level` (float32, eval mode), checked against the spec."""
        torch = _torch()
        f = self._file(level)
        if not f.is_file():
            raise LadderError(f"[ladder].checkpoints: missing checkpoint {f}; train it with `mlem-bench train SPEC`")
        ck = torch.load(f, map_location="cpu", weights_only=True)
        self._check(level, ck.get("config"), f.name)
        model = build_model(self.problem, self.widths[level - 1], self.depth)
        model.load_state_dict(ck["state_dict"])
        return model.eval()

    @cached_property
    def _weights(self):
        """(weights, layout) of every level, flat float64, in `mlp.py`'s layout."""
        self.family   # noqa: B018 -- checks the family before reading weights
        max_layers = self.depth + 1
        layout = np.zeros((self.levels + 1, max_layers + 1, 4), dtype=np.int64)
        chunks, offset = [], 0
        for level in range(1, self.levels + 1):
            model = self.load_model(level)
            linears = [m for m in model.net if hasattr(m, "weight")]
            layout[level, 0] = (len(linears), max(m.out_features for m in linears), 0, 0)
            for j, lin in enumerate(linears, start=1):
                w = lin.weight.detach().double().numpy().T.ravel()      # input-major W[i, o]
                b = lin.bias.detach().double().numpy()
                layout[level, j] = (offset, offset + w.size, lin.in_features, lin.out_features)
                chunks += [w, b]
                offset += w.size + b.size
        return np.ascontiguousarray(np.concatenate(chunks)), layout

    def arrays(self, dim):
        """The kernel tuple (eps, cost, weights, layout, aux), see `mlp.py`."""
        if dim != self.problem.dim:
            raise LadderError(f"the learned ladder was built for dimension {self.problem.dim}, not {dim}")
        weights, layout = self._weights
        m, v = skip_moments(self.problem)
        aux = np.concatenate([[float(N_FREQ)], m, [v]])
        lad = (self.eps, self.cost, weights, layout, aux)
        assert len(lad) == LEARNED_ARITY
        return lad


# -------------------------------------------------------------------- torch side

def build_model(problem, width, depth):
    """The torch network of one level: eps_hat(x, t) = MLP(x, time features) + Gaussian skip."""
    torch = _torch()
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
            # sin and cos interleaved as in mlp._features: u, sin(pi u), cos(pi u), sin(2 pi u), ...
            feats = torch.stack([torch.sin(k), torch.cos(k)], dim=-1).reshape(x.shape[0], 2 * N_FREQ)
            h = torch.cat([x, u, feats], dim=1)
            alpha = vp_alpha(t, bmin, bmax)[:, None]
            sigma = torch.sqrt(1 - alpha * alpha)
            skip = sigma * (x - alpha * self.mean.to(x.dtype)) / (alpha * alpha * self.var + sigma * sigma)
            return self.net(h) + skip

    return ScoreMLP()


def _sample_batch(problem, n, gen, torch):
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


def adam_cosine(model, steps, lr, loss_at, progress=None):
    """Adam with cosine decay to 0 over `steps`; loss_at(step) returns the batch loss.
    Returns (losses, seconds); progress(step, loss) after each step."""
    torch = _torch()
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


def train_level(ladder, level, progress=None):
    """Train one level by denoising score matching; returns (state_dict, losses, seconds).

    Deterministic: one thread, a seeded generator for the data and a seeded initialisation,
    so the same machine gives the same weights bit for bit.
    """
    torch = _torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(ladder.seed * 1000 + level)
        model = build_model(ladder.problem, ladder.widths[level - 1], ladder.depth)
        gen = torch.Generator().manual_seed(ladder.seed * 1000 + level + 500)

        def loss_at(step):
            x, t, eps = _sample_batch(ladder.problem, ladder.batch_size, gen, torch)
            return ((model(x, t) - eps) ** 2).sum(dim=1).mean()

        losses, secs = adam_cosine(model, ladder.train_steps, ladder.lr, loss_at, progress)
        return model.state_dict(), losses, secs
    finally:
        torch.set_num_threads(threads)


def heldout_loss(ladder, model, n=20000):
    """Denoising loss of a model on a fixed held-out batch (the same for every level)."""
    torch = _torch()
    gen = torch.Generator().manual_seed(ladder.seed * 1000 + 999)
    x, t, eps = _sample_batch(ladder.problem, n, gen, torch)
    with torch.no_grad():
        return float(((model(x, t) - eps) ** 2).sum(dim=1).mean())


def _eval_ns(ladder, level, n_points=2000):
    # measured time of one evaluation in the sampler's inference path (Numba, one thread of the kernel)
    from .solve import evaluate_level
    x = ladder.problem.sample(0.5, 0, n_points)
    t = np.full(n_points, 0.5)
    evaluate_level(ladder.problem, ladder, level, t[:2], x[:2])       # compile
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        evaluate_level(ladder.problem, ladder, level, t, x)
        best = min(best, time.perf_counter() - t0)
    return 1e9 * best / n_points


def train_family(ladder, force=False, log=print):
    """Train every level that is not already trained with the same configuration, then
    measure eps_l, cost, times and gamma and write family.json. Returns the family dict.

    Resumable: each finished level is saved (atomically) as it completes.
    """
    torch = _torch()
    from tqdm import tqdm

    from .diagnostics import measured_gamma
    from .kernels import DIAG_ERR
    from .report import atomic_write
    from .solve import solve

    path = ladder.path
    path.mkdir(parents=True, exist_ok=True)
    meta = {}
    for level in range(1, ladder.levels + 1):
        f = ladder._file(level)
        want = ladder.training_config(level)
        if f.is_file() and not force:
            ck = torch.load(f, map_location="cpu", weights_only=True)
            ladder._check(level, ck.get("config"), f.name)      # names the field that differs
            meta[level] = ck["meta"]
            log(f"level {level} (width {want['width']}): trained already, kept")
            continue
        bar = tqdm(total=ladder.train_steps, desc=f"level {level} width {want['width']}", unit="step",
                   leave=False, dynamic_ncols=True)

        def tick(step, loss):
            bar.update(1)
            if step % 100 == 0:
                bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)

        state, losses, secs = train_level(ladder, level, tick)
        bar.close()
        model = build_model(ladder.problem, want["width"], ladder.depth)
        model.load_state_dict(state)
        meta[level] = {"train_s": secs, "final_loss": float(np.mean(losses[-100:])),
                       "heldout_loss": heldout_loss(ladder, model.eval()),
                       "params": int(sum(p.numel() for p in model.parameters())),
                       "losses": [float(np.mean(losses[i:i + 100])) for i in range(0, len(losses), 100)]}
        atomic_write(f, lambda p, s=state, m=meta[level]: torch.save({"config": want, "state_dict": s, "meta": m}, p))
        log(f"level {level} (width {want['width']}): trained in {secs:.1f}s, held-out loss {meta[level]['heldout_loss']:.4f}")
    # measure accuracy along exact-drift trajectories with the new weights (family kept in memory)
    levels = [{"level": l, "width": ladder.widths[l - 1], "macs": multiply_adds(ladder.problem.dim, ladder.widths[l - 1],
                                                                                  ladder.depth),
               "config": ladder.training_config(l), "eps": float("nan"), **meta[l]} for l in range(1, ladder.levels + 1)]
    fam = {"format": FAMILY_FORMAT, "levels": levels, "gamma": float("nan")}
    # the measurement runs the sampler's kernels on the new weights; family.json is
    # written only once it is complete, so a half-measured family is never read back
    ladder.__dict__["family"] = fam
    ladder.__dict__.pop("_weights", None)
    diag = solve(ladder.problem, ladder, "diag", 0, ladder.measure_steps, ladder.measure_paths, ladder.seed + 424_242)
    eps = np.sqrt(diag.diag.mean(axis=0)[:, DIAG_ERR] / ladder.measure_steps)
    for l, row in enumerate(levels, start=1):
        row["eps"] = float(eps[l])
        row["eval_ns"] = _eval_ns(ladder, l)
    cost = np.array([r["macs"] for r in levels], float)
    g, lo, hi = measured_gamma(eps[1:], cost)
    fam.update(gamma=g, gamma_lo=lo, gamma_hi=hi,
               measure={"paths": ladder.measure_paths, "steps": ladder.measure_steps, "seed": ladder.seed + 424_242})
    atomic_write(path / "family.json", lambda p: Path(p).write_text(json.dumps(fam, indent=1)))
    ladder.__dict__.pop("family", None)
    log(f"measured gamma {g:.2f} [{lo:.2f}, {hi:.2f}] from eps_l = {', '.join(f'{e:.3g}' for e in eps[1:])}")
    return fam

def describe_family(ladder):
    """One row per level: width, parameters, multiply-adds, eval time, held-out loss, eps_l."""
    return [{"level": r["level"], "width": r["width"], "params": r["params"], "macs": r["macs"],
             "eval_ns": r.get("eval_ns"), "train_s": r["train_s"], "heldout_loss": r["heldout_loss"], "eps": r["eps"]}
            for r in ladder.family["levels"]]


def synthetic_twin(case):
    """The case with its learned ladder replaced by a synthetic one of the same measured
    gamma, levels, c_1 and measured level-1 error: the gamma-ladder the theory describes,
    run on the same problem and sweep, so the report can say whether the theory predicts
    what the learned ladder does.

    A synthetic ladder's eps1 bounds |f^1 - f|; its RMS along trajectories is a fixed
    fraction of it (f^l - f = eps_l u_l), measured here on the same trajectories as the
    learned ladder's eps_l, so that both ladders start equally accurate.
    """
    from .kernels import DIAG_ERR
    from .ladders import SyntheticLadder
    from .solve import solve
    from .spec import Case
    lad = case.ladder
    table = {"gamma": round(lad.gamma, 3), "levels": lad.levels, "eps1": 1.0, "cost1": float(lad.cost[1]),
             "seed": lad.seed}
    m = lad.family["measure"]
    unit = solve(case.problem, SyntheticLadder(**table), "diag", 0, m["steps"], m["paths"], m["seed"])
    rms_per_eps1 = float(np.sqrt(unit.diag.mean(axis=0)[1, DIAG_ERR] / m["steps"]))
    table["eps1"] = round(float(lad.eps[1]) / rms_per_eps1, 4)
    doc = None
    if case.doc is not None:
        doc = {**case.doc, "name": f"{case.name}-twin", "ladder": table}
    return Case(f"{case.name}-twin", case.problem, SyntheticLadder(**table), case.sweep, case.source, doc)
