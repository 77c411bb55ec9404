"""Learned ladders: score networks of increasing size for the reverse VP diffusion of
a Gaussian mixture (trained by `mlem_bench.nets.score_mlp`).

Level l is a time-conditioned MLP of width widths[l-1] and `depth` hidden layers that
predicts the noise eps_hat(x, t) of x = alpha(t) x0 + sigma(t) eps (plus a fixed
Gaussian skip, see `mlp.learned_level_drift`). Its counted cost is the network's
multiply-adds per evaluation; its accuracy eps_l is measured after training, as the
RMS of |f^l - f| along exact-drift trajectories of the sampler (the error the drift
estimator sees), and the ladder's gamma is fitted from (c_l, eps_l) with
`analysis.diagnostics.measured_gamma`.

A trained family lives in one folder: ``level-XX.pt`` per level (the state dict and
the configuration it was trained with) and ``family.json`` (configuration, per-level
sizes, costs, losses, training and evaluation times, measured eps_l and gamma).
PyTorch is needed to train and to read the checkpoints (extra ``learned``); sampling
runs in Numba (`numerics.learned_kernel`). This module reads checkpoints into kernel
arrays; it never trains.
"""
import hashlib
import json
import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import LadderError
from ..numerics.learned_kernel import LearnedArrays
from ..numerics.solve import evaluate_level
from ..optional import require_torch

FAMILY_FORMAT = 2
N_FREQ = 3                 # time features sin / cos(pi k u), k = 1..N_FREQ
TARGETS = ("dsm", "exact")           # regression target: denoising score matching, or the closed-form noise
WEIGHTS = ("uniform", "sampler")     # loss weight over t: 1, or (beta / sigma)^2 as the sampler uses the drift
BUDGETS = ("fixed", "scaled")        # Adam steps: train_steps for every level, or grown with parameters
# budget = "scaled": steps_l = train_steps * (params_l / params_1) ** BUDGET_EXPONENT, capped at
# BUDGET_CAP * train_steps. The exponent is the measured need on the 2-D mixture (docs/learned.md):
# with the exact target, widths 8..64 reach their floor in ~12k steps and widths 128..256 need
# ~16k, i.e. 4/3 more steps for 405x the parameters: 0.05 = log(4/3) / log(405). (A steeper rule,
# 0.25 from 3k steps, left width 8 at eps 0.435 against 0.169 at 12k: small nets need steps too.)
BUDGET_EXPONENT = 0.05
BUDGET_CAP = 8
# what a checkpoint saved before these fields existed was trained with
CONFIG_DEFAULTS = {"target": "dsm", "weight": "uniform", "budget": "fixed"}
# the trained families shipped with the package (package data, one folder per family, named
# for the case that trains it): what a spec without [ladder].checkpoints uses when its working
# directory holds no family of that name, so neither `make run` nor the tests train them
SHIPPED_FAMILIES = Path(__file__).resolve().parent.parent / "models"


def default_checkpoints(family):
    """Checkpoint folder of the family named `family` when a spec gives no [ladder].checkpoints:
    models/<family> of the working directory if it holds a trained family (family.json), else
    the family shipped with the package if there is one, else models/<family> (where
    `mlem-bench train` writes it)."""
    local = Path("models") / family
    shipped = SHIPPED_FAMILIES / family
    if not (local / "family.json").is_file() and (shipped / "family.json").is_file():
        return str(shipped)
    return str(local)


def is_shipped(path):
    """True if `path` is the folder of a family shipped with the package (never written to:
    `mlem-bench train --force` retrains it into models/<family> of the working directory)."""
    return Path(path).resolve().parent == SHIPPED_FAMILIES.resolve()


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


def mlp_params(dim, width, depth):
    """Trainable parameters of a level's network (weights and biases)."""
    return int(sum(a * b + b for a, b in mlp_sizes(dim, width, depth)))


def scaled_steps(train_steps, params, params_1):
    """Adam steps of a level with `params` parameters under budget = "scaled" (see BUDGET_EXPONENT)."""
    return int(min(BUDGET_CAP * train_steps, round(train_steps * (params / params_1) ** BUDGET_EXPONENT)))


def train_macs(macs, batch_size, steps):
    """Training compute of a level in multiply-adds: forward + backward (about 3x the forward's
    multiply-adds per sample) x batch x steps."""
    return 3 * int(macs) * int(batch_size) * int(steps)


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
    train_steps : Adam steps of level 1 (and of every level when budget = "fixed").
    target : "dsm" (denoising score matching: regress the noise that made x_t) or "exact"
        (regress the closed-form noise -sigma(t) score(t, x_t); only problems with a closed-form
        score, here the synthetic mixtures, allow it).
    weight : "uniform", or "sampler": the squared noise error weighted by (beta/sigma)^2,
        normalised over the batch, the factor by which it enters the sampler's drift.
    budget : "fixed" (train_steps for every level) or "scaled" (`scaled_steps`).
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
    target: str = "dsm"
    weight: str = "uniform"
    budget: str = "fixed"
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
        for name, known in (("target", TARGETS), ("weight", WEIGHTS), ("budget", BUDGETS)):
            checks.append((name, getattr(self, name) in known, f"must be one of {', '.join(map(repr, known))}"))
        for name, ok, what in checks:
            if not ok:
                raise ValueError(f"[ladder].{name} {what} (got {getattr(self, name)!r})")
        if self.target == "exact" and not callable(getattr(self.problem, "score", None)):
            raise ValueError("[ladder].target = 'exact' needs a problem with a closed-form score (the synthetic "
                             "mixtures); use target = 'dsm' for this problem")

    # ---------------------------------------------------------------- facts

    @property
    def levels(self):
        return len(self.widths)

    @property
    def path(self):
        return Path(self.checkpoints)

    def params(self, level):
        """Trainable parameters of level `level`'s network."""
        return mlp_params(self.problem.dim, self.widths[level - 1], self.depth)

    def steps(self, level):
        """Adam steps of level `level` under this ladder's budget."""
        if self.budget == "fixed":
            return self.train_steps
        return scaled_steps(self.train_steps, self.params(level), self.params(1))

    def training_config(self, level):
        """What level `level` (1-based) is trained from; a checkpoint must match it exactly."""
        p = self.problem
        return {"format": FAMILY_FORMAT, "level": level, "dim": p.dim, "width": self.widths[level - 1],
                "depth": self.depth, "n_freq": N_FREQ, "train_steps": self.train_steps,
                "target": self.target, "weight": self.weight, "budget": self.budget, "steps": self.steps(level),
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
            self.check_config(level, fam["levels"][level - 1]["config"] if level <= len(fam["levels"]) else None,
                        f.name)
        if len(fam["levels"]) != self.levels:
            raise LadderError(f"[ladder].widths has {self.levels} levels but {f} holds {len(fam['levels'])}; "
                              f"retrain with `mlem-bench train SPEC --force` or point [ladder].checkpoints elsewhere")
        return fam

    def check_config(self, level, saved, what):
        """Raise LadderError naming the field where `saved` (a checkpoint's training
        configuration, read from `what`) differs from what this spec trains."""
        want = self.training_config(level)
        if saved is None:
            raise LadderError(f"[ladder].checkpoints: {self.path} has no level {level} ({what}); "
                              f"train it with `mlem-bench train SPEC`")
        saved = {**CONFIG_DEFAULTS, "steps": saved.get("train_steps"), **saved}
        if saved.get("dim") != want["dim"]:
            raise LadderError(f"[ladder].checkpoints: {self.path / what} was trained in dimension {saved.get('dim')} "
                              f"but [problem].dim is {want['dim']}; retrain with `mlem-bench train SPEC --force` "
                              f"or point [ladder].checkpoints at the family of this problem")
        for key in want:
            if saved.get(key) != want[key]:
                field_name = {"problem": "[problem]", "steps": "[ladder].budget"}.get(key, f"[ladder].{key}")
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
            h.update(self.checkpoint_file(level).read_bytes())
        return h.hexdigest()[:16]

    def checkpoint_file(self, level):
        """Path of level `level`'s checkpoint (state dict, training configuration, meta)."""
        return self.path / f"level-{level:02d}.pt"

    def load_checkpoint(self, level):
        """The checkpoint dict of `level`, checked against the spec (LadderError if not)."""
        torch = require_torch()
        f = self.checkpoint_file(level)
        if not f.is_file():
            raise LadderError(f"[ladder].checkpoints: missing checkpoint {f}; train it with `mlem-bench train SPEC`")
        ck = torch.load(f, map_location="cpu", weights_only=True)
        self.check_config(level, ck.get("config"), f.name)
        return ck

    def linear_layers(self, level):
        """[(weight (n_out, n_in), bias (n_out,))] of `level`'s network in order, float64 NumPy."""
        state = self.load_checkpoint(level)["state_dict"]
        names = [k[: -len(".weight")] for k in state if k.endswith(".weight")]
        return [(state[f"{n}.weight"].double().numpy(), state[f"{n}.bias"].double().numpy()) for n in names]

    @cached_property
    def weights(self):
        """(weights, layout) of every level, flat float64, in `numerics.learned_kernel`'s layout."""
        self.family   # noqa: B018 -- checks the family before reading weights
        max_layers = self.depth + 1
        layout = np.zeros((self.levels + 1, max_layers + 1, 4), dtype=np.int64)
        chunks, offset = [], 0
        for level in range(1, self.levels + 1):
            linears = self.linear_layers(level)
            layout[level, 0] = (len(linears), max(w.shape[0] for w, _ in linears), 0, 0)
            for j, (weight, bias) in enumerate(linears, start=1):
                w = weight.T.ravel()      # input-major W[i, o]
                n_out, n_in = weight.shape
                layout[level, j] = (offset, offset + w.size, n_in, n_out)
                chunks += [w, bias]
                offset += w.size + bias.size
        return np.ascontiguousarray(np.concatenate(chunks)), layout

    def arrays(self, dim):
        """The kernel arrays (`numerics.learned_kernel.LearnedArrays`)."""
        if dim != self.problem.dim:
            raise LadderError(f"the learned ladder was built for dimension {self.problem.dim}, not {dim}")
        weights, layout = self.weights
        m, v = skip_moments(self.problem)
        aux = np.concatenate([[float(N_FREQ)], m, [v]])
        return LearnedArrays(self.eps, self.cost, weights, layout, aux)

    def with_family(self, family):
        """A copy of this ladder that reads `family` (a family.json dict) instead of its
        folder's file: how training measures the new weights before writing family.json."""
        other = replace(self)
        other.__dict__["family"] = family
        return other


def eval_ns(ladder, level, n_points=2000):
    """Measured time of one evaluation in the sampler's inference path (Numba, one thread
    of the kernel), best of 3, in nanoseconds."""
    x = ladder.problem.sample(0.5, 0, n_points)
    t = np.full(n_points, 0.5)
    evaluate_level(ladder.problem, ladder, level, t[:2], x[:2])       # compile
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        evaluate_level(ladder.problem, ladder, level, t, x)
        best = min(best, time.perf_counter() - t0)
    return 1e9 * best / n_points


def describe_family(ladder):
    """One row per level: width, parameters, multiply-adds, eval time, training steps, compute
    and time, held-out loss, eps_l."""
    out = []
    for r in ladder.family["levels"]:
        steps = r["config"].get("steps", r["config"]["train_steps"])
        out.append({"level": r["level"], "width": r["width"], "params": r["params"], "macs": r["macs"],
                    "eval_ns": r.get("eval_ns"), "steps": steps,
                    "train_macs": train_macs(r["macs"], r["config"]["batch_size"], steps),
                    "train_s": r["train_s"], "heldout_loss": r["heldout_loss"], "eps": r["eps"]})
    return out
