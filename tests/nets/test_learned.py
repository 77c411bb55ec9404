"""Learned ladders: reproducible training, error falling with size, the Numba inference
path against torch, the unbiased estimator, checkpoint errors, and the CLI end to end."""
import shutil
import tomllib
from pathlib import Path

import numpy as np
import scipy.stats
import pytest

from mlem_bench.sweep.spec import SpecError, parse_case

torch = pytest.importorskip("torch", reason="learned ladders need the 'learned' extra (torch==2.13.0)")

from helpers import ROOT  # noqa: E402
from helpers import run_cli, write_spec  # noqa: E402

TINY = ROOT / "tests" / "data" / "tiny-learned.toml"


def _doc(checkpoints, **ladder):
    doc = tomllib.loads(TINY.read_text())
    doc["ladder"]["checkpoints"] = str(checkpoints)
    doc["ladder"].update(ladder)
    return doc


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """The tiny family, trained once: (case, family dict)."""
    from mlem_bench.nets.score_mlp import train_family
    case = parse_case(_doc(tmp_path_factory.mktemp("learned") / "models"), "tiny")
    fam = train_family(case.ladder, log=lambda m: None)
    return case, fam


def test_training_is_reproducible_bit_for_bit(family, tmp_path):
    from mlem_bench.nets.score_mlp import load_level_model, train_level
    case, _ = family
    for level in (1, 3):
        a = load_level_model(case.ladder, level).state_dict()
        b, _, _ = train_level(case.ladder, level)
        assert all(torch.equal(a[k], b[k]) for k in a), f"level {level} differs on retraining"


def test_error_falls_with_size(family):
    # measured along exact-drift trajectories, the error the drift estimator sees
    _, fam = family
    eps = [r["eps"] for r in fam["levels"]]
    loss = [r["heldout_loss"] for r in fam["levels"]]
    assert all(a > b for a, b in zip(eps, eps[1:])), eps
    assert all(a > b for a, b in zip(loss, loss[1:])), loss
    macs = [r["macs"] for r in fam["levels"]]
    assert all(a < b for a, b in zip(macs, macs[1:]))
    # what family.json stores as gamma and its 95% interval is the least-squares fit of
    # log c_l on log eps_l of these levels (recomputed here with scipy.stats, independently of
    # analysis.rates.fit_slope): a bookkeeping check, not evidence the fit is right. That the
    # fit's interval has its stated coverage is a known-answer test on planted ladders:
    # tests/analysis/test_analysis.py::test_measured_gamma_interval_has_its_stated_coverage
    fit = scipy.stats.linregress(np.log(eps), np.log(macs))
    half = scipy.stats.t.ppf(0.975, len(eps) - 2) * fit.stderr
    np.testing.assert_allclose([fam["gamma"], fam["gamma_lo"], fam["gamma_hi"]],
                               [-fit.slope, -fit.slope - half, -fit.slope + half], rtol=1e-9)


def test_numba_inference_matches_torch(family):
    from mlem_bench.nets.score_mlp import load_level_model
    from mlem_bench.numerics.solve import evaluate_level
    case, _ = family
    p = case.problem
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, p.dim)) * 1.5
    s = rng.uniform(0, p.T, size=64)           # solver time; diffusion time 1 - s
    tau = 1.0 - s
    for level in range(1, case.ladder.levels + 1):
        model = load_level_model(case.ladder, level).double()
        with torch.no_grad():
            e = model(torch.from_numpy(x), torch.from_numpy(tau)).numpy()
        alpha = np.exp(-0.5 * (p.beta_min * tau + 0.5 * (p.beta_max - p.beta_min) * tau ** 2))[:, None]
        beta = (p.beta_min + (p.beta_max - p.beta_min) * tau)[:, None]
        want = beta * (0.5 * x - e / np.sqrt(1 - alpha ** 2))
        got = evaluate_level(p, case.ladder, level, s, x)
        # float64 on both sides: agreement to round-off (a few ulps of the drift's size)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_mlem_estimator_unbiased_for_the_top_level(family):
    from mlem_bench.numerics.solve import estimator_draws, evaluate_level
    case, _ = family
    L = case.ladder.levels
    probs = np.array([1.0, 1.0, 0.4, 0.2])
    x, s = np.array([0.3, -0.4]), 0.6
    draws, _ = estimator_draws(case.problem, case.ladder, L, probs, s, x, 11, 40_000)
    top = evaluate_level(case.problem, case.ladder, L, s, x)[0]
    se = draws.std(axis=0, ddof=1) / np.sqrt(draws.shape[0])
    # 4 standard errors per component: a false alarm has probability ~1e-4
    assert np.all(np.abs(draws.mean(axis=0) - top) < 4 * se), (draws.mean(axis=0), top, se)
    assert np.all(se > 0)


def test_training_resumes_without_retraining(family, tmp_path):
    from mlem_bench.nets.score_mlp import train_family
    case, fam = family
    files = sorted(case.ladder.path.glob("level-*.pt"))
    stamps = [f.stat().st_mtime_ns for f in files]
    measured = (case.ladder.path / "family.json").read_bytes()
    digest = case.ladder.digest()
    msgs = []
    again = train_family(case.ladder, log=msgs.append)
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert sum("trained already, kept" in m for m in msgs) == case.ladder.levels
    assert [r["eps"] for r in again["levels"]] == [r["eps"] for r in fam["levels"]]
    # nothing retrained: family.json (with its timings) is kept byte for byte, so the ladder's
    # digest, and with it every plan and cell of a sweep that used it, stays valid on a rerun
    assert (case.ladder.path / "family.json").read_bytes() == measured
    assert case.ladder.digest() == digest


def test_checkpoint_errors_name_the_field(family, tmp_path):
    case, _ = family
    models = case.ladder.path
    # a checkpoint that does not match the spec
    other = parse_case(_doc(models, widths=[2, 8, 16]), "tiny")
    with pytest.raises(SpecError, match=r"\[ladder\]\.width.*--force"):
        other.ladder.digest()
    # a missing checkpoint folder
    missing = parse_case(_doc(tmp_path / "nowhere"), "tiny")
    with pytest.raises(SpecError, match=r"\[ladder\]\.checkpoints.*mlem-bench train"):
        missing.ladder.digest()
    # one level's file deleted
    broken = tmp_path / "broken"
    shutil.copytree(models, broken)
    (broken / "level-02.pt").unlink()
    with pytest.raises(SpecError, match="missing checkpoint .*level-02.pt"):
        parse_case(_doc(broken), "tiny").ladder.arrays(2)
    # a problem of another dimension pointed at these checkpoints
    doc = _doc(models)
    doc["problem"].update(dim=3, means=[[-1.0, 0.5, 0.0], [1.0, -0.5, 0.0]])
    with pytest.raises(SpecError, match="dimension 2 but \\[problem\\].dim is 3"):
        parse_case(doc, "tiny").ladder.digest()


def test_learned_ladder_needs_a_mixture_problem():
    doc = _doc("models/x")
    doc["problem"] = {"family": "ou", "dim": 2}
    with pytest.raises(SpecError, match="needs \\[problem\\].family gmm-sde or gmm-ode"):
        parse_case(doc, "tiny")
    with pytest.raises(SpecError, match=r"\[ladder\].widths must be at least 2 increasing"):
        parse_case(_doc("models/x", widths=[8, 4]), "tiny")


def test_a_shipped_family_is_read_in_place_and_force_retrains_it_into_models(family, tmp_path, monkeypatch):
    # The tiny family standing in for one shipped with the package: a spec without
    # [ladder].checkpoints reads it where it lies (or by [ladder].family under another case
    # name); `train` keeps it and writes nothing; `train --force` never writes the package
    # copy but retrains into models/<family> of the working directory (bit for bit the same
    # weights), which the spec reads from then on.
    import mlem_bench.ladders.learned as learned
    case, _ = family
    shipped = tmp_path / "package-models"
    shutil.copytree(case.ladder.path, shipped / "tiny-learned")
    monkeypatch.setattr(learned, "SHIPPED_FAMILIES", shipped.resolve())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    doc = tomllib.loads(TINY.read_text())
    spec = work / "tiny-learned.toml"
    write_spec(spec, doc)
    ladder = parse_case(doc, "tiny").ladder
    assert learned.is_shipped(ladder.path) and ladder.path == shipped.resolve() / "tiny-learned"
    named = parse_case({**doc, "name": "other", "ladder": {**doc["ladder"], "family": "tiny-learned"}}, "other")
    assert named.ladder.path == ladder.path
    before = {f.name: f.read_bytes() for f in (shipped / "tiny-learned").iterdir()}
    r = run_cli(["train", str(spec)])
    assert r.returncode == 0 and "trained already, kept" in r.stdout and not (work / "models").exists(), r
    r = run_cli(["train", str(spec), "--force"])
    assert r.returncode == 0 and "training 3 levels into models/tiny-learned" in r.stdout, (r.stdout, r.stderr)
    assert before == {f.name: f.read_bytes() for f in (shipped / "tiny-learned").iterdir()}
    local = parse_case(doc, "tiny").ladder
    assert local.path == Path("models") / "tiny-learned" and (work / local.path / "family.json").is_file()
    for level in range(1, 4):
        a, b = ladder.load_checkpoint(level)["state_dict"], local.load_checkpoint(level)["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a), level
    both = {**doc, "ladder": {**doc["ladder"], "family": "tiny-learned", "checkpoints": "elsewhere"}}
    with pytest.raises(SpecError, match=r"\[ladder\] gives both checkpoints and family; keep one"):
        parse_case(both, "tiny")
    with pytest.raises(SpecError, match=r"\[ladder\]\.family must be 1 to"):
        parse_case({**doc, "ladder": {**doc["ladder"], "family": "../x"}}, "tiny")


def test_cli_train_then_run_reports_the_ladder(family, tmp_path):
    import pandas as pd
    case, _ = family
    spec = tmp_path / "tiny-learned.toml"
    write_spec(spec, _doc(case.ladder.path))
    r = run_cli(["train", str(spec)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "trained already, kept" in r.stdout and "gamma" in r.stdout
    out = tmp_path / "out"
    r = run_cli(["run", str(spec), "--out", str(out), "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    res = pd.read_csv(out / "results.csv")
    assert set(res.method) == {"em", "mlem"} and np.all(np.isfinite(res.error))
    report = (out / "report.md").read_text()
    assert "## Learned ladders" in report and "width" in report
    learned = pd.read_csv(out / "learned.csv")
    assert list(learned.width) == [2, 8, 32]


@pytest.fixture(scope="module")
def exact_family(tmp_path_factory):
    """The tiny family trained on the closed-form noise (same steps, widths and seed as `family`)."""
    from mlem_bench.nets.score_mlp import train_family
    case = parse_case(_doc(tmp_path_factory.mktemp("exact") / "models", target="exact"), "tiny")
    return case, train_family(case.ladder, log=lambda m: None)


def test_exact_target_training_is_reproducible_bit_for_bit(exact_family):
    from mlem_bench.nets.score_mlp import load_level_model, train_level
    case, _ = exact_family
    a = load_level_model(case.ladder, 2).state_dict()
    b, _, _ = train_level(case.ladder, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_exact_target_error_falls_with_size_and_beats_dsm_at_equal_steps(family, exact_family):
    _, dsm = family
    case, ex = exact_family
    eps = [r["eps"] for r in ex["levels"]]
    assert all(a > b for a, b in zip(eps, eps[1:])), eps
    # same networks, steps, batch and seed: only the regression target differs
    assert case.ladder.steps(3) == case.ladder.train_steps
    dsm_eps = [r["eps"] for r in dsm["levels"]]
    # levels 2 and 3 (widths 8, 32): measured 1.28 < 1.38 and 1.04 < 1.23. Level 1 (width 2,
    # depth 1) is excluded: its error is capacity, not target noise (measured 5.04 exact
    # against 4.98 DSM, equal within what 300 steps resolve)
    assert all(a < b for a, b in zip(eps[1:], dsm_eps[1:])), (eps, dsm_eps)
    assert all(r["config"]["target"] == "exact" for r in ex["levels"])


def test_measured_time_costs_are_positive_and_grow_with_size(exact_family):
    _, ex = exact_family
    ns = [r["eval_ns"] for r in ex["levels"]]
    assert all(v > 0 for v in ns) and all(a < b for a, b in zip(ns, ns[1:])), ns


def test_scaled_budget_grows_steps_with_parameters():
    from mlem_bench.ladders.learned import BUDGET_CAP, BUDGET_EXPONENT
    case = parse_case(_doc("models/x", budget="scaled", widths=[2, 8, 32, 512], depth=2), "tiny")
    lad = case.ladder
    steps = [lad.steps(l) for l in range(1, lad.levels + 1)]
    assert steps[0] == lad.train_steps and all(a < b for a, b in zip(steps, steps[1:]))
    want = lad.train_steps * (lad.params(3) / lad.params(1)) ** BUDGET_EXPONENT
    assert steps[2] == round(want)
    assert steps[3] <= BUDGET_CAP * lad.train_steps
    assert lad.training_config(3)["steps"] == steps[2]


def test_kept_checkpoints_name_a_differing_target(family):
    case, _ = family
    other = parse_case(_doc(case.ladder.path, target="exact"), "tiny")
    with pytest.raises(SpecError, match=r"\[ladder\]\.target: .* target = 'dsm', the spec asks for 'exact'"):
        other.ladder.digest()


@pytest.mark.parametrize("field,value,match", [
    ("target", "score", r"\[ladder\]\.target must be one of 'dsm', 'exact' \(got 'score'\)"),
    ("budget", "grow", r"\[ladder\]\.budget must be one of 'fixed', 'scaled' \(got 'grow'\)"),
    ("weight", "time", r"\[ladder\]\.weight must be one of 'uniform', 'sampler'"),
    ("target", 3, r"field \[ladder\]\.target must be str"),
])
def test_bad_training_fields_are_one_line_errors(field, value, match):
    with pytest.raises(SpecError, match=match) as e:
        parse_case(_doc("models/x", **{field: value}), "tiny")
    assert "\n" not in str(e.value)


def test_exact_target_needs_a_closed_form_score():
    from mlem_bench.ladders.learned import LearnedLadder
    from mlem_bench.problems import UserProblem
    from mlem_bench.problems import ou_diffusion, ou_drift
    p = UserProblem(ou_drift, ou_diffusion, 2, 1.0, np.zeros(2), params=np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[ladder\]\.target = 'exact' needs a problem with a closed-form score") as e:
        LearnedLadder(p, widths=(2, 4), target="exact")
    assert "\n" not in str(e.value)


def test_checkpoints_saved_before_the_training_fields_read_as_dsm_fixed_uniform():
    case = parse_case(_doc("models/x"), "tiny")
    old = {k: v for k, v in case.ladder.training_config(2).items() if k not in ("target", "weight", "budget", "steps")}
    case.ladder.check_config(2, old, "level-02.pt")          # accepted: what they were trained with
    exact = parse_case(_doc("models/x", target="exact"), "tiny")
    with pytest.raises(SpecError, match=r"\[ladder\]\.target: .*'dsm', the spec asks for 'exact'"):
        exact.ladder.check_config(2, old, "level-02.pt")
