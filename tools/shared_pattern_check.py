"""Shared-pattern vs per-sample draws on a trained CPU ladder of the UNet track: the RMS error
of ML-EM (budget=1, 32 steps) when all the batch's images share one Bernoulli pattern (16
patterns, as the sampler drew before per-sample draws), against per-sample draws.

    python tools/shared_pattern_check.py OUT   # OUT: a finished `mlem-bench unet all
                                               # mlem_bench/suite/unet/cpu-small.toml --out OUT`
(docs/unet.md, "Measured on a 2-core CPU instead")."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from mlem_bench.images import sampler as S
from mlem_bench.images.stages import load_models, configurations
from mlem_bench.images.spec import load_spec
from mlem_bench.sampling.multilevel import MultilevelModel
out = Path(sys.argv[1])
spec = load_spec("mlem_bench/suite/unet/cpu-small.toml")
gamma = json.loads((out / "gamma.json").read_text())
models, _ = load_models(spec, out, "cpu")
lad = S.Ladder(models, [r["flops"] for r in gamma["levels"]])
s = spec["sampler"]
x0 = S.initial_noise(s["seed"], s["n_samples"], 3, spec["data"]["resolution"], "cpu")
ref = torch.load(out / "samples" / "reference.pt")
cfg = [c for c in configurations(spec, gamma) if c["method"] == "mlem" and c["knob"] == "budget=1" and c["n_steps"] == 32][0]
orig_draws = MultilevelModel.draws
errs = {}
for mode in ["per-sample"] + [f"shared{k}" for k in range(16)]:
    if mode == "per-sample":
        MultilevelModel.draws = orig_draws
    else:
        k = int(mode[6:])
        MultilevelModel.draws = lambda self, batch, samples=None, k=k: orig_draws(self, batch, np.full(batch, 10_000 + k))
    x = S.sample(lad, "mlem", cfg["n_steps"], x0, s["ref_steps"], s["seed"], probs=np.array(cfg["probs"]))[0]
    errs[mode] = float(((x - ref) ** 2).reshape(len(x), -1).mean(dim=1).mean().sqrt())
    print(mode, round(errs[mode], 4), flush=True)
sh = np.array([v for m, v in errs.items() if m != "per-sample"])
print("per-sample RMS", errs["per-sample"], "shared: median", np.median(sh), "RMS over patterns", np.sqrt(np.mean(sh**2)),
      "range", sh.min(), sh.max())
