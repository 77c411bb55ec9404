"""Bad input: a clear error naming the field or case, never a deep traceback or half output."""
import copy

import numpy as np
import pytest

from helpers import ROOT, run_cli
from mlem_bench.problems import OrnsteinUhlenbeck, OUArrays, UserProblem
from mlem_bench.numerics.solve import PathExplosionError, solve
from mlem_bench.sweep.spec import SpecError, load_case, parse_case
from mlem_bench.sweep.tables import RESULT_COLUMNS

pytestmark = pytest.mark.slow   # started first under xdist (conftest.SLOW_FIRST)

GOOD = {
    "name": "t",
    "problem": {"family": "gmm-sde", "dim": 2, "weights": [0.3, 0.7], "means": [[-1.0, 0.5], [1.0, -0.5]],
                "variances": [0.3, 0.5]},
    "ladder": {"gamma": 2.5, "levels": 8, "eps1": 1.0},
    "sweep": {"eps": [0.1, 0.05], "n_paths": 10},
}


def broken(section, key, value):
    doc = copy.deepcopy(GOOD)
    if value is None:
        del doc[section][key]
    else:
        doc[section][key] = value
    return doc


def test_good_spec_parses():
    assert parse_case(GOOD).problem.dim == 2


@pytest.mark.parametrize("section,key,value,needle", [
    ("problem", "family", "heston", "family"),
    ("problem", "dim", None, "missing field [problem].dim"),
    ("problem", "dim", "two", "[problem].dim must be int"),
    ("problem", "dim", 3, "[problem].dim = 3"),
    ("problem", "variances", [0.3, -0.5], "[problem].variances"),
    ("problem", "variances", [0.3], "[problem].variances"),
    ("problem", "weights", [0.3, 0.6], "sum to 1"),
    ("problem", "weights", [-0.3, 1.3], "[problem].weights"),
    ("problem", "t_min", 1.5, "[problem].t_min"),
    ("problem", "gamma", 2.0, "unknown field [problem].gamma"),
    ("ladder", "gamma", 0.0, "[ladder].gamma must be > 0"),
    ("ladder", "gamma", -1.0, "[ladder].gamma must be > 0"),
    ("ladder", "gamma", None, "missing field [ladder].gamma"),
    ("ladder", "levels", 2.5, "[ladder].levels must be int"),
    ("ladder", "levels", 100, "[ladder].levels"),
    ("ladder", "eps1", float("nan"), "[ladder].eps1"),
    ("sweep", "eps", [0.1, -0.1], "[sweep].eps"),
    ("sweep", "methods", ["em", "rk4"], "[sweep].methods"),
    ("sweep", "n_paths", 1, "[sweep].n_paths"),
    ("sweep", "var_shares", [0.5, 1.0], "[sweep].var_shares"),
    ("sweep", "em_splits", [], "[sweep].em_splits"),
    ("sweep", "baselines", ["em", "t-stitch"], "unknown baseline 'em'"),
    ("sweep", "eps", [], "[sweep].eps"),
    ("sweep", "batches", 11, "[sweep].batches"),      # n_paths = 10
    ("sweep", "n_seeds", 0, "[sweep].n_seeds"),
    ("sweep", "replicates", 0, "[sweep].replicates must be an integer >= 1"),
    ("sweep", "replicates", 2.0, "[sweep].replicates must be int"),
    ("ladder", "structure", "tree", "[ladder].structure must be one of independent, nested"),
    ("sweep", "ref_factor", 12, "[sweep].ref_factor"),
])
def test_spec_errors_name_the_field(section, key, value, needle):
    with pytest.raises(SpecError) as e:
        parse_case(broken(section, key, value), "case.toml")
    assert needle in str(e.value) and "case.toml" in str(e.value)


def test_empty_sweep():
    doc = broken("sweep", "methods", [])
    with pytest.raises(SpecError, match="empty sweep"):
        parse_case(doc, "case.toml")
    doc["sweep"]["baselines"] = ["stitch"]      # baselines alone are a sweep
    assert parse_case(doc).sweep.all_methods == ["stitch"]


def test_ou_spec_errors():
    doc = {"name": "o", "problem": {"family": "ou", "dim": 2, "theta": [[1.0, 0.0]]},
           "ladder": {"gamma": 2.5, "levels": 4, "eps1": 1.0}, "sweep": {"eps": [0.1], "n_paths": 10}}
    with pytest.raises(SpecError, match=r"\[problem\]\.theta"):
        parse_case(doc)
    doc["problem"]["theta"] = 1.0
    doc["problem"]["x0"] = [1.0, 2.0, 3.0]
    with pytest.raises(SpecError, match=r"\[problem\]\.x0"):
        parse_case(doc)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_case(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[problem\nfamily='ou'")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_case(bad)


@pytest.mark.parametrize("p3", [0.0, 1.5, -0.2, float("nan")])
def test_probability_outside_unit_interval(p3):
    ou = OrnsteinUhlenbeck(1)
    from mlem_bench.ladders.synthetic import SyntheticLadder
    probs = np.array([1, 1, 0.5, p3, 0.5])
    with pytest.raises(ValueError, match="p_3"):
        solve(ou, SyntheticLadder(2.5, 4, 1.0), "mlem", 4, 8, 4, 0, probs=probs)


def test_solver_argument_errors():
    ou = OrnsteinUhlenbeck(1)
    with pytest.raises(ValueError, match="power of two"):
        solve(ou, None, "em", 0, 100, 4, 0)
    with pytest.raises(ValueError, match="level 3 is outside"):
        solve(ou, None, "em", 3, 8, 4, 0)
    with pytest.raises(ValueError, match="method must be one of"):
        solve(ou, None, "rk4", 0, 8, 4, 0)
    with pytest.raises(ValueError, match="increments must have shape"):
        solve(ou, None, "em", 0, 8, 4, 0, increments=np.zeros((4, 4, 1)))


def test_exploding_path_is_reported():
    unstable = OrnsteinUhlenbeck(1, theta=-40.0)  # grows like e^{40}: leaves |x| < 1e8
    with pytest.raises(PathExplosionError, match="paths became non-finite or exceeded"):
        solve(unstable, None, "em", 0, 64, 10, 0)


class NanDriftOU(OrnsteinUhlenbeck):
    """OU whose kernel tuple carries Theta = NaN: its drift is NaN from the first step. A
    built-in problem, so its kernel loads from the cache (a user problem's drift would compile
    the kernel afresh, 20 s); the non-finite check is the same kernel code for every drift."""

    def kernel_args(self):
        return OUArrays(np.array([np.nan, self.sigma]))


def test_nan_drift_is_reported():
    with pytest.raises(PathExplosionError, match="5 of 5 paths became non-finite.*first at step 1\\)"):
        solve(NanDriftOU(1), None, "em", 0, 16, 5, 0)


def test_user_problem_needs_jitted_functions():
    with pytest.raises(TypeError, match="numba.njit"):
        UserProblem(lambda t, x, p, o: None, lambda t, p: 1.0, dim=1, T=1.0, x0=0.0)




def test_cli_bad_spec_one_line_no_output(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text((ROOT / "tests" / "data" / "tiny-ou.toml").read_text().replace("gamma = 2.5", "gamma = -1.0"))
    out = tmp_path / "out"
    r = run_cli(["run", str(spec), "--out", str(out)], tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "[ladder].gamma must be > 0" in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def test_cli_exploding_case_fails_alone(tmp_path):
    spec = tmp_path / "boom.toml"
    spec.write_text((ROOT / "tests" / "data" / "tiny-ou.toml").read_text().replace("theta = 1.0", "theta = -40.0"))
    out = tmp_path / "out"
    r = run_cli(["run", str(spec), "--out", str(out)], tmp_path)
    assert r.returncode == 3, r.stderr
    failed = [line for line in r.stderr.strip().splitlines() if "case tiny-ou failed" in line]
    assert len(failed) == 1 and "non-finite or exceeded" in failed[0] and "Traceback" not in r.stderr
    assert "no step count helps" in failed[0]
    # no task output, no results and no report; the failure is in failed.csv
    assert not any((out / "plans").iterdir()) and not any((out / "cells").iterdir())
    assert (out / "failed.csv").read_text().splitlines()[1].startswith("tiny-ou,plan,")
    assert (out / "results.csv").read_text().strip() == ",".join(RESULT_COLUMNS) and not (out / "report.md").exists()


def test_cli_missing_spec(tmp_path):
    r = run_cli(["run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")], tmp_path)
    assert r.returncode == 2 and "no such spec file" in r.stderr
