"""The UNet track's stages: train a ladder of UNets on images, measure its gamma, sample with EM
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
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.diagnostics import measured_gamma
from ..analysis.metrics import batch_bounds, sliced_w2
from ..errors import SpecError
from ..files import atomic_write, write_json
from ..nets.unet import build_unet, count_flops, ladder_flops, level_steps, train_unet
from ..numerics.rng import train_seeds
from ..optional import require_torch
from ..tuning.configure import pair_costs, waterfill
from .data import dataset
from .report import sample_grids
from ..torch_tools import sync
from .sampler import Ladder, initial_noise, sample
from .spec import require_output

# ---------------------------------------------------------------- train

def checkpoint_config(spec, level, steps):
    """What a level's checkpoint records of the spec: the level's network, its training
    (the budget rule and the level's own step count among it) and the data."""
    lad = spec["ladder"]
    return {"base": lad["widths"][level - 1], "mults": lad["mults"], "resolution": spec["data"]["resolution"],
            "train_steps": lad["train_steps"], "budget": lad["budget"], "budget_exponent": lad["budget_exponent"],
            "budget_cap": lad["budget_cap"], "steps": steps, "batch_size": lad["batch_size"], "lr": lad["lr"],
            "seed": lad["seed"], "data": spec["data"]}


def config_difference(stored, wanted):
    """The first field where a checkpoint's config differs from the spec's, as
    '[ladder].budget = 'fixed' there, 'scaled' in the spec'."""
    for k in wanted:
        if stored.get(k, "(not recorded)") != wanted[k]:
            table = "[data]" if k in ("data", "resolution") else "[ladder]"
            name = table if k == "data" else f"{table}.{k}"
            return f"{name} = {stored.get(k, '(not recorded)')!r} there, {wanted[k]!r} in the spec"
    return "no field"


def train(spec, out, device="cpu", log=print, compile=False):
    """Train every level not yet in out/models (resumable, level by level); returns the level
    table. Each level trains for its steps under [ladder].budget (`nets.unet.level_steps`).
    Logs progress every tenth of the steps; compile: torch.compile each network."""
    torch = require_torch()
    lad = spec["ladder"]
    models = Path(out) / "models"
    models.mkdir(parents=True, exist_ok=True)
    res = spec["data"]["resolution"]
    all_flops = ladder_flops(lad["widths"], lad["mults"], res)
    all_steps = level_steps(lad["train_steps"], all_flops, lad["budget"], lad["budget_exponent"], lad["budget_cap"])
    data = None
    rows = []
    for level, (base, steps) in enumerate(zip(lad["widths"], all_steps), start=1):
        f = models / f"level-{level:02d}.pt"
        cfg = checkpoint_config(spec, level, steps)
        if f.is_file():
            ck = torch.load(f, map_location="cpu", weights_only=False)
            if ck["config"] != cfg:
                raise SpecError(f"{f} was trained with another configuration ({config_difference(ck['config'], cfg)}); "
                                f"use another --out or delete {models}")
            rows.append(ck["meta"])
            log(f"level {level} (base {base}): trained already, kept")
            continue
        if data is None:
            data = dataset(spec)
        init_seed, data_seed = train_seeds(lad["seed"], level)
        torch.manual_seed(init_seed)
        model = build_unet(base, tuple(lad["mults"]))
        flops = count_flops(model, res)
        every = max(1, steps // 10)

        def progress(step, loss, level=level, steps=steps, every=every, t0=time.perf_counter()):
            if step % every == 0 or step == steps:
                log(f"  level {level}: step {step}/{steps}, loss {loss:.4f}, {time.perf_counter() - t0:.0f}s")

        # bf16 autocast on a GPU (a no-op on the CPU)
        losses, secs = train_unet(model, data, steps, lad["batch_size"], lad["lr"],
                                  data_seed, device, progress, amp=True, compile=compile)
        meta = {"level": level, "base": base, "params": int(sum(p.numel() for p in model.parameters())),
                "flops": flops, "train_steps": steps, "train_s": secs, "loss_first": float(np.mean(losses[:10])),
                "loss_last": float(np.mean(losses[-10:]))}
        state = {k: v.cpu() for k, v in model.state_dict().items()}
        atomic_write(f, lambda p, s=state, m=meta: torch.save({"config": cfg, "state_dict": s, "meta": m}, p))
        rows.append(meta)
        log(f"level {level} (base {base}, {flops / 1e6:.2f} MFLOP, {steps} steps): trained in {secs:.1f}s, "
            f"loss {meta['loss_first']:.3f} -> {meta['loss_last']:.3f}")
    return rows


def load_models(spec, out, device="cpu"):
    """The trained ladder: (eval-mode models, their training metadata), level 1 first."""
    torch = require_torch()
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
        sync(device)
        ms.append(1e3 * (time.perf_counter() - t0) / 3)
    flops = np.array([m["flops"] for m in metas], float)
    fit = (float("nan"),) * 3
    if L >= 4:      # a fit with an interval needs 3 levels below the largest
        fit = measured_gamma(eps[1:L], flops[:L - 1])
    res = {"levels": [{**m, "eps": float(eps[l]), "delta": float(delta[l]), "batch_ms": ms[l - 1]}
                      for l, m in enumerate(metas, start=1)],
           "gamma": fit[0], "gamma_lo": fit[1], "gamma_hi": fit[2], "n_samples": s["gamma_samples"],
           "n_steps": s["gamma_steps"], "error": "RMS per pixel of f^l - f^L along EM trajectories of level L"}
    write_json(Path(out) / "gamma.json", res)
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
            p[2:] = waterfill(d[2:], pair_costs(c, L), v * float(np.sum(d[2:] ** 2)))
            out.append({"method": "mlem", "n_steps": n, "knob": f"budget={v:g}", "probs": [float(q) for q in p],
                        "switch_step": 0})
        for frac in s["stitch_fractions"]:
            out.append({"method": "stitch", "n_steps": n, "knob": f"s={frac:g}", "probs": [1.0] * (L + 1),
                        "switch_step": int(round(frac * n))})
    return out


def fid_scorer(spec, out, device, log):
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
    configuration without the FID the spec now asks for, or an ML-EM one sampled before
    per-sample draws, is sampled again)."""
    torch = require_torch()
    s = spec["sampler"]
    out = Path(out)
    gamma = json.loads(require_output(out / "gamma.json", "gamma").read_text())
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
        ref = sample(lad, "em", s["ref_steps"], x0, s["ref_steps"], s["seed"])[0]
        ref = ref.cpu()
        atomic_write(ref_path, lambda p: torch.save(ref, p))
    data = dataset(spec, limit=s["n_samples"])
    data = data.reshape(len(data), -1)
    fid_of, fid_digest = fid_scorer(spec, out, device, log) or (None, None)
    lad.warm_up(x0)
    rows = []
    for i, cfg in enumerate(configurations(spec, gamma)):
        f = cells / f"c{i:03d}.json"
        if f.is_file():
            row = json.loads(f.read_text())
            # an ML-EM row without per-batch FLOPs was sampled with one draw pattern for the
            # whole batch (before per-sample draws): sampled again
            current = row["method"] != "mlem" or "flops_batches" in row
            if current and (fid_of is None or row.get("fid_weights") == fid_digest):
                rows.append(row)
                continue
        sync(device)
        t0 = time.perf_counter()
        x, flops, evals, sample_flops = sample(lad, cfg["method"], cfg["n_steps"], x0, s["ref_steps"], s["seed"],
                                               probs=np.array(cfg["probs"]), switch_step=cfg["switch_step"])
        sync(device)
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
               # ML-EM's draws are per sample, so its FLOPs differ from batch to batch
               "flops_batches": [float(sample_flops[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:])],
               "batch_sizes": [int(b - a) for a, b in zip(bounds[:-1], bounds[1:])]}
        if fid_of is not None:
            row["fid"], row["fid_weights"] = fid_of(x), fid_digest
        write_json(f, row)
        rows.append(row)
        log(f"{cfg['method']:6s} {cfg['knob']:12s} {cfg['n_steps']:4d} steps: error {row['error']:.4g}, "
            + (f"FID {row['fid']:.4g}, " if fid_of is not None else "")
            + f"{flops / 1e9:.3g} GFLOP per image, {wall:.2f}s")
    table = pd.DataFrame(rows)
    per_batch = ["sq_batches", "batch_sizes", "flops_batches"]
    atomic_write(out / "results.csv", lambda p: table.drop(columns=per_batch, errors="ignore").to_csv(p, index=False))
    sample_grids(out, table, x0, lad, s, ref)
    return table
