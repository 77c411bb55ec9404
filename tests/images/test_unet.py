"""UNet track on the CPU: the GPU check script at toy size; a tiny ladder trains and its
FLOPs grow as its widths say; the ML-EM sampler draws per sample (independent batches, the
expected cost) and is EM when every p = 1; methods share their noise; the networks compile as one graph;
FID with local weights; the image loader and the stand-in; resume; bad specs."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the UNet track needs the 'learned' extra (torch==2.13.0)")

from helpers import ROOT  # noqa: E402
from helpers import run_cli  # noqa: E402

from mlem_bench.sweep.spec import SpecError  # noqa: E402

pytestmark = pytest.mark.slow   # started first under xdist (conftest.SLOW_FIRST)

TINY = ROOT / "tests" / "data" / "tiny-unet.toml"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The GPU check script at toy size on the CPU (the tiny spec, end to end through the
    CLI): (spec, out folder, its output). Run as users run it, so the script cannot rot."""
    from mlem_bench.images.spec import load_spec
    out = tmp_path_factory.mktemp("unet") / "out"
    env = {**os.environ, "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--toy", str(out)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "gpu_check: done" in r.stdout and (out / "report.md").is_file()
    return load_spec(TINY), out, r.stdout


def test_ladder_trains_and_flops_grow_with_width(tiny):
    spec, out, _ = tiny
    metas = [torch.load(out / "models" / f"level-{l:02d}.pt", weights_only=False)["meta"] for l in (1, 2, 3, 4)]
    for m in metas:
        assert m["loss_last"] < m["loss_first"], m
    flops = [m["flops"] for m in metas]
    # widths double level to level: the 3x3 convolutions grow with width^2, the image-side
    # input and output convolutions with width, so each ratio lies between 3 and 4
    ratios = np.array(flops[1:]) / np.array(flops[:-1])
    assert np.all((ratios > 3) & (ratios <= 4)), ratios


def test_scaled_budget_in_the_checkpoints(tiny, tmp_path):
    """The tiny spec trains under budget = "scaled" with cap 4: steps grow with the counted
    FLOPs as the rule says (30 (F_l / F_1)^0.5, then the cap at 120), each checkpoint records
    the budget and its own steps, and a changed budget is named when checkpoints mismatch."""
    from mlem_bench.images.stages import train
    spec, out, _ = tiny
    cks = [torch.load(out / "models" / f"level-{l:02d}.pt", weights_only=False) for l in (1, 2, 3, 4)]
    flops = np.array([c["meta"]["flops"] for c in cks], float)
    steps = [c["meta"]["train_steps"] for c in cks]
    assert steps == [int(round(30 * min(4.0, r ** 0.5))) for r in flops / flops[0]] and steps[-1] == 120, steps
    assert steps == sorted(set(steps)), steps                       # strictly increasing with size
    assert all(c["config"]["budget"] == "scaled" and c["config"]["steps"] == n for c, n in zip(cks, steps))
    work = tmp_path / "out"
    shutil.copytree(out / "models", work / "models")
    fixed = {**spec, "ladder": {**spec["ladder"], "budget": "fixed"}}
    with pytest.raises(SpecError, match=r"level-01.pt was trained with another configuration "
                                        r"\(\[ladder\].budget = 'scaled' there, 'fixed' in the spec\)"):
        train(fixed, work, log=lambda m: None)
    longer = {**spec, "ladder": {**spec["ladder"], "budget_cap": 8.0}}
    with pytest.raises(SpecError, match=r"level-01.pt .*\[ladder\].budget_cap = 4 there, 8.0 in the spec"):
        train(longer, work, log=lambda m: None)


def _ladder(bases=(2, 4, 8), res=8):
    from mlem_bench.nets.unet import build_unet, count_flops
    from mlem_bench.images.sampler import Ladder
    torch.manual_seed(0)
    models = [build_unet(b).eval() for b in bases]
    return Ladder(models, [count_flops(m, res) for m in models])


def test_mlem_draws_per_sample_so_batches_are_independent(monkeypatch):
    """ML-EM draws B_l per sample (sampling.MultilevelModel, whose unbiasedness
    tests/sampling checks): each image's FLOPs are its own, their mean is the expected cost
    of tuning.configure.mlem_step_cost per step, and the FLOPs of batches of 20 images vary
    as independent samples' means do (variance of the per-image FLOPs / 20), which is what
    the report's jackknife over sample batches needs. One pattern per batch would give
    every image of a batch the same FLOPs: variance 20 times larger (or none with one
    pattern for the whole run)."""
    import scipy.stats
    from mlem_bench.images import sampler
    from mlem_bench.tuning.configure import mlem_step_cost
    flops = [1.0, 4.0, 16.0]
    lad = sampler.Ladder([torch.nn.Identity()] * 3, flops)
    lad.drift = lambda level, s, y: torch.zeros_like(y)
    probs = np.array([0.0, 1.0, 0.5, 0.3])
    n, steps, size = 2000, 8, 20
    x0 = torch.zeros(n, 1)
    _, mean_flops, evals, per_image = sampler.sample(lad, "mlem", steps, x0, steps, 4, probs=probs)
    assert per_image.shape == (n,) and mean_flops == per_image.mean()
    assert np.isclose(evals[1:] @ flops, mean_flops) and evals[1] == steps

    class Costs:
        cost = np.array([0.0] + flops)
    expected = steps * mlem_step_cost(Costs(), 3, probs)
    # 4 standard errors of the mean of 2000 independent images
    assert abs(mean_flops - expected) < 4 * per_image.std() / np.sqrt(n), (mean_flops, expected)
    batch_means = per_image.reshape(-1, size).mean(axis=1)
    k = batch_means.size
    stat = (k - 1) * batch_means.var(ddof=1) / (per_image.var(ddof=1) / size)
    # chi-square with k - 1 = 99 degrees of freedom: inside its 0.1% and 99.9% quantiles
    lo, hi = scipy.stats.chi2.ppf([0.001, 0.999], k - 1)
    assert lo < stat < hi, (stat, lo, hi)
    # a sample's draws do not depend on its batch: the first 100 images alone cost the same
    assert np.array_equal(sampler.sample(lad, "mlem", steps, x0[:100], steps, 4, probs=probs)[3], per_image[:100])


def test_report_jackknife_takes_each_batch_flops():
    """The speed-up's jackknife over sample batches reads each batch's FLOPs (ML-EM's vary
    with its per-sample draws); rows without them (EM, stitch, or stored before per-sample
    draws) repeat the configuration's FLOPs, and wall time is one number per configuration.
    Batch FLOPs that vary widen the interval, all else equal."""
    import pandas as pd
    from mlem_bench.images.report import batch_points, image_speedups
    sq = [[0.04, 0.05, 0.045, 0.05], [0.01, 0.012, 0.011, 0.01]]
    rows = [{"method": "em", "n_steps": n, "flops": f, "wall_s": w, "error": float(np.sqrt(np.mean(q))),
             "sq_batches": q, "batch_sizes": [5, 5, 5, 5]} for n, f, w, q in ((8, 8.0, 1.0, sq[0]), (32, 32.0, 4.0, sq[1]))]
    rows += [{"method": "mlem", "n_steps": n, "flops": f, "wall_s": w, "error": float(np.sqrt(np.mean(q))),
              "sq_batches": q, "batch_sizes": [5, 5, 5, 5], "flops_batches": fb}
             for n, f, w, q, fb in ((8, 4.0, 0.6, sq[0], [3.0, 5.0, 3.5, 4.5]), (32, 16.0, 2.4, sq[1], [12.0, 20.0, 14.0, 18.0]))]
    table = pd.DataFrame(rows)
    pts = batch_points(table, "flops")
    assert [list(c) for c in pts.costs] == [[8.0] * 4, [32.0] * 4, [3.0, 5.0, 3.5, 4.5], [12.0, 20.0, 14.0, 18.0]]
    assert [list(c) for c in batch_points(table, "wall_s").costs] == [[1.0] * 4, [4.0] * 4, [0.6] * 4, [2.4] * 4]
    varying = image_speedups(table).set_index("cost")
    constant = image_speedups(table.drop(columns="flops_batches")).set_index("cost")
    # both methods reach the same errors, so at the smallest one the speed-up is 32 / 16 FLOPs (to rounding)
    assert np.isclose(varying.speedup["flops"], 2.0) and varying.speedup["flops"] == constant.speedup["flops"]
    width = {k: t.speedup_hi["flops"] / t.speedup_lo["flops"] for k, t in (("varying", varying), ("constant", constant))}
    assert width["varying"] > width["constant"], width


def test_mlem_with_every_p_one_is_em_exactly():
    from mlem_bench.images.sampler import initial_noise, sample
    lad = _ladder()
    x0 = initial_noise(0, 4, 3, 8, "cpu")
    em, f_em, _, per_em = sample(lad, "em", 32, x0, 64, 3)
    ml, f_ml, ev, per_ml = sample(lad, "mlem", 32, x0, 64, 3, probs=np.ones(4))
    assert torch.equal(em, ml) and f_em == f_ml and np.array_equal(per_em, per_ml)
    assert list(ev[1:]) == [0, 0, 32]


def test_methods_see_the_same_noise(monkeypatch):
    """Changing the method (or the step count) changes only the drift: with the drift set to
    zero and g = 1, every sampler ends at X_0 + W_T, the same initial noise plus the same
    Brownian path (fine increments on the reference grid, summed over each coarse step)."""
    from mlem_bench.images import sampler
    from mlem_bench.numerics.vp import T_MIN
    lad = sampler.Ladder([torch.nn.Identity()] * 3, [1.0, 2.0, 4.0])
    lad.drift = lambda level, s, y: torch.zeros_like(y)
    monkeypatch.setattr(sampler, "vp_coefficients", lambda t: (1.0, 0.0, 1.0))
    x0 = sampler.initial_noise(0, 4, 3, 8, "cpu")
    ref = sampler.sample(lad, "em", 128, x0, 128, 5)[0]
    for method, n, kw in [("em", 32, {}), ("mlem", 64, {"probs": np.array([1, 1, 0.5, 0.3])}),
                          ("stitch", 32, {"switch_step": 16})]:
        x = sampler.sample(lad, method, n, x0, 128, 5, **kw)[0]
        # equal up to float32 summation order (16 or 2 fine increments per step)
        assert torch.allclose(x, ref, atol=1e-5), (method, (x - ref).abs().max())
    w = (ref - x0).flatten()
    assert abs(w.std().item() - (1 - T_MIN) ** 0.5) < 0.15     # W_T ~ N(0, T), 192 values
    assert not torch.allclose(sampler.sample(lad, "em", 32, x0, 128, 6)[0], ref, atol=1e-2)


def test_unet_compiles_as_one_graph():
    """torch.compile can capture the whole network (no graph breaks), so --compile runs it
    as one fused graph on a GPU; traced and eager outputs agree."""
    from mlem_bench.nets.unet import build_unet
    torch.manual_seed(0)
    m = build_unet(4).eval()
    y, t = torch.randn(2, 3, 8, 8), torch.full((2,), 0.3)
    ex = torch._dynamo.explain(m)(y, t)
    assert ex.graph_count == 1 and ex.graph_break_count == 0, ex.break_reasons
    with torch.no_grad():
        assert torch.allclose(torch.compile(m, backend="aot_eager")(y, t), m(y, t), atol=1e-6)


def test_report_and_resume(tiny):
    import pandas as pd
    spec, out, first = tiny
    res = pd.read_csv(out / "results.csv")
    assert set(res.method) == {"em", "mlem", "stitch"} and np.all(np.isfinite(res.error))
    assert (out / "grids.png").stat().st_size > 0 and "Speed-up of ML-EM" in (out / "report.md").read_text()
    stamps = {f: f.stat().st_mtime_ns for f in (out / "samples").glob("*")}
    assert "fid" not in res.columns and "no FID" in (out / "report.md").read_text()
    assert set(pd.read_csv(out / "speedups.csv").cost) == {"flops", "wall_s"}
    # each configuration stores its batches' FLOPs, whose weighted mean is its FLOPs per image
    for f in (out / "samples").glob("c*.json"):
        row = json.loads(f.read_text())
        fb, w = np.array(row["flops_batches"]), np.array(row["batch_sizes"])
        assert np.isclose(fb @ w / w.sum(), row["flops"]), row
        assert row["method"] == "mlem" or np.all(fb == row["flops"]), row
    r = run_cli(["unet", "all", str(TINY), "--out", str(out)], out.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("trained already, kept") == 4
    assert {f: f.stat().st_mtime_ns for f in (out / "samples").glob("*")} == stamps


def test_fid_in_the_track(tiny, tmp_path, fid_weights, monkeypatch):
    """Inception weights given in [metrics]: stored configurations without FID are sampled
    again (models, gamma and reference kept), each gets an FID, the report shows it; a
    second run recomputes nothing. Random weights: the plumbing, not the values, so the
    network's input is 75 x 75 (its smallest) instead of 299 x 299, 16x less CPU time."""
    import pandas as pd

    from mlem_bench.images import fid
    monkeypatch.setattr(fid, "RESOLUTION", 75)
    spec, out, _ = tiny
    work = tmp_path / "out"
    shutil.copytree(out, work)
    fid_spec = tmp_path / "fid.toml"
    fid_spec.write_text(TINY.read_text() + f'\n[metrics]\ninception_weights = "{fid_weights}"\n')
    r = run_cli(["unet", "all", str(fid_spec), "--out", str(work)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("trained already, kept") == 4 and "FID statistics of 64 data images" in r.stdout
    res = pd.read_csv(work / "results.csv")
    assert len(res) == 6 and np.all(np.isfinite(res.fid)) and np.all(res.fid > 0)
    assert "FID to data with the Inception weights given" in (work / "report.md").read_text()
    stamps = {f: f.stat().st_mtime_ns for f in (work / "samples").glob("*")}
    r = run_cli(["unet", "sample", str(fid_spec), "--out", str(work)], tmp_path)
    assert r.returncode == 0 and "FID statistics" not in r.stdout, r.stderr
    assert {f: f.stat().st_mtime_ns for f in (work / "samples").glob("*")} == stamps
    fid_spec.write_text(TINY.read_text() + '\n[metrics]\ninception_weights = "nowhere.pth"\n')
    r = run_cli(["unet", "all", str(fid_spec), "--out", str(tmp_path / "none")], tmp_path)
    assert r.returncode == 2 and "[metrics].inception_weights: nowhere.pth is not a file" in r.stderr, r.stderr
    assert not (tmp_path / "none").exists()


def test_image_folder_loader(tmp_path):
    from PIL import Image

    from mlem_bench.images.data import load_folder, stand_in
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 256, (50, 20, 3), dtype=np.uint8)).save(tmp_path / "b.jpg")
    x = load_folder(tmp_path, 16)
    assert x.shape == (2, 3, 16, 16) and x.dtype == np.float32 and -1 <= x.min() and x.max() <= 1
    with pytest.raises(SpecError, match="is not a folder"):
        load_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpecError, match="holds no .jpg"):
        load_folder(empty)
    (tmp_path / "c.png").write_bytes(b"not an image")
    with pytest.raises(SpecError, match="cannot read image .*c.png"):
        load_folder(tmp_path)
    a, b = stand_in(6, 16, seed=2), stand_in(3, 16, seed=2)
    assert np.array_equal(a[:3], b) and not np.array_equal(a[0], a[1])


def test_bad_unet_specs(tmp_path):
    from mlem_bench.images.spec import load_spec
    base = TINY.read_text()
    cases = [(base.replace("stand_in = true", 'stand_in = true\nfolder = "x"'), "exactly one"),
             (base.replace("steps = [32, 64]", "steps = [8, 64]"), r"\[sampler\].steps must be >= 32"),
             (base.replace("widths = [2, 4, 8, 16]", "widths = [4, 2]"), r"\[ladder\].widths"),
             (base.replace("resolution = 8", "resolution = 7"), r"\[data\].resolution"),
             (base + "\n[metric]\ninception_weights = 'x'\n", "unknown table or field 'metric'"),
             (base + "\n[metrics]\ninception = 'x'\n", r"unknown field \[metrics\].inception")]
    for text, match in cases:
        p = tmp_path / "bad.toml"
        p.write_text(text)
        with pytest.raises(SpecError, match=match):
            load_spec(p)
    r = run_cli(["unet", "sample", str(TINY), "--out", str(tmp_path / "none")], tmp_path)
    assert r.returncode == 2 and "no gamma.json; run `mlem-bench unet gamma" in r.stderr, r.stderr
    r = run_cli(["unet", "gamma", str(TINY), "--out", str(tmp_path / "none")], tmp_path)
    assert r.returncode == 2 and "missing checkpoint" in r.stderr and "unet train" in r.stderr, r.stderr
