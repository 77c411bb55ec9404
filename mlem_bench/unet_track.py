"""The UNet track: train a ladder of UNets on images, measure its gamma, sample with EM
(largest model) against ML-EM over the whole ladder and the stitch baseline, report.

Stages, each reading what the previous wrote in the output folder:

* ``train``  -> models/level-XX.pt (state dict, base width, FLOPs, losses), data
* ``gamma``  -> gamma.json: per level eps_l = RMS |f^l - f^L| and delta_l = RMS |f^l - f^{l-1}|
  along EM trajectories of the largest model (the drift the sampler uses, per pixel),
  FLOPs c_l and measured time per evaluation; gamma fitted from (c_l, eps_l), l < L.
  The largest model stands in for the exact score: the claim is about reaching the
  largest model's sampler at less compute, so its drift is the target.
* ``sample`` -> results.csv: every configuration's strong error against the reference
  (the largest model with ref_steps steps, same initial noise and Brownian path), pixel
  sliced-W2 to data images, FLOPs and wall time per sample; grids.png.
* ``report`` -> report.md and figures from those files alone.

The ML-EM sampler shares one Bernoulli pattern per step across the batch, so every
network call runs on the full batch, and evaluates f^l and f^{l-1} at the same point.
Leading levels with p_l = 1 collapse to one evaluation of the highest of them (the same
estimator, fewer evaluations): with every p_l = 1 it is EM with the largest model, exactly.
"""
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import speedup_interval
from .diagnostics import measured_gamma
from .learned import _torch
from .metrics import batch_bounds, sliced_w2
from .experiment import _write_json
from .report import _md_table, _plt, _save, atomic_write
from .spec import SpecError, _fields, load_doc
from .tuning import waterfill
from .unet import T_MIN, build_unet, compiled, count_flops, train_unet, vp

MIN_STEPS = 32       # EM is stable for h beta_max / 2 < 2 (beta_max = 20), as for the mixture problems
_DATA = {"stand_in": (bool, False, False), "folder": (str, False, None), "n_images": (int, False, 512),
         "resolution": (int, False, 64)}
_LADDER = {"widths": (list, True, None), "mults": (list, False, [1, 2]), "train_steps": (int, False, 1000),
           "batch_size": (int, False, 64), "lr": (float, False, 2e-3), "seed": (int, False, 0)}
_SAMPLER = {"n_samples": (int, False, 64), "batches": (int, False, 8), "steps": (list, False, [16, 32, 64]),
            "ref_steps": (int, False, 256), "var_budgets": (list, False, [0.25, 1.0, 4.0]),
            "stitch_fractions": (list, False, [0.5]), "gamma_samples": (int, False, 16),
            "gamma_steps": (int, False, 32), "seed": (int, False, 0)}
_METRICS = {"inception_weights": (str, False, None)}
_TABLES = {"name", "data", "ladder", "sampler", "metrics"}


def load_spec(path):
    """The UNet spec (dict of validated tables) of a TOML file; SpecError names the field."""
    doc = load_doc(path)
    where = str(path)
    unknown = sorted(set(doc) - _TABLES)
    if unknown:
        raise SpecError(f"{where}: unknown table or field {unknown[0]!r}; known: {', '.join(sorted(_TABLES))}")
    for t in ("data", "ladder", "sampler"):
        if not isinstance(doc.get(t), dict):
            raise SpecError(f"{where}: missing table [{t}]")
    if not isinstance(doc.get("metrics", {}), dict):
        raise SpecError(f"{where}: metrics must be a table [metrics]")
    spec = {"name": doc.get("name", Path(path).stem),
            "data": _fields(doc["data"], _DATA, "[data]", where),
            "ladder": _fields(doc["ladder"], _LADDER, "[ladder]", where),
            "sampler": _fields(doc["sampler"], _SAMPLER, "[sampler]", where),
            "metrics": _fields(doc.get("metrics", {}), _METRICS, "[metrics]", where)}
    d, lad, s = spec["data"], spec["ladder"], spec["sampler"]
    if d["stand_in"] == (d["folder"] is not None):
        raise SpecError(f"{where}: give [data].folder (your images) or [data].stand_in = true, exactly one")
    w = lad["widths"]
    if len(w) < 2 or not all(isinstance(v, int) and v >= 2 and v % 2 == 0 for v in w) or w != sorted(set(w)):
        raise SpecError(f"{where}: [ladder].widths must be >= 2 increasing even base channel counts (got {w!r})")
    down = 2 ** (len(lad["mults"]) - 1)
    if d["resolution"] < 4 or d["resolution"] % down:
        raise SpecError(f"{where}: [data].resolution must be a multiple of {down} (2^(len(mults)-1)), got {d['resolution']}")
    ref = s["ref_steps"]
    if ref & (ref - 1) or any(not isinstance(n, int) or n < 1 or ref % n for n in s["steps"]):
        raise SpecError(f"{where}: [sampler].steps must divide [sampler].ref_steps, a power of two (got {s['steps']}, {ref})")
    if min(s["steps"]) < MIN_STEPS:
        raise SpecError(f"{where}: [sampler].steps must be >= {MIN_STEPS}: EM on the VP schedule is unstable "
                        f"below h beta_max / 2 < 2 (got {s['steps']})")
    if not 2 <= s["batches"] <= s["n_samples"] // 2:
        raise SpecError(f"{where}: [sampler].batches must be in 2..n_samples/2 (got {s['batches']})")
    if any(not (0 < f < 1) for f in s["stitch_fractions"]) or any(not v > 0 for v in s["var_budgets"]):
        raise SpecError(f"{where}: [sampler].stitch_fractions must lie in (0, 1) and var_budgets be > 0")
    if spec["metrics"]["inception_weights"] is not None:
        from .fid import weights_path
        weights_path(spec["metrics"]["inception_weights"])     # fail before hours of training, not after
    return spec


def dataset(spec, limit=None):
    """The training images of the spec (the first `limit` of them): the user's folder or the
    procedural stand-in."""
    from .images import load_folder, stand_in
    d = spec["data"]
    n = d["n_images"] if limit is None else min(limit, d["n_images"])
    if d["stand_in"]:
        return stand_in(n, d["resolution"], seed=spec["ladder"]["seed"])
    return load_folder(d["folder"], d["resolution"], limit=n)


def _need(path, stage):
    """A file an earlier stage writes; a clear error naming that stage when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path.parent}: no {path.name}; run `mlem-bench unet {stage} SPEC --out {path.parent}` first")
    return path


# ---------------------------------------------------------------- train

def train(spec, out, device="cpu", log=print, compile=False):
    """Train every level not yet in out/models (resumable, level by level); returns the level
    table. Logs progress every tenth of the steps; compile: torch.compile each network."""
    torch = _torch()
    lad = spec["ladder"]
    models = Path(out) / "models"
    models.mkdir(parents=True, exist_ok=True)
    data = dataset(spec)
    rows = []
    for level, base in enumerate(lad["widths"], start=1):
        f = models / f"level-{level:02d}.pt"
        cfg = {"base": base, "mults": lad["mults"], "resolution": spec["data"]["resolution"],
               "train_steps": lad["train_steps"], "batch_size": lad["batch_size"], "lr": lad["lr"],
               "seed": lad["seed"], "data": spec["data"]}
        if f.is_file():
            ck = torch.load(f, map_location="cpu", weights_only=False)
            if ck["config"] != cfg:
                raise SpecError(f"{f} was trained with another [ladder]/[data] configuration; "
                                f"use another --out or delete {models}")
            rows.append(ck["meta"])
            log(f"level {level} (base {base}): trained already, kept")
            continue
        torch.manual_seed(lad["seed"] * 1000 + level)
        model = build_unet(base, tuple(lad["mults"]))
        flops = count_flops(model, spec["data"]["resolution"])
        every = max(1, lad["train_steps"] // 10)

        def progress(step, loss, level=level, t0=time.perf_counter()):
            if step % every == 0 or step == lad["train_steps"]:
                log(f"  level {level}: step {step}/{lad['train_steps']}, loss {loss:.4f}, "
                    f"{time.perf_counter() - t0:.0f}s")

        # bf16 autocast on a GPU (a no-op on the CPU)
        losses, secs = train_unet(model, data, lad["train_steps"], lad["batch_size"], lad["lr"],
                                  lad["seed"] * 1000 + level + 500, device, progress, amp=True, compile=compile)
        meta = {"level": level, "base": base, "params": int(sum(p.numel() for p in model.parameters())),
                "flops": flops, "train_s": secs, "loss_first": float(np.mean(losses[:10])),
                "loss_last": float(np.mean(losses[-10:]))}
        state = {k: v.cpu() for k, v in model.state_dict().items()}
        atomic_write(f, lambda p, s=state, m=meta: torch.save({"config": cfg, "state_dict": s, "meta": m}, p))
        rows.append(meta)
        log(f"level {level} (base {base}, {flops / 1e6:.2f} MFLOP): trained in {secs:.1f}s, "
            f"loss {meta['loss_first']:.3f} -> {meta['loss_last']:.3f}")
    return rows


def load_models(spec, out, device="cpu"):
    """The trained ladder: (eval-mode models, their training metadata), level 1 first."""
    torch = _torch()
    models, metas = [], []
    for level, base in enumerate(spec["ladder"]["widths"], start=1):
        f = Path(out) / "models" / f"level-{level:02d}.pt"
        if not f.is_file():
            raise SpecError(f"missing checkpoint {f}; run `mlem-bench unet train SPEC --out {out}` first")
        ck = torch.load(f, map_location="cpu", weights_only=False)
        m = build_unet(base, tuple(spec["ladder"]["mults"]))
        m.load_state_dict(ck["state_dict"])
        models.append(m.to(device).eval())
        metas.append(ck["meta"])
    return models, metas


# ---------------------------------------------------------------- samplers

class Ladder:
    """Drift evaluators f^l(s, y) = beta (y/2 - eps_hat_l / sigma) at solver time s (diffusion
    time 1 - s) on a batch, with counted FLOPs per image. compile: torch.compile each network
    (FLOPs are counted on the network itself)."""

    def __init__(self, models, flops, compile=False):
        self.models = [compiled(m, compile) for m in models]
        self.flops = [0.0] + [float(f) for f in flops]
        self.L = len(models)

    def warm_up(self, y):
        """One evaluation of every level on a batch shaped like y, so that compilation and
        kernel selection are not timed."""
        for level in range(1, self.L + 1):
            self.drift(level, 0.5, y)
        _sync(y.device)

    def drift(self, level, s, y):
        torch = _torch()
        t = 1.0 - s
        alpha, sigma, beta = (float(v) for v in vp(t))
        with torch.no_grad():
            e = self.models[level - 1](y, torch.full((y.shape[0],), t, device=y.device))
        return beta * (0.5 * y - e / sigma)


def _normal(key, shape, device):
    # Drawn on the sampling device (no host-to-device copy inside timed sampling): CPU and
    # GPU runs see different numbers, every method on one device the same ones.
    torch = _torch()
    g = torch.Generator(device=device).manual_seed(int(key))
    return torch.randn(shape, generator=g, device=device)


def brownian(seed, k, shape, h, device):
    """Fine Brownian increment number k (independent of the step count that sums it)."""
    return _normal(int(seed) * 1_000_003 + int(k), shape, device) * math.sqrt(h)


def bernoulli_uniforms(seed, step, n):
    """One uniform per level for step `step`: the pattern shared by the whole batch."""
    torch = _torch()
    g = torch.Generator().manual_seed(int(seed) * 7_000_003 + int(step) + 1)
    return torch.rand(n, generator=g).numpy()


def mlem_drift(f, probs, u, L):
    """f^1 + sum_l B_l / p_l (f^l - f^{l-1}) with B_l = [u_l < p_l]; leading levels with
    p = 1 collapse to f^m. `f(l)` evaluates (and caches) level l at the current point."""
    m = 1
    while m < L and probs[m + 1] >= 1.0:
        m += 1
    out = f(m)
    for l in range(m + 1, L + 1):
        if u[l] < probs[l]:
            out = out + (f(l) - f(l - 1)) / probs[l]
    return out


def sample(ladder, method, n_steps, x0, ref_steps, seed, probs=None, switch_step=0, record=None):
    """Run a sampler from x0 (B, C, R, R) over n_steps; returns (x, FLOPs per image, evals per level).

    method: "em" (largest level), "mlem" (probs indexed by level), "stitch" (level 1 for
    steps < switch_step, the largest after). Brownian increments are sums of the
    ref_steps-grid increments, so every step count sees the same path.
    record(s, y, f): optional callback at every step (gamma measurement).
    """
    torch = _torch()
    L = ladder.L
    T = 1.0 - T_MIN
    h, r = T / n_steps, ref_steps // n_steps
    x = x0.clone()
    flops, evals = 0.0, np.zeros(L + 1)
    for n in range(n_steps):
        s = n * h
        cache = {}

        def f(level):
            if level not in cache:
                cache[level] = ladder.drift(level, s, x)
                evals[level] += 1
            return cache[level]

        if method == "em":
            drift = f(L)
        elif method == "stitch":
            drift = f(1 if n < switch_step else L)
        elif method == "mlem":
            drift = mlem_drift(f, probs, bernoulli_uniforms(seed, n, L + 1), L)
        else:
            raise ValueError(f"unknown sampler {method!r}")
        if record is not None:
            record(s, x, f)
        flops += sum(ladder.flops[lv] for lv in cache)
        dw = sum(brownian(seed, n * r + j, x.shape, T / ref_steps, x.device) for j in range(r))
        g = math.sqrt(float(vp(1.0 - s)[2]))
        x = x + h * drift + g * dw
        if not torch.isfinite(x).all():
            raise SpecError(f"{method} with {n_steps} steps produced non-finite images at step {n + 1}; "
                            f"use more [sampler].steps or more training")
    return x, flops, evals


def initial_noise(seed, n, channels, resolution, device):
    """The sampler's starting images (standard normal), the same for every method."""
    return _normal(int(seed) * 3_000_017 + 11, (n, channels, resolution, resolution), device)


def check_device(device):
    """SpecError naming --device when torch cannot use it."""
    torch = _torch()
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as e:
        raise SpecError(f"--device {device}: torch cannot use it here ({str(e).splitlines()[0]}); "
                        "use --device cpu or a machine with that accelerator") from None


def _sync(device):
    torch = _torch()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------- gamma

def measure_gamma(spec, out, device="cpu", log=print, compile=False):
    """eps_l, delta_l, FLOPs and time per evaluation along largest-model EM trajectories."""
    s = spec["sampler"]
    models, metas = load_models(spec, out, device)
    lad = Ladder(models, [m["flops"] for m in metas], compile)
    L = lad.L
    sq_err, sq_delta = np.zeros(L + 1), np.zeros(L + 1)
    ns = [0]

    def record(t, y, f):
        top = f(L)
        prev = None
        for l in range(1, L + 1):
            v = f(l)
            sq_err[l] += float(((v - top) ** 2).mean())
            if prev is not None:
                sq_delta[l] += float(((v - prev) ** 2).mean())
            prev = v
        ns[0] += 1

    x0 = initial_noise(s["seed"] + 1, s["gamma_samples"], 3, spec["data"]["resolution"], device)
    sample(lad, "em", s["gamma_steps"], x0, s["ref_steps"], s["seed"] + 1, record=record)
    eps, delta = np.sqrt(sq_err / ns[0]), np.sqrt(sq_delta / ns[0])
    # measured time per evaluation of each level on the sampling batch
    y = initial_noise(s["seed"] + 2, s["n_samples"], 3, spec["data"]["resolution"], device)
    ms = []
    lad.warm_up(y)
    for l in range(1, L + 1):
        t0 = time.perf_counter()
        for _ in range(3):
            lad.drift(l, 0.5, y)
        _sync(device)
        ms.append(1e3 * (time.perf_counter() - t0) / 3)
    flops = np.array([m["flops"] for m in metas], float)
    fit = (float("nan"),) * 3
    if L >= 4:      # a fit with an interval needs 3 levels below the largest
        fit = measured_gamma(eps[1:L], flops[:L - 1])
    res = {"levels": [{**m, "eps": float(eps[l]), "delta": float(delta[l]), "batch_ms": ms[l - 1]}
                      for l, m in enumerate(metas, start=1)],
           "gamma": fit[0], "gamma_lo": fit[1], "gamma_hi": fit[2], "n_samples": s["gamma_samples"],
           "n_steps": s["gamma_steps"], "error": "RMS per pixel of f^l - f^L along EM trajectories of level L"}
    _write_json(Path(out) / "gamma.json", res)
    log(f"gamma {fit[0]:.2f} [{fit[1]:.2f}, {fit[2]:.2f}] from eps_l = "
        + ", ".join(f"{e:.3g}" for e in eps[1:L]) + " (against the largest level)")
    return res


# ---------------------------------------------------------------- sample

def configurations(spec, gamma):
    """Every configuration the sample stage runs: EM (largest) per step count, ML-EM per step
    count x variance budget (p_l water-filled from delta_l and FLOPs), stitch per fraction."""
    s = spec["sampler"]
    lv = gamma["levels"]
    L = len(lv)
    c = np.array([0.0] + [r["flops"] for r in lv])
    d = np.array([0.0] + [r["delta"] for r in lv])
    out = []
    for n in s["steps"]:
        out.append({"method": "em", "n_steps": n, "knob": f"level={L}", "probs": [1.0] * (L + 1), "switch_step": 0})
        for v in s["var_budgets"]:
            p = np.ones(L + 1)
            p[2:] = waterfill(d[2:], c[2:] + c[1:-1], v * float(np.sum(d[2:] ** 2)))
            out.append({"method": "mlem", "n_steps": n, "knob": f"budget={v:g}", "probs": [float(q) for q in p],
                        "switch_step": 0})
        for frac in s["stitch_fractions"]:
            out.append({"method": "stitch", "n_steps": n, "knob": f"s={frac:g}", "probs": [1.0] * (L + 1),
                        "switch_step": int(round(frac * n))})
    return out


def _fid_scorer(spec, out, device, log):
    """(fid_of(images), weights digest), or None when [metrics].inception_weights is not set.
    The data statistics use all [data].n_images images and are kept in out/fid_data.npz,
    keyed by the weights and the data table."""
    w = spec["metrics"]["inception_weights"]
    if w is None:
        return None
    from .fid import fid, gaussian_stats, inception_features, load_inception, psd_root, weights_digest
    digest = weights_digest(w)
    net = load_inception(w, device)

    def scorer(mu, root):
        return (lambda x: fid(inception_features(net, x), mu, root)), digest

    key = json.dumps({"weights": digest, "data": spec["data"]}, sort_keys=True)
    cache = Path(out) / "fid_data.npz"
    if cache.is_file():
        z = np.load(cache)
        if str(z["key"]) == key:
            return scorer(z["mu"], z["root"])
    data = dataset(spec)
    t0 = time.perf_counter()
    mu, cov = gaussian_stats(inception_features(net, data))
    root = psd_root(cov)
    log(f"FID statistics of {len(data)} data images in {time.perf_counter() - t0:.1f}s")

    def write(p):
        with open(p, "wb") as fh:
            np.savez(fh, key=key, mu=mu, root=root)

    atomic_write(cache, write)
    return scorer(mu, root)


def run_samples(spec, out, device="cpu", log=print, compile=False):
    """Reference, then every configuration (resumable: one JSON per configuration; a stored
    configuration without the FID the spec now asks for is sampled again)."""
    torch = _torch()
    s = spec["sampler"]
    out = Path(out)
    gamma = json.loads(_need(out / "gamma.json", "gamma").read_text())
    models, _ = load_models(spec, out, device)
    lad = Ladder(models, [r["flops"] for r in gamma["levels"]], compile)
    res = spec["data"]["resolution"]
    x0 = initial_noise(s["seed"], s["n_samples"], 3, res, device)
    cells = out / "samples"
    cells.mkdir(exist_ok=True)
    ref_path = cells / "reference.pt"
    if ref_path.is_file():
        ref = torch.load(ref_path)
    else:
        ref, _, _ = sample(lad, "em", s["ref_steps"], x0, s["ref_steps"], s["seed"])
        ref = ref.cpu()
        atomic_write(ref_path, lambda p: torch.save(ref, p))
    data = dataset(spec, limit=s["n_samples"])
    data = data.reshape(len(data), -1)
    fid_of, fid_digest = _fid_scorer(spec, out, device, log) or (None, None)
    lad.warm_up(x0)
    rows = []
    for i, cfg in enumerate(configurations(spec, gamma)):
        f = cells / f"c{i:03d}.json"
        if f.is_file():
            row = json.loads(f.read_text())
            if fid_of is None or row.get("fid_weights") == fid_digest:
                rows.append(row)
                continue
        _sync(device)
        t0 = time.perf_counter()
        x, flops, evals = sample(lad, cfg["method"], cfg["n_steps"], x0, s["ref_steps"], s["seed"],
                                 probs=np.array(cfg["probs"]), switch_step=cfg["switch_step"])
        _sync(device)
        wall = time.perf_counter() - t0
        x = x.cpu()
        sq = ((x - ref) ** 2).reshape(x.shape[0], -1).mean(dim=1).numpy().astype(float)
        bounds = batch_bounds(len(sq), s["batches"])
        flat = x.reshape(x.shape[0], -1).numpy().astype(float)
        k = min(len(flat), len(data))
        row = {**cfg, "config": i, "flops": flops, "wall_s": wall, "error": float(np.sqrt(sq.mean())),
               "pixel_sw2": sliced_w2(flat[:k], data[:k].astype(float)),
               "top_evals": float(evals[lad.L]), "evals": [float(e) for e in evals[1:]],
               "sq_batches": [float(sq[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:])],
               "batch_sizes": [int(b - a) for a, b in zip(bounds[:-1], bounds[1:])]}
        if fid_of is not None:
            row["fid"], row["fid_weights"] = fid_of(x), fid_digest
        _write_json(f, row)
        rows.append(row)
        log(f"{cfg['method']:6s} {cfg['knob']:12s} {cfg['n_steps']:4d} steps: error {row['error']:.4g}, "
            + (f"FID {row['fid']:.4g}, " if fid_of is not None else "")
            + f"{flops / 1e9:.3g} GFLOP per image, {wall:.2f}s")
    table = pd.DataFrame(rows)
    atomic_write(out / "results.csv", lambda p: table.drop(columns=["sq_batches", "batch_sizes"]).to_csv(p, index=False))
    _grids(out, table, x0, lad, s, ref)
    return table


def _points(table, cost):
    """Rows as `analysis.speedup_interval` expects: error, cost and per-batch arrays."""
    t = table.copy()
    t["cost"] = t[cost]
    t["sq"] = [np.asarray(v, float) for v in t.sq_batches]
    t["weights"] = [np.asarray(v, float) for v in t.batch_sizes]
    t["costs"] = [np.full(len(v), c) for v, c in zip(t.batch_sizes, t[cost])]
    return t


def speedups(table):
    """ML-EM over EM and over stitch at matched strong error, with jackknife intervals over
    sample batches, in FLOPs per image and in measured wall time (the batch's device time)."""
    rows = []
    for cost in ("flops", "wall_s"):
        pts = _points(table, cost)
        ml = pts[pts.method == "mlem"]
        rows += [{"method": m, "cost": cost, **speedup_interval(pts[pts.method == m], ml)}
                 for m in ("em", "stitch") if (pts.method == m).any()]
    return pd.DataFrame(rows)


def _grids(out, table, x0, lad, s, ref):
    plt = _plt()
    ml = table[table.method == "mlem"].sort_values("error").iloc[0]
    picks = [("reference", ref)]
    for m in ("em", "mlem", "stitch"):
        g = table[table.method == m]
        if len(g):
            row = g.iloc[(np.log(g.flops) - np.log(ml.flops)).abs().argmin()]     # nearest compute to ML-EM's best
            x, _, _ = sample(lad, row.method, int(row.n_steps), x0[:8], s["ref_steps"], s["seed"],
                             probs=np.array(row.probs), switch_step=int(row.switch_step))
            picks.append((f"{m} ({row.knob}, {row.n_steps} steps, {row.flops / 1e9:.2g} GFLOP)", x.cpu()))
    n = min(8, x0.shape[0])
    fig, axes = plt.subplots(len(picks), n, figsize=(1.4 * n, 1.5 * len(picks)), squeeze=False)
    for r, (name, x) in enumerate(picks):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.clip((x[c].numpy().transpose(1, 2, 0) + 1) / 2, 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_title(name, fontsize=7, loc="left")
    atomic_write(out / "grids.png", lambda p: _save(plt, fig, p, 110))


# ---------------------------------------------------------------- report

def report(out):
    """report.md and figures from gamma.json, samples/ and results.csv alone."""
    out = Path(out)
    gamma = json.loads(_need(out / "gamma.json", "gamma").read_text())
    rows = [json.loads(f.read_text()) for f in sorted((out / "samples").glob("c*.json"))]
    if not rows:
        raise SpecError(f"{out}: no sampler results; run `mlem-bench unet sample SPEC --out {out}` first")
    table = pd.DataFrame(rows)
    sp = speedups(table)
    atomic_write(out / "speedups.csv", lambda p: sp.to_csv(p, index=False))
    lv = pd.DataFrame(gamma["levels"])
    plt = _plt()
    has_fid = "fid" in table and table.fid.notna().any()
    fig, ax = plt.subplots(1, 4 if has_fid else 3, figsize=(17 if has_fid else 13, 3.8))
    ok = lv.eps > 0
    ax[0].loglog(lv.eps[ok], lv.flops[ok], "o-")
    ax[0].set_xlabel("eps_l (RMS vs largest level)")
    ax[0].set_ylabel("FLOPs per evaluation")
    ax[0].set_title(f"gamma = {gamma['gamma']:.2f}")
    for m, (col, mk) in {"em": ("C0", "o"), "mlem": ("C3", "s"), "stitch": ("C2", "D")}.items():
        g = table[table.method == m]
        if len(g):
            ax[1].loglog(g.flops, g.error, mk, color=col, label=m, alpha=0.8)
            ax[2].loglog(g.flops, g.pixel_sw2, mk, color=col, label=m, alpha=0.8)
            if has_fid:
                ax[3].semilogx(g.flops, g.fid, mk, color=col, label=m, alpha=0.8)
    n = sum(table.batch_sizes.iloc[0])
    panels = [(ax[1], "strong error vs reference (RMS per pixel)"), (ax[2], "pixel sliced-W2 to data")]
    for a, lab in panels + ([(ax[3], f"FID to data ({n} samples)")] if has_fid else []):
        a.set_xlabel("FLOPs per image")
        a.set_ylabel(lab)
        a.legend(fontsize=8)
    atomic_write(out / "unet.png", lambda p: _save(plt, fig, p, 110))

    text = [f"# UNet track: {out.name}", "",
            f"Measured gamma {gamma['gamma']:.2f} [{gamma['gamma_lo']:.2f}, {gamma['gamma_hi']:.2f}] "
            f"({gamma['error']}; {gamma['n_samples']} trajectories x {gamma['n_steps']} steps; FLOPs from "
            "PyTorch's counter).", "", _md_table(lv[["level", "base", "params", "flops", "batch_ms", "train_s", "loss_last",
                                             "eps", "delta"]]), "",
            "Speed-up of ML-EM at matched strong error (cost = FLOPs per image, or measured wall time of "
            f"sampling {n} images; 95% jackknife over sample batches):", "",
            _md_table(sp[["method", "cost", "common_error", "cost_other", "cost_mlem", "speedup", "speedup_lo",
                          "speedup_hi"]]), "",
            ("Quality: pixel sliced-W2 to data images" + (f"; FID to data with the Inception weights given "
             f"({n} samples against all data images, so biased upwards: compare rows, not published FIDs)"
             if has_fid else "; no FID ([metrics].inception_weights not set)") + "."), "",
            "![unet](unet.png)", "", "![grids](grids.png)", "",
            "Configurations:", "", _md_table(table[["method", "knob", "n_steps", "flops", "wall_s", "error", "pixel_sw2"]
                                              + (["fid"] if has_fid else []) + ["top_evals"]]), ""]
    atomic_write(out / "report.md", lambda p: Path(p).write_text("\n".join(text)))
    return sp
