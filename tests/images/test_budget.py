"""The UNet ladder's training budget and the compute plan of the shipped UNet specs: the
scaled rule, its one-line errors, ladder_flops against count_flops on real networks, and
the FLOP and time figures quoted in the specs' comments against the code that computes them."""
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the UNet track needs the 'learned' extra (torch==2.13.0)")

from helpers import ROOT, run_cli  # noqa: E402

from mlem_bench.errors import SpecError  # noqa: E402

UNET = ROOT / "mlem_bench" / "suite" / "unet"
TINY = ROOT / "tests" / "data" / "tiny-unet.toml"


def test_level_steps_rule():
    from mlem_bench.nets.unet import level_steps
    flops = [1.0, 4.0, 16.0, 64.0, 256.0]
    assert level_steps(100, flops) == [100] * 5                                  # "fixed" is the default
    assert level_steps(100, flops, "scaled") == [100, 200, 400, 800, 800]        # doubling per 4x, cap 8
    assert level_steps(100, flops, "scaled", exponent=1.0, cap=100.0) == [100, 400, 1600, 6400, 10000]
    with pytest.raises(ValueError, match=r"\[ladder\].budget must be one of 'fixed', 'scaled'"):
        level_steps(100, flops, "linear")


def test_ladder_flops_is_count_flops_of_the_built_networks():
    """The meta-device count (no weights) equals count_flops of the CPU networks the train
    stage builds, for the gpu-check ladder's widths and depth."""
    from mlem_bench.nets.unet import build_unet, count_flops, ladder_flops
    widths, mults = [8, 16, 32, 64], (1, 2, 2)
    assert ladder_flops(widths, mults, 32) == [count_flops(build_unet(w, mults), 32) for w in widths]


def test_bad_budget_fields_are_one_line_errors(tmp_path):
    base = TINY.read_text()
    cases = [(base.replace('budget = "scaled"', 'budget = "linear"'),
              r"\[ladder\].budget must be one of 'fixed', 'scaled' \(got 'linear'\)"),
             (base.replace("budget_cap = 4", "budget_cap = 0.5"), r"\[ladder\].budget_cap must be >= 1"),
             (base.replace("budget_cap = 4", "budget_exponent = 0"), r"\[ladder\].budget_exponent must lie in \(0, 1\]"),
             (base.replace('budget = "scaled"', "budget = 2"), r"field \[ladder\].budget must be str")]
    for i, (text, match) in enumerate(cases):
        p = tmp_path / f"bad{i}.toml"
        p.write_text(text)
        r = run_cli(["unet", "train", str(p), "--out", str(tmp_path / "out")], tmp_path)
        assert r.returncode == 2 and re.search(match, r.stderr), r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "out").exists()


def quoted_plan(path):
    """The plan lines a spec's comment quotes after '# plan:' (without the '#   ')."""
    lines = path.read_text().splitlines()
    i = lines.index("# plan:")
    out = []
    for line in lines[i + 1:]:
        if not line.startswith("#   "):
            break
        out.append(line[4:])
    return out


def same_figures(quoted, computed):
    """Token by token: words equal, numbers within 2% (whole seconds within 1 s)."""
    a, b = quoted.split(), computed.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            if x != y:
                return False
            continue
        if not (abs(fx - fy) <= 0.02 * abs(fy) or abs(fx - fy) <= 1 and fy == round(fy)):
            return False
    return True


@pytest.mark.parametrize("name", ["gpu-check", "celeba64"])
def test_spec_comments_quote_the_plan(name):
    """The FLOPs, steps, training FLOPs and times a shipped spec's comment quotes are what
    count_flops, level_steps and the plan's time model give for the spec as written."""
    from mlem_bench.images.plan import plan_lines
    from mlem_bench.images.spec import load_spec
    path = UNET / f"{name}.toml"
    quoted, computed = quoted_plan(path), plan_lines(load_spec(path))
    assert len(quoted) == len(computed) > 5
    for q, c in zip(quoted, computed):
        assert same_figures(q, c), (q, c)


def test_gpu_check_fits_its_limit_at_half_the_assumed_throughput():
    """The check's estimated time stays inside the script's own limit even at half the
    assumed throughput, and its training is scaled with size (the largest level trains
    at least 4x the smallest's steps)."""
    from mlem_bench.images.plan import plan
    from mlem_bench.images.spec import load_spec
    limit = int(re.search(r"gpu-check.toml DEVICE=cuda LIMIT=(\d+)", (ROOT / "scripts" / "gpu_check.sh").read_text())[1])
    spec = load_spec(UNET / "gpu-check.toml")
    p = plan(spec)
    assert p["total_s_half"] < limit, (p["total_s_half"], limit)
    steps = np.array([v["steps"] for v in p["levels"]])
    assert spec["ladder"]["budget"] == "scaled" and np.all(np.diff(steps) > 0) and steps[-1] >= 4 * steps[0], steps


def test_plan_command(capsys):
    from mlem_bench.images.plan import main
    assert main([str(UNET / "gpu-check.toml")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[0] == "total"
    assert main([str(UNET / "gpu-check.toml"), "--tflops", "0"]) == 2
    err = capsys.readouterr().err
    assert "--tflops must be > 0" in err and len(err.strip().splitlines()) == 1
