"""The compute plan of a UNet spec, before anything runs: each level's counted FLOPs and
training steps under [ladder].budget, each stage's FLOPs, and the time they take on a GPU
of an assumed effective throughput. The shipped specs quote this table in their comments
(tests check the quote against the code).

    python -m mlem_bench.images.plan SPEC [--tflops R]

The time model (arithmetic, not a measurement): a call costs max(its FLOPs / R, a host
floor). FLOPs are PyTorch's count (2 per multiply-add of convolutions and matrix
products); a training step is 3 forward passes' worth (forward, then backward at about
twice the forward) on the batch. The floor is the host's work per call in eager PyTorch:
a forward pass dispatches 145 operators at mults (1, 2, 2) and 181 at (1, 2, 2, 2), forward
plus backward 438 and 550 (counted with a dispatch counter on the CPU), about 10 us each on a
GPU host, plus Adam and one synchronising loss.item() per step. Normalisations, activations
and additions move memory but count no FLOPs; R absorbs them.
"""
import argparse
import sys

import numpy as np

from ..nets.unet import ladder_flops, level_steps

# Effective bf16 throughput assumed for these UNets on one H200-class GPU: 25 TFLOP/s, about 3%
# of the ~790 TFLOP/s dense bf16 peak. Small convolutions (8 to 128 channels, 32 to 64 px) are
# memory-bound GEMMs with short reduction dimensions, and GroupNorm/SiLU passes add memory
# traffic the FLOP count does not see; half of the time's model is this guess, so the plan
# prints the time at R/2 too.
ASSUMED_TFLOPS = 25.0
STEP_FLOOR_S = 6e-3      # host time per training step: ~500 dispatched operators + Adam + sync
EVAL_FLOOR_S = 1.5e-3    # host time per network evaluation in sampling: ~150 operators + the step's own
FIXED_S = 60.0           # interpreter and CUDA start-up, stand-in images, sliced W2, grids, report
GRID_IMAGES = 8          # images per row of grids.png (report.sample_grids)


def stage_costs(spec):
    """(levels, stages) of the spec: per level (base, FLOPs per evaluation, training steps,
    training FLOPs); per stage a list of (FLOPs of one call, number of calls, what). Sampling
    counts are upper bounds: an ML-EM step evaluates at most every level once."""
    lad, s = spec["ladder"], spec["sampler"]
    res = spec["data"]["resolution"]
    F = np.array(ladder_flops(lad["widths"], lad["mults"], res), float)
    steps = level_steps(lad["train_steps"], F, lad["budget"], lad["budget_exponent"], lad["budget_cap"])
    B, N = lad["batch_size"], s["n_samples"]
    levels = [(w, f, n, 3 * f * B * n) for w, f, n in zip(lad["widths"], F, steps)]
    train = [(3 * f * B, n, f"train level {i}") for i, (_, f, n, _) in enumerate(levels, start=1)]
    all_levels = lambda n_img, calls, what: [(f * n_img, calls, what) for f in F]     # noqa: E731
    sum_n = sum(s["steps"])
    gamma = all_levels(s["gamma_samples"], s["gamma_steps"], "gamma trajectories") \
        + all_levels(N, 4, "gamma timing and warm-up")
    sample = [(F[-1] * N, s["ref_steps"], "reference"), (F[-1] * N, sum_n, "EM")] \
        + all_levels(N, len(s["var_budgets"]) * sum_n, "ML-EM (bound)") \
        + [(F[-1] * N, len(s["stitch_fractions"]) * sum_n, "stitch (bound)")] \
        + all_levels(N, 1, "warm-up") + all_levels(GRID_IMAGES, 3 * max(s["steps"]), "grids (bound)")
    return levels, {"train": train, "gamma": gamma, "sample": sample}


def seconds(calls, floor, tflops):
    """Time of a list of (FLOPs of one call, number of calls, what) at `tflops` effective."""
    return sum(n * max(floor, f / (tflops * 1e12)) for f, n, _ in calls)


def plan(spec, tflops=ASSUMED_TFLOPS):
    """dict: levels (list of dicts) and stages (list of dicts: FLOPs, seconds at tflops and
    at tflops / 2), total seconds at both."""
    levels, stages = stage_costs(spec)
    lv = [{"level": i, "base": w, "gflop": f / 1e9, "steps": n, "train_pflop": t / 1e15,
           "train_s": n * max(STEP_FLOOR_S, 3 * f * spec["ladder"]["batch_size"] / (tflops * 1e12))}
          for i, (w, f, n, t) in enumerate(levels, start=1)]
    rows = []
    for name, calls in stages.items():
        floor = STEP_FLOOR_S if name == "train" else EVAL_FLOOR_S
        rows.append({"stage": name, "pflop": sum(f * n for f, n, _ in calls) / 1e15,
                     "s": seconds(calls, floor, tflops), "s_half": seconds(calls, floor, tflops / 2)})
    rows.append({"stage": "fixed", "pflop": 0.0, "s": FIXED_S, "s_half": FIXED_S})
    return {"tflops": tflops, "levels": lv, "stages": rows,
            "total_s": sum(r["s"] for r in rows), "total_s_half": sum(r["s_half"] for r in rows)}


def plan_lines(spec, tflops=ASSUMED_TFLOPS):
    """The plan as the lines the shipped specs quote (without the leading '# ')."""
    p = plan(spec, tflops)
    r = tflops
    out = [f"level  base  GFLOP/eval   steps  train PFLOP  train s at {r:g} TFLOP/s"]
    out += [f"{v['level']:5d}  {v['base']:4d}  {v['gflop']:10.4g}  {v['steps']:6d}  {v['train_pflop']:11.4g}  "
            f"{v['train_s']:8.0f}" for v in p["levels"]]
    out.append(f"stage   PFLOP  s at {r:g} TFLOP/s  s at {r / 2:g} TFLOP/s")
    out += [f"{v['stage']:6s}  {v['pflop']:6.4g}  {v['s']:8.0f}  {v['s_half']:8.0f}" for v in p["stages"]]
    out.append(f"total   {sum(v['pflop'] for v in p['stages']):6.4g}  {p['total_s']:8.0f}  {p['total_s_half']:8.0f}")
    return out


def main(argv=None):
    from ..errors import SpecError
    from .spec import load_spec
    ap = argparse.ArgumentParser(prog="python -m mlem_bench.images.plan",
                                 description="FLOPs and estimated GPU time of a UNet spec's stages")
    ap.add_argument("spec")
    ap.add_argument("--tflops", type=float, default=ASSUMED_TFLOPS,
                    help=f"assumed effective throughput in TFLOP/s (default {ASSUMED_TFLOPS:g})")
    args = ap.parse_args(argv)
    try:
        if not args.tflops > 0:
            raise SpecError(f"--tflops must be > 0 (got {args.tflops})")
        lines = plan_lines(load_spec(args.spec), args.tflops)
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
