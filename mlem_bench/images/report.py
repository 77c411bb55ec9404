"""The image track's report: speed-ups at matched error in FLOPs and wall time, figures,
sample grids and report.md, from the stage outputs alone."""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.rates import speedup_interval
from ..errors import SpecError
from ..files import atomic_write
from ..report.blocks import md_table
from ..report.figures import pyplot, save_figure
from .spec import require_output

# the level table's columns (train_steps: absent from runs made before [ladder].budget)
LEVEL_COLUMNS = ["level", "base", "params", "flops", "train_steps", "batch_ms", "train_s", "loss_last", "eps", "delta"]


def batch_points(table, cost):
    """Rows as `analysis.speedup_interval` expects: error, cost and per-batch arrays. FLOPs
    are per batch (`flops_batches`: ML-EM's per-sample draws make them vary; rows sampled
    before per-sample draws have none and repeat the configuration's FLOPs); wall time is
    measured for the whole batch and repeated."""
    t = table.copy()
    t["cost"] = t[cost]
    t["sq"] = [np.asarray(v, float) for v in t.sq_batches]
    t["weights"] = [np.asarray(v, float) for v in t.batch_sizes]
    per_batch = t["flops_batches"] if cost == "flops" and "flops_batches" in t else [None] * len(t)
    t["costs"] = [np.full(len(v), c) if not isinstance(b, (list, np.ndarray)) else np.asarray(b, float)
                  for v, c, b in zip(t.batch_sizes, t[cost], per_batch)]
    return t


def image_speedups(table):
    """ML-EM over EM and over stitch at matched strong error, with jackknife intervals over
    sample batches, in FLOPs per image and in measured wall time (the batch's device time).
    Every sample has its own starting noise, Brownian path and ML-EM draws, so the batches
    are independent and the leave-one-batch-out jackknife sees ML-EM's randomisation in both
    the error and the FLOPs."""
    rows = []
    for cost in ("flops", "wall_s"):
        pts = batch_points(table, cost)
        ml = pts[pts.method == "mlem"]
        rows += [{"method": m, "cost": cost, **speedup_interval(pts[pts.method == m], ml)}
                 for m in ("em", "stitch") if (pts.method == m).any()]
    return pd.DataFrame(rows)


def sample_grids(out, table, x0, lad, s, ref):
    """grids.png: the reference and each method's samples nearest in compute to ML-EM's best."""
    from .sampler import sample
    plt = pyplot()
    ml = table[table.method == "mlem"].sort_values("error").iloc[0]
    picks = [("reference", ref)]
    for m in ("em", "mlem", "stitch"):
        g = table[table.method == m]
        if len(g):
            row = g.iloc[(np.log(g.flops) - np.log(ml.flops)).abs().argmin()]     # nearest compute to ML-EM's best
            x = sample(lad, row.method, int(row.n_steps), x0[:8], s["ref_steps"], s["seed"],
                       probs=np.array(row.probs), switch_step=int(row.switch_step))[0]
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
    atomic_write(out / "grids.png", lambda p: save_figure(plt, fig, p, 110))


def render_image_report(out):
    """report.md and figures from gamma.json, samples/ and results.csv alone."""
    out = Path(out)
    gamma = json.loads(require_output(out / "gamma.json", "gamma").read_text())
    rows = [json.loads(f.read_text()) for f in sorted((out / "samples").glob("c*.json"))]
    if not rows:
        raise SpecError(f"{out}: no sampler results; run `mlem-bench unet sample SPEC --out {out}` first")
    table = pd.DataFrame(rows)
    sp = image_speedups(table)
    atomic_write(out / "speedups.csv", lambda p: sp.to_csv(p, index=False))
    lv = pd.DataFrame(gamma["levels"])
    plt = pyplot()
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
    atomic_write(out / "unet.png", lambda p: save_figure(plt, fig, p, 110))

    text = [f"# UNet track: {out.name}", "",
            f"Measured gamma {gamma['gamma']:.2f} [{gamma['gamma_lo']:.2f}, {gamma['gamma_hi']:.2f}] "
            f"({gamma['error']}; {gamma['n_samples']} trajectories x {gamma['n_steps']} steps; FLOPs from "
            "PyTorch's counter).", "", md_table(lv[[c for c in LEVEL_COLUMNS if c in lv]]), "",
            "Speed-up of ML-EM at matched strong error (cost = FLOPs per image, or measured wall time of "
            f"sampling {n} images; 95% jackknife over sample batches):", "",
            md_table(sp[["method", "cost", "common_error", "cost_other", "cost_mlem", "speedup", "speedup_lo",
                          "speedup_hi"]]), "",
            ("Quality: pixel sliced-W2 to data images" + (f"; FID to data with the Inception weights given "
             f"({n} samples against all data images, so biased upwards: compare rows, not published FIDs)"
             if has_fid else "; no FID ([metrics].inception_weights not set)") + "."), "",
            "![unet](unet.png)", "", "![grids](grids.png)", "",
            "Configurations:", "", md_table(table[["method", "knob", "n_steps", "flops", "wall_s", "error", "pixel_sw2"]
                                              + (["fid"] if has_fid else []) + ["top_evals"]]), ""]
    atomic_write(out / "report.md", lambda p: Path(p).write_text("\n".join(text)))
    return sp
