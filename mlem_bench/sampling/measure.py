"""Measure a practitioner's own ladder of torch models: the table `mlem-bench predict` reads.

Given the models (coarsest first, one signature ``model(x, time) -> output`` with `time` a
batch tensor of the schedule's time), their parameterisation and a schedule, each model
output is turned into one drift of the reverse SDE (or probability-flow ODE) in a solver
time s in [0, T] on which EM takes uniform steps h = T / n, and the error model of
`tuning.calibrate` is measured with calibrate's definitions:

* cost_l: FLOPs of one evaluation per sample (torch's FLOP counter), and the measured
  seconds of one call on the deployed batch and dtype (median of repeats after a warm-up);
* eps_l = RMS |f^l - f^L| and delta_l = RMS |f^l - f^{l-1}| along EM trajectories of the top
  model (or on held-out data noised to the grid's times): |.| the Euclidean norm over all
  of one sample's entries, RMS over paths and steps (calibrate's DIAG_SQ);
* b_l = RMS |X_T(f^l) - X_T(f^L)|: EM with level l against EM with the top model on the same
  Brownian path and grid. The top model is the reference ("finest", as calibrate's
  reference = "finest"): b_L = 0, and every error is relative to the top model's sampler;
* c_h = RMS |X_T^n(f^L) - X_T^(16 n)(f^L)| / h: the top model's EM at the pilot grid against
  EM on a 16 times finer grid, same Brownian path (calibrate's reference grid);
* c_v: ML-EM with p_l = 1/2 (`MultilevelModel`) against EM with the top model, same path and
  grid, divided by T h sum delta_l^2 (1/p_l - 1) (calibrate's definition);
* gamma with its 95% interval: `analysis.diagnostics.measured_gamma` over (eps_l, cost_l),
  l < L (eps_L = 0 by construction).

Schedules (`VPSchedule`, `EDMSchedule`) and parameterisations are kept small and explicit:
VP (the project's `numerics.vp`, model time t = 1 - s) with eps / v / x0 outputs; EDM
(k-diffusion's sigma, Karras' rho-spaced sigmas as the uniform grid in s) with denoiser /
eps / x0 outputs.
"""
import math
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from ..analysis.diagnostics import measured_gamma
from ..analysis.predict import cheapest_config, error_model
from ..errors import SpecError
from ..numerics import vp
from ..numerics.solve import strong_error
from ..optional import require_torch
from ..progress import Progress
from ..torch_tools import call_flops, sync
from .multilevel import MultilevelModel

torch = require_torch()

COSTS = ("flops", "seconds")
REF_FACTOR = 16          # calibrate's reference grid: 16 times the pilot's steps


def dtype_of(name):
    """torch dtype named `name` ("float32", "bfloat16", ...); SpecError naming `dtype` otherwise."""
    d = getattr(torch, str(name), None)
    if not isinstance(d, torch.dtype) or not d.is_floating_point:
        raise SpecError(f"dtype = {name!r}: give a torch floating dtype (float32, float16, bfloat16, float64)")
    return d


def accumulator(dtype):
    """The dtype of the drift and the state: float64 for float64 models, float32 otherwise
    (differences of half-precision outputs are taken in float32)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def column(v, x):
    """A per-sample coefficient (batch,) shaped to broadcast against x."""
    return v.reshape((-1,) + (1,) * (x.dim() - 1)).to(x.dtype)


class VPSchedule:
    """The linear-beta VP schedule of `numerics.vp`: solver time s in [0, 1 - t_min], model
    time t = 1 - s, prior N(0, I). Parameterisations: "eps" (the noise), "v" (v = alpha eps -
    sigma x0) and "x0" (the clean sample)."""

    kind = "vp"
    parameterisations = ("eps", "v", "x0")

    def __init__(self, beta_min=vp.BETA_MIN, beta_max=vp.BETA_MAX, t_min=vp.T_MIN):
        if not (0 < beta_min < beta_max and 0 < t_min < 1):
            raise SpecError(f"[schedule]: need 0 < beta_min < beta_max and 0 < t_min < 1 "
                            f"(got {beta_min}, {beta_max}, {t_min})")
        self.beta_min, self.beta_max, self.t_min = float(beta_min), float(beta_max), float(t_min)
        self.T = 1.0 - self.t_min

    def model_time(self, s):
        return 1.0 - s

    def coefficients(self, s):
        """(alpha, sigma, beta) at solver time s (a float64 tensor)."""
        t = 1.0 - s
        alpha = torch.exp(vp.log_alpha.py_func(t, self.beta_min, self.beta_max))
        return alpha, torch.sqrt(1 - alpha * alpha), vp.beta.py_func(t, self.beta_min, self.beta_max)

    def drift(self, out, x, s, parameterisation, ode):
        alpha, sigma, beta = (column(v, x) for v in self.coefficients(s))
        if parameterisation == "eps":
            eps = out
        elif parameterisation == "v":
            eps = alpha * out + sigma * x           # x = alpha x0 + sigma eps, v = alpha eps - sigma x0
        else:
            eps = (x - alpha * out) / sigma
        return vp.reverse_drift.py_func(beta, x, -eps / sigma, vp.flow_factor(ode))

    def diffusion(self, s, ode):
        return 0.0 if ode else math.sqrt(float(vp.beta.py_func(1.0 - s, self.beta_min, self.beta_max)))

    def prior_scale(self):
        return 1.0

    def noised(self, x0, s, z):
        alpha, sigma, _ = (column(v, x0) for v in self.coefficients(s))
        return alpha * x0 + sigma * z


class EDMSchedule:
    """k-diffusion / EDM: x_sigma = x0 + sigma n, model time sigma, prior N(0, sigma_max^2 I).
    Solver time s in [0, 1] with sigma(s) = (sigma_max^(1/rho) + s (sigma_min^(1/rho) -
    sigma_max^(1/rho)))^rho, so EM's uniform grid in s steps through Karras' sigmas
    (`get_sigmas_karras` without the final 0). Drift in s: |sigma'(s)| 2 k sigma score with
    score = (D - x) / sigma^2 (k = 1 the reverse SDE, 1/2 the probability-flow ODE), noise
    sqrt(2 sigma |sigma'(s)|). Parameterisations: "denoiser" (D(x, sigma)), "eps"
    (D = x - sigma eps), "x0" (the same as "denoiser")."""

    kind = "edm"
    parameterisations = ("denoiser", "eps", "x0")

    def __init__(self, sigma_min=0.002, sigma_max=80.0, rho=7.0):
        if not (0 < sigma_min < sigma_max and rho > 0):
            raise SpecError(f"[schedule]: need 0 < sigma_min < sigma_max and rho > 0 "
                            f"(got {sigma_min}, {sigma_max}, {rho})")
        self.sigma_min, self.sigma_max, self.rho = float(sigma_min), float(sigma_max), float(rho)
        self.T = 1.0

    def sigma(self, s):
        a, b = self.sigma_max ** (1 / self.rho), self.sigma_min ** (1 / self.rho)
        return (a + s * (b - a)) ** self.rho

    def speed(self, s):
        """|d sigma / ds|."""
        a, b = self.sigma_max ** (1 / self.rho), self.sigma_min ** (1 / self.rho)
        return self.rho * (a + s * (b - a)) ** (self.rho - 1) * (a - b)

    def model_time(self, s):
        return self.sigma(s)

    def drift(self, out, x, s, parameterisation, ode):
        sigma, speed = column(self.sigma(s), x), column(self.speed(s), x)
        d = x - sigma * out if parameterisation == "eps" else out
        return 2 * vp.flow_factor(ode) * speed * (d - x) / sigma

    def diffusion(self, s, ode):
        return 0.0 if ode else math.sqrt(2 * float(self.sigma(s)) * float(self.speed(s)))

    def prior_scale(self):
        return self.sigma_max

    def noised(self, x0, s, z):
        return x0 + column(self.sigma(s), x0) * z


SCHEDULES = {"vp": VPSchedule, "edm": EDMSchedule}


class LevelDrift:
    """f^l(x, s): one model's output at (x, model time) turned into the drift in solver time.
    x and s are batch tensors (s float64, one entry per sample, so `MultilevelModel` gathers
    them together); the model sees x in its deployed dtype, the drift is in the accumulator's."""

    def __init__(self, model, schedule, parameterisation, dtype, ode):
        self.model, self.schedule, self.parameterisation, self.ode = model, schedule, parameterisation, ode
        self.dtype, self.acc = dtype, accumulator(dtype)
        # model time in float32 (float64 for float64 models): half precision cannot hold sigma = 80 finely
        self.time_dtype = self.acc

    def __call__(self, x, s):
        t = self.schedule.model_time(s).to(self.time_dtype)
        with torch.no_grad():
            out = self.model(x.to(self.dtype), t)
        if getattr(out, "shape", None) != x.shape:
            raise SpecError(f"a level returned {type(out).__name__} of shape {getattr(out, 'shape', None)} for an "
                            f"input of shape {tuple(x.shape)}: each model must return a tensor shaped like x")
        return self.schedule.drift(out.to(self.acc), x.to(self.acc), s, self.parameterisation, self.ode)


def brownian(seed, start, k, shape, h, device):
    """Fine Brownian increment number k of the chunk of paths starting at path `start` (keyed
    by seed, start and k: every step count and every level's run sees the same path)."""
    key = int(np.random.SeedSequence([int(seed), int(start), int(k), 0]).generate_state(1, np.uint64)[0] >> 1)
    g = torch.Generator().manual_seed(key)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * math.sqrt(h)).to(device)


def prior_sample(schedule, seed, start, stop, shape, dtype, device):
    """Initial states of paths start..stop - 1 (one chunk): the schedule's prior, keyed by seed and start."""
    key = int(np.random.SeedSequence([int(seed), int(start), 1]).generate_state(1, np.uint64)[0] >> 1)
    g = torch.Generator().manual_seed(key)
    x = torch.randn((stop - start,) + tuple(shape), generator=g, dtype=torch.float64)
    return (schedule.prior_scale() * x).to(dtype).to(device)


def em(drift, schedule, x0, n_steps, ref_steps, seed, start, ode, record=None):
    """EM from x0 (the chunk of paths from path `start`) over [0, T] in n_steps; drift(x, s)
    the (ML-EM or level) drift, s a float64 batch tensor. The Brownian increments are sums of
    those of the ref_steps grid (`brownian`), so every n_steps dividing ref_steps sees the
    same path. record(s, x) before each step."""
    T = schedule.T
    if ref_steps % n_steps:
        raise ValueError(f"n_steps = {n_steps} must divide ref_steps = {ref_steps}")
    h, r = T / n_steps, ref_steps // n_steps
    x = x0.clone()
    for n in range(n_steps):
        s = n * h
        sb = torch.full((x.shape[0],), s, dtype=torch.float64, device=x.device)
        if record is not None:
            record(sb, x)
        x = x + h * drift(x, sb)
        g = schedule.diffusion(s, ode)
        if g:
            dw = sum(brownian(seed, start, n * r + j, x.shape, T / ref_steps, x.device) for j in range(r))
            x = x + g * dw.to(x.dtype)
        if not torch.isfinite(x).all():
            raise SpecError(f"EM with {n_steps} steps produced non-finite states at step {n + 1}: raise "
                            f"[measure].steps (or check the schedule and parameterisation)")
    return x


def sq_norm(a):
    """Squared Euclidean norm of each sample (over all non-batch entries), float64."""
    return (a.double() ** 2).reshape(a.shape[0], -1).sum(dim=1)


def states(x):
    """A batch of states as the (paths, entries) float64 array `numerics.solve.strong_error` compares."""
    return x.detach().double().reshape(x.shape[0], -1).cpu().numpy()


def rms_of(sq):
    """sqrt of the mean of a list of per-sample squared-norm tensors."""
    return float(torch.sqrt(torch.cat(sq).mean()))


def seconds_per_call(fn, args, repeats, device):
    """Median seconds of fn(*args) over `repeats` calls after one warm-up call."""
    with torch.no_grad():
        fn(*args)
        sync(device)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(*args)
            sync(device)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class LadderMeasurement:
    """What `measure_ladder` measured. `levels` and `scalars` are the table `mlem-bench
    predict` reads (`table`); `facts` one dict per level (flops, seconds, eps, delta, bias and
    its SE), gamma with its interval over the chosen cost, and the pilot's own cost."""

    levels: list
    scalars: dict
    facts: list
    cost_unit: str
    gamma: float
    gamma_lo: float
    gamma_hi: float
    pilot: dict = field(default_factory=dict)

    def table(self):
        """(levels, scalars): `analysis.predict.write_levels`' arguments."""
        return self.levels, self.scalars

    def error_model(self):
        """(ErrorModel, ladder stand-in) of the table, as `mlem-bench predict` builds them."""
        return error_model(self.levels, **self.scalars)

    def config_at(self, eps, splits=(0.3, 0.5, 0.7), var_shares=(0.3, 0.5, 0.7)):
        """`config_at` of this table."""
        return config_at(self.levels, self.scalars, eps, splits, var_shares)


def config_at(levels, scalars, eps, splits=(0.3, 0.5, 0.7), var_shares=(0.3, 0.5, 0.7)):
    """The cheapest ML-EM configuration the tuner `predict` uses picks for target error eps
    on the table (levels, scalars) (`analysis.predict.cheapest_config`): (knob, Config) with
    .level, .n_steps and .probs (indexed by level; the samplers take probs[1:level + 1] over
    the first `level` models). SpecError when the scalars lack T or c_h (a CSV table)."""
    model, ladder = error_model(levels, **{"T": None, **scalars})
    return cheapest_config(model, ladder, "mlem", eps, splits, var_shares)


def check_parameterisation(schedule, parameterisation):
    """SpecError naming `parameterisation` when the schedule has no such output."""
    if parameterisation not in schedule.parameterisations:
        raise SpecError(f"parameterisation = {parameterisation!r} is not one of the {schedule.kind} schedule's: "
                        f"{', '.join(map(repr, schedule.parameterisations))}")


def check_args(levels, schedule, parameterisation, n_paths, n_steps, batch, min_steps, ref_factor, cost, repeats,
               cost_values):
    if len(levels) < 2 or not all(callable(m) for m in levels):
        raise SpecError(f"the loader must return a list of at least 2 callable models, coarsest first "
                        f"(got {len(levels)} item(s){'' if all(callable(m) for m in levels) else ', not all callable'})")
    check_parameterisation(schedule, parameterisation)
    checks = [("paths", n_paths >= 2, "must be >= 2"),
              ("steps", n_steps >= min_steps and n_steps & (n_steps - 1) == 0,
               f"must be a power of two >= min_steps ({min_steps})"),
              ("batch", batch is None or batch >= 1, "must be >= 1"),
              ("min_steps", min_steps >= 1, "must be >= 1"),
              ("ref_factor", ref_factor >= 2 and ref_factor & (ref_factor - 1) == 0, "must be a power of two >= 2"),
              ("cost", cost in COSTS + (None,), f"must be one of {', '.join(map(repr, COSTS))}"),
              ("repeats", repeats >= 1, "must be >= 1")]
    for name, ok, what in checks:
        if not ok:
            got = {"paths": n_paths, "steps": n_steps, "batch": batch, "min_steps": min_steps,
                   "ref_factor": ref_factor, "cost": cost, "repeats": repeats}[name]
            raise SpecError(f"[measure].{name} {what} (got {got!r})")
    if cost_values is not None:
        c = list(cost_values)
        if len(c) != len(levels) or any(not v > 0 for v in c) or any(a >= b for a, b in zip(c, c[1:])):
            raise SpecError(f"costs must be one positive number per level, increasing (got {c})")


def measure_ladder(levels, schedule=None, parameterisation="eps", shape=(2,), n_paths=64, n_steps=64, seed=0,
                   dtype=torch.float32, batch=None, device="cpu", ode=False, data=None, cost=None, costs=None,
                   min_steps=8, ref_factor=REF_FACTOR, repeats=5, progress=True):
    """Measure the error model of a ladder of models (see the module docstring).

    Parameters
    ----------
    levels : list of callables ``model(x, time) -> tensor shaped like x``, coarsest first.
    schedule : `VPSchedule` (default) or `EDMSchedule`.
    parameterisation : what the models output ("eps", "v", "x0" for VP; "denoiser", "eps", "x0" for EDM).
    shape : one sample's shape (e.g. (2,) or (3, 32, 32)).
    n_paths, n_steps : the pilot's paths and EM steps (a power of two >= min_steps).
    seed : initial noise and Brownian paths; ML-EM draws of the c_v run.
    dtype, batch, device : the deployed precision, batch (paths are evaluated in chunks of
        `batch`; default all n_paths at once) and device; the cost is timed there.
    ode : measure the probability-flow ODE's drift (no noise) instead of the reverse SDE's.
    data : optional tensor (N, *shape) of held-out clean samples: eps_l and delta_l are then
        measured on them noised to the grid's times instead of along top-model trajectories.
    cost : "flops" or "seconds" as the table's cost (default FLOPs when the counter sees
        increasing FLOPs, else seconds); costs : given per-level costs instead (any unit).
    min_steps : the smallest EM grid the tuner may use. ref_factor : c_h's reference grid.
    repeats : timed calls per level (median after one warm-up).

    Returns
    -------
    LadderMeasurement
    """
    schedule = VPSchedule() if schedule is None else schedule
    check_args(levels, schedule, parameterisation, n_paths, n_steps, batch, min_steps, ref_factor, cost, repeats,
               costs)
    acc = accumulator(dtype)
    shape = tuple(int(v) for v in shape)
    L = len(levels)
    batch = n_paths if batch is None else min(int(batch), n_paths)
    chunks = [(a, min(a + batch, n_paths)) for a in range(0, n_paths, batch)]
    drifts = [LevelDrift(m, schedule, parameterisation, dtype, ode) for m in levels]
    T, h = schedule.T, schedule.T / n_steps
    ref_steps = ref_factor * n_steps
    bar = Progress(2 * L + 2, "measure", unit="stage", enabled=progress)
    t_start = time.perf_counter()

    # ---- cost: FLOPs per sample and seconds per call of the deployed batch
    x_probe = torch.randn((batch,) + shape, generator=torch.Generator().manual_seed(int(seed)), dtype=acc).to(device)
    t_probe = torch.full((batch,), 0.5 * T, dtype=torch.float64, device=device)
    flops, seconds = [], []
    for d in drifts:
        # given costs need no count (the counter's first use imports torch._dynamo: seconds)
        flops.append(float("nan") if costs is not None else call_flops(d, x_probe, t_probe) / batch)
        seconds.append(seconds_per_call(d, (x_probe, t_probe), repeats, device))
        bar.update()
    if costs is not None:
        unit, table_cost = "given", [float(c) for c in costs]
    else:
        countable = all(f > 0 for f in flops) and all(a < b for a, b in zip(flops, flops[1:]))
        unit = cost or ("flops" if countable else "seconds")
        table_cost = flops if unit == "flops" else seconds
        if unit == "flops" and not countable:
            raise SpecError(f"[measure].cost = 'flops' but torch's FLOP counter gives {flops} per sample (not "
                            f"positive and increasing); use cost = 'seconds'")
        if any(not c > 0 for c in table_cost) or any(a >= b for a, b in zip(table_cost, table_cost[1:])):
            raise SpecError(f"measured {unit} per evaluation {table_cost} do not increase with the level; "
                            f"order the models coarsest first, or raise [measure].repeats / batch for stable times")

    def initial(a, b):
        return prior_sample(schedule, seed, a, b, shape, acc, device)

    # ---- eps_l, delta_l along the top model's trajectories (or on noised held-out data)
    sq_eps, sq_delta = [[] for _ in range(L + 1)], [[] for _ in range(L + 1)]

    def record(sb, x):
        f = [d(x, sb) for d in drifts]
        for l in range(1, L + 1):
            sq_eps[l].append(sq_norm(f[l - 1] - f[L - 1]))
            if l >= 2:
                sq_delta[l].append(sq_norm(f[l - 1] - f[l - 2]))

    evals = np.zeros(L + 1)          # evaluations per level over the whole pilot (all paths)
    top_runs = []
    for a, b in chunks:
        rec = record if data is None else None
        top_runs.append(em(drifts[-1], schedule, initial(a, b), n_steps, ref_steps, seed, a, ode, rec))
    evals[L] += n_paths * n_steps
    if data is None:
        evals[1:L] += n_paths * n_steps
    else:
        data = torch.as_tensor(data).to(acc).to(device)
        if tuple(data.shape[1:]) != shape or data.shape[0] < 2:
            raise SpecError(f"data has shape {tuple(data.shape)}: give (N >= 2, {', '.join(map(str, shape))}) "
                            f"held-out samples")
        g = torch.Generator().manual_seed(int(seed) + 7)
        for n in range(n_steps):
            for a in range(0, data.shape[0], batch):
                x0 = data[a:a + batch]
                z = torch.randn(x0.shape, generator=g, dtype=torch.float64).to(acc).to(device)
                sb = torch.full((x0.shape[0],), n * h, dtype=torch.float64, device=device)
                record(sb, schedule.noised(x0, sb, z))
        evals[1:] += data.shape[0] * n_steps
    bar.update()
    eps = np.zeros(L + 1)
    delta = np.zeros(L + 1)
    for l in range(1, L + 1):
        eps[l] = rms_of(sq_eps[l])
        if l >= 2:
            delta[l] = rms_of(sq_delta[l])

    # ---- b_l: EM with level l against EM with the top model, same path and grid
    top_x = torch.cat(top_runs)
    bias, bias_se = np.zeros(L + 1), np.zeros(L + 1)
    for l in range(1, L):
        x_l = torch.cat([em(drifts[l - 1], schedule, initial(a, b), n_steps, ref_steps, seed, a, ode)
                         for a, b in chunks])
        bias[l], bias_se[l] = strong_error(states(x_l), states(top_x))
        evals[l] += n_paths * n_steps
        bar.update()

    # ---- c_h: the top model's EM at n_steps against ref_factor x n_steps, same path
    fine = torch.cat([em(drifts[-1], schedule, initial(a, b), ref_steps, ref_steps, seed, a, ode)
                      for a, b in chunks])
    evals[L] += n_paths * ref_steps
    e_h, e_h_se = strong_error(states(top_x), states(fine))
    if not e_h > 0:
        raise SpecError("the top model's EM error against a finer grid is 0: the drift does not depend on the "
                        "state or time; check the loader's models")
    c_h = e_h / h
    bar.update()

    # ---- c_v: ML-EM with p_l = 1/2 against EM with the top model, same path and grid
    probs = np.full(L, 0.5)
    probs[0] = 1.0
    ml_runs = []
    for a, b in chunks:
        mm = MultilevelModel(drifts, probs, seed=seed, sample_offset=a)
        ml_runs.append(em(mm, schedule, initial(a, b), n_steps, ref_steps, seed, a, ode))
        evals += np.asarray(mm.evaluations, float)
    pred = T * h * float(np.sum(delta[2:] ** 2 * (1 / probs[1:] - 1)))
    e_v, _ = strong_error(states(torch.cat(ml_runs)), states(top_x))
    c_v = e_v ** 2 / pred if pred > 0 else 1.0
    bar.update()
    bar.close()

    table_c = np.array([0.0] + list(table_cost))
    fit = (float("nan"),) * 3
    if L - 1 >= 3:      # a fit with an interval needs 3 levels below the top
        fit = measured_gamma(eps[1:L], table_c[1:L])
    rows = [{"cost": float(table_c[l]), "error": float(bias[l]), "delta": float(delta[l]) if l >= 2 else 0.0}
            for l in range(1, L + 1)]
    scalars = {"T": float(T), "c_h": float(c_h), "c_v": float(c_v), "min_steps": int(min_steps)}
    facts = [{"level": l, "flops": float(flops[l - 1]), "seconds": float(seconds[l - 1]), "eps": float(eps[l]),
              "delta": float(delta[l]), "bias": float(bias[l]), "bias_se": float(bias_se[l])}
             for l in range(1, L + 1)]
    pilot = {"paths": n_paths, "steps": n_steps, "ref_steps": ref_steps, "seed": int(seed), "batch": batch,
             "dtype": str(dtype).replace("torch.", ""), "device": str(device), "schedule": schedule.kind,
             "parameterisation": parameterisation, "ode": bool(ode), "trajectories": "data" if data is not None
             else "top model", "c_h_error": e_h, "c_h_error_se": e_h_se, "c_v_error": e_v,
             "evaluations": [float(v) for v in evals[1:]],
             "cost": float(np.dot(evals[1:], table_c[1:])),
             "wall_s": time.perf_counter() - t_start}
    return LadderMeasurement(rows, scalars, facts, unit, *map(float, fit), pilot=pilot)


# ------------------------------------------------- the spec of `mlem-bench measure` and `mlem-bench sample`

SPEC_TOP = {"loader": str, "loader_args": dict, "parameterisation": str, "shape": list, "out": str, "target": float,
            "schedule": dict, "measure": dict, "sample": dict}
SPEC_SCHEDULE = {"kind": str, "sampler": str, "beta_min": float, "beta_max": float, "t_min": float,
                 "sigma_min": float, "sigma_max": float, "rho": float}
SCHEDULE_FIELDS = {"vp": ("beta_min", "beta_max", "t_min"), "edm": ("sigma_min", "sigma_max", "rho")}
SPEC_MEASURE = {"paths": int, "steps": int, "batch": int, "dtype": str, "device": str, "seed": int, "cost": str,
                "min_steps": int, "ref_factor": int, "repeats": int, "data": str}
# `mlem-bench sample` (sampling.sample): the models run at [measure].dtype and device
SPEC_SAMPLE = {"loader": str, "loader_args": dict, "scheduler": str, "scheduler_config": dict,
               "guidance_rescale": float, "steps": int, "n": int, "batch": int, "seed": int}
DEFAULT_PARAMETERISATION = {"vp": "eps", "edm": "denoiser"}


def checked(table, where, fields, source):
    """table with every key known and of its type (ints accepted for floats); SpecError naming the field."""
    for k, v in table.items():
        name = f"{where}{k}"
        if k not in fields:
            raise SpecError(f"{source}: unknown field {name}; known: {', '.join(where + f for f in fields)}")
        want = fields[k]
        ok = isinstance(v, want) and not isinstance(v, bool) or (want is float and isinstance(v, int)
                                                                 and not isinstance(v, bool))
        if not ok:
            raise SpecError(f"{source}: {name} must be a {want.__name__} (got {v!r})")
    return table


def read_spec(path):
    """The spec of `mlem-bench measure` and `sample` (docs/practitioners.md) as a dict, every field checked."""
    import tomllib
    from pathlib import Path
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec; give the TOML file of `mlem-bench measure` (docs/practitioners.md)")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})") from None
    checked(doc, "", SPEC_TOP, path)
    checked(doc.get("schedule", {}), "[schedule].", SPEC_SCHEDULE, path)
    checked(doc.get("measure", {}), "[measure].", SPEC_MEASURE, path)
    checked(doc.get("sample", {}), "[sample].", SPEC_SAMPLE, path)
    if "loader" not in doc:
        raise SpecError(f"{path}: missing loader; give loader = \"package.module:function\" (a function returning "
                        f"the models, coarsest first)")
    if "shape" not in doc or not doc["shape"] or not all(isinstance(v, int) and v >= 1 for v in doc["shape"]):
        raise SpecError(f"{path}: shape must be one sample's shape, a list of positive integers (e.g. [3, 32, 32]); "
                        f"got {doc.get('shape')!r}")
    sch = doc.get("schedule", {})
    kind = sch.get("kind", "vp")
    if kind not in SCHEDULES:
        raise SpecError(f"{path}: [schedule].kind must be one of {', '.join(map(repr, SCHEDULES))} (got {kind!r})")
    foreign = sorted(set(sch) - {"kind", "sampler"} - set(SCHEDULE_FIELDS[kind]))
    if foreign:
        raise SpecError(f"{path}: [schedule].{foreign[0]} does not apply to kind = {kind!r}; "
                        f"its fields: {', '.join(SCHEDULE_FIELDS[kind])}")
    if sch.get("sampler", "sde") not in ("sde", "ode"):
        raise SpecError(f"{path}: [schedule].sampler must be 'sde' or 'ode' (got {sch['sampler']!r})")
    if "target" in doc and not doc["target"] > 0:
        raise SpecError(f"{path}: target must be an error > 0 (got {doc['target']!r})")
    return doc


def load_models(loader, args, base):
    """Call the loader "package.module:function" (importable from `base`, the spec's folder,
    or the current directory) with `args`; its models as a list, SpecError naming `loader` otherwise."""
    import importlib
    import sys
    mod, sep, fn = loader.partition(":")
    if not (mod and sep and fn):
        raise SpecError(f"loader = {loader!r}: give \"package.module:function\"")
    added = [p for p in (str(base), ".") if p not in sys.path]
    sys.path[:0] = added
    try:
        module = importlib.import_module(mod)
    except ImportError as e:
        raise SpecError(f"loader = {loader!r}: cannot import {mod!r} ({e}); make it importable from the spec's "
                        f"folder or the current directory") from None
    finally:
        for p in added:
            sys.path.remove(p)
    func = getattr(module, fn, None)
    if not callable(func):
        raise SpecError(f"loader = {loader!r}: {mod} has no function {fn!r}")
    try:
        models = func(**args)
    except TypeError as e:
        raise SpecError(f"loader = {loader!r} refused loader_args {args}: {e}") from None
    if not isinstance(models, (list, tuple)) or len(models) < 2 or not all(callable(m) for m in models):
        raise SpecError(f"loader = {loader!r} returned {type(models).__name__}"
                        f"{f' of {len(models)}' if isinstance(models, (list, tuple)) else ''}: it must return a list "
                        f"of at least 2 callable models, coarsest first")
    return list(models)


def spec_schedule(doc):
    """(schedule, ode) of a spec's [schedule] table (read_spec has checked its fields)."""
    sch = dict(doc.get("schedule", {}))
    kind = sch.pop("kind", "vp")
    ode = sch.pop("sampler", "sde") == "ode"
    return SCHEDULES[kind](**sch), ode


def usable_device(device):
    """device when torch can allocate on it here; SpecError naming [measure].device otherwise."""
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as e:
        raise SpecError(f"[measure].device = {device!r}: torch cannot use it here ({str(e).splitlines()[0]}); "
                        f"use 'cpu' or a machine with that accelerator") from None
    return device


def measure_spec(path, progress=True):
    """Run the measurement a spec describes: (LadderMeasurement, spec dict)."""
    from pathlib import Path
    doc = read_spec(path)
    base = Path(path).resolve().parent
    schedule, ode = spec_schedule(doc)
    kind = schedule.kind
    m = dict(doc.get("measure", {}))
    data = None
    if "data" in m:
        f = base / m.pop("data")
        if not f.is_file():
            raise SpecError(f"[measure].data = {str(f)!r}: no such file; give a .npy or .pt file of held-out samples")
        data = torch.from_numpy(np.load(f)) if f.suffix == ".npy" else torch.load(f, weights_only=True)
    usable_device(m.get("device", "cpu"))
    models = load_models(doc["loader"], doc.get("loader_args", {}), base)
    kw = {"n_paths": m.pop("paths", 64), "n_steps": m.pop("steps", 64), "dtype": dtype_of(m.pop("dtype", "float32"))}
    kw.update(m)
    res = measure_ladder(models, schedule, doc.get("parameterisation", DEFAULT_PARAMETERISATION[kind]), doc["shape"],
                         ode=ode, data=data, progress=progress, **kw)
    return res, doc
