"""`mlem-bench sample SPEC`: ML-EM samples of the example family (examples/model_family.py's
random MLPs: the mechanics need no training) by the spec's VP schedule or a diffusers
scheduler; counts against their expectation, every p = 1 against EM with the top model bit
for bit, the table's configuration at a target, refused configurations exit 2 in one line."""
import re
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the samplers need the 'learned' extra (torch==2.13.0)")

from helpers import optional_module  # noqa: E402

diffusers = optional_module("diffusers")     # imported by the first test that uses it
needs_diffusers = pytest.mark.skipif(diffusers is None, reason="[sample].scheduler needs the 'diffusers' extra")

from helpers import ROOT  # noqa: E402
from mlem_bench.analysis.predict import write_levels  # noqa: E402
from mlem_bench.cli import main  # noqa: E402

WIDTHS = [4, 16, 64]
SPEC = f"""loader = "model_family:random_mlps"
loader_args = {{ widths = {WIDTHS} }}
shape = [2]
"""
# a three-level table (tests/predict_by_hand.py's): costs to price the counts, a configuration at a target
LEVELS = [{"cost": 1.0, "error": 0.2, "delta": 0.0}, {"cost": 16.0, "error": 0.05, "delta": 0.04},
          {"cost": 256.0, "error": 0.004, "delta": 0.02}]
SCALARS = {"T": 1.0, "c_h": 0.5, "c_v": 1.0, "min_steps": 8}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """tmp_path as the current directory (default tables and samples land there), holding the
    example loader module."""
    (tmp_path / "model_family.py").write_text((ROOT / "examples" / "model_family.py").read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def spec(folder, extra=""):
    path = folder / "spec.toml"
    path.write_text(SPEC + extra)
    return str(path)


def table(folder):
    path = folder / "ladder.toml"
    write_levels(path, LEVELS, SCALARS)
    return str(path)


def rows(stdout):
    """The per-level table sample prints: {column: [values]}."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["level", "p"])
    head = lines[start].split()
    body = [[float(v) for v in line.split()] for line in lines[start + 1:] if line.split()[0].isdigit()]
    return {h: np.array([r[j] for r in body]) for j, h in enumerate(head)}


def test_given_probs_write_n_samples_with_counts_within_their_se(folder, capsys):
    n, steps = 400, 16
    out = folder / "x.npy"
    # in chunks of 150, 150 and 100 samples: the counts are summed over them
    assert main(["sample", spec(folder, "[sample]\nbatch = 150\n"), "--probs", "1,0.5,0.25", "--steps", str(steps),
                 "--n", str(n), "--out", str(out)]) == 0
    r = rows(capsys.readouterr().out)
    x = np.load(out)
    assert x.shape == (n, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    # expectation per sample: level 1 every step, level 2 when B_2 or B_3 (1 - 0.5 x 0.75),
    # level 3 when B_3 (0.25)
    np.testing.assert_allclose(r["expected"], steps * np.array([1, 1 - 0.5 * 0.75, 0.25]), rtol=1e-3)
    assert r["evals"][0] == steps and r["se"][0] == 0
    # the counted mean over 400 samples of a sum of 16 independent Bernoulli draws is close to
    # normal: 4 stated SEs leave a false alarm of about 6e-5 per level
    assert np.all(np.abs(r["evals"][1:] - r["expected"][1:]) < 4 * r["se"][1:]), r
    assert np.all(r["se"][1:] > 0.05)           # the SE is the counted mean's (0.097, 0.087), not zero


def test_every_p_one_is_em_with_the_top_model_bit_for_bit(folder, capsys):
    from mlem_bench.sampling.measure import LevelDrift, VPSchedule, em, prior_sample
    n, steps, seed = 64, 16, 5
    out = folder / "x.npy"
    assert main(["sample", spec(folder), "--probs", "1,1,1", "--steps", str(steps), "--n", str(n), "--seed",
                 str(seed), "--out", str(out), "--table", table(folder)]) == 0
    printed = capsys.readouterr().out
    sys.path.insert(0, str(folder))
    try:
        from model_family import random_mlps
    finally:
        sys.path.remove(str(folder))
    sch = VPSchedule()
    top = LevelDrift(random_mlps(widths=WIDTHS)[-1], sch, "eps", torch.float32, False)
    ref = em(top, sch, prior_sample(sch, seed, 0, n, (2,), torch.float32, "cpu"), steps, steps, seed, 0, False)
    assert np.array_equal(np.load(out), ref.numpy())
    # only the top model runs, every step: ML-EM's cost is EM's (16 steps x 256)
    assert list(rows(printed)["evals"]) == [0, 0, steps]
    assert "ML-EM 4096 (expected 4096), EM with model 3 in the same 16 steps 4096: 1 times" in printed


def test_table_at_target_samples_the_configuration_measure_prints(folder, capsys):
    from mlem_bench.sampling.measure import config_at
    target = 0.02
    _, c = config_at(LEVELS, SCALARS, target)       # what `mlem-bench measure --target` prints
    assert main(["sample", spec(folder), "--table", table(folder), "--target", str(target), "--n", "4"]) == 0
    printed = capsys.readouterr().out
    r = rows(printed)
    assert list(r["level"]) == list(range(1, c.level + 1))
    np.testing.assert_allclose(r["p"], c.probs[1:c.level + 1], rtol=5e-4)      # printed to 4 digits
    assert f", {c.n_steps} steps," in printed and r["evals"][0] == c.n_steps    # level 1: every step
    assert np.load(folder / "spec-samples.npy").shape == (4, 2)


@needs_diffusers
def test_diffusers_scheduler_with_every_p_one_is_the_stock_loop(folder, capsys):
    n, steps, seed = 8, 4, 3
    extra = '[sample]\nloader_args = { diffusers = true }\nscheduler = "EulerAncestralDiscreteScheduler"\n'
    out = folder / "x.npy"
    assert main(["sample", spec(folder, extra), "--probs", "1,1,1", "--steps", str(steps), "--n", str(n),
                 "--seed", str(seed), "--out", str(out)]) == 0
    assert "diffusers EulerAncestralDiscreteScheduler" in capsys.readouterr().out
    sys.path.insert(0, str(folder))
    try:
        from model_family import random_mlps
    finally:
        sys.path.remove(str(folder))
    unet = random_mlps(widths=WIDTHS, diffusers=True)[-1]
    # diffusers' pipeline loop on the top model, the noise from one generator
    g = torch.Generator().manual_seed(seed)
    sched = diffusers.EulerAncestralDiscreteScheduler()
    sched.set_timesteps(steps)
    x = torch.randn(n, 2, generator=g) * sched.init_noise_sigma
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.step(unet(sched.scale_model_input(x, t), t), t, x, generator=g).prev_sample
    assert np.array_equal(np.load(out), x.numpy())


S = ["--steps", "4"]
SCHEDULERS = [
    ('[sample]\nscheduler = "DDPMScheduler"\nscheduler_config = { clip_sample = true }\n', S,
     r"\[sample\] DDPMScheduler: clip_sample = True .*set clip_sample=False"),
    ('[sample]\nscheduler = "DDIMScheduler"\nscheduler_config = { clip_sample = false, thresholding = true }\n', S,
     r"\[sample\] DDIMScheduler: thresholding = True"),
    ('[sample]\nscheduler = "DPMSolverMultistepScheduler"\n', S,
     r"\[sample\] DPMSolverMultistepScheduler: solver_order = 2 \(a multistep"),
    ('[sample]\nscheduler = "EulerDiscreteScheduler"\nguidance_rescale = 0.7\n', S,
     r"\[sample\] guidance_rescale = 0.7: .*use guidance_rescale = 0"),
    ('[sample]\nscheduler = "NoSuchScheduler"\n', S,
     r"\[sample\].scheduler = 'NoSuchScheduler' is not a diffusers scheduler class"),
    ('[sample]\nscheduler = "EulerDiscreteScheduler"\nscheduler_config = { clip = 1 }\n', S,
     r"\[sample\].scheduler_config: EulerDiscreteScheduler refused it .*'clip'"),
]
OTHERS = [
    ("", S + ["--probs", "1,0.5,0.5,0.5"], r"--probs has 4 entries for the loader's 3 models"),
    ("", S + ["--probs", "1,1.5"], r"--probs 1,1.5: probs\[1\] = 1.5: every probability must lie in \(0, 1\]"),
    ("", S + ["--probs", "0.5,1"], r"--probs 0.5,1: probs\[0\] = 0.5: .*p_1 = 1"),
    ("", S + ["--probs", "1,a"], r"--probs 1,a: give numbers"),
    ("", ["--probs", "1,0.5"], r"give --steps N \(or \[sample\].steps\) with --probs"),
    ("", ["--target", "0.1"], r"spec-ladder.toml: no such table; run `mlem-bench measure .*spec.toml`"),
    ("", ["--table", "none.toml"], r"none.toml: no such table"),
    ("", ["--table", "ladder.csv", "--target", "0.02"], r"ladder.csv: a CSV table carries no T and c_h"),
]


REFUSED = [pytest.param(*c, id=re.sub(r"\W+", "-", c[2][:32]), marks=[needs_diffusers] if c in SCHEDULERS else [])
           for c in SCHEDULERS + OTHERS]


@pytest.mark.parametrize("extra,argv,message", REFUSED)
def test_refused_configurations_exit_2_with_one_line_naming_the_setting(folder, capsys, extra, argv, message):
    write_levels(folder / "ladder.csv", LEVELS, SCALARS)        # the levels only
    assert main(["sample", spec(folder, extra), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not (folder / "spec-samples.npy").exists()
