"""`[sweep].reference = "finest"`: errors against the finest level's own SDE (the paper's
protocol and the image track's) beside the default, errors against the exact solution."""
import numpy as np
import pytest

from helpers import run_cli
from mlem_bench.analysis.rates import fit_slope
from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.numerics.solve import fine_grid_reference, solve, strong_error
from mlem_bench.problems import OrnsteinUhlenbeck
from mlem_bench.sweep.driver import run_sweep
from mlem_bench.sweep.spec import Case, Sweep
from mlem_bench.tuning.calibrate import calibrate

PROBLEM = OrnsteinUhlenbeck(1)
LADDER = SyntheticLadder(gamma=2.5, levels=4, eps1=1.0)


def test_pilot_measures_bias_against_the_finest_level():
    exact = calibrate(PROBLEM, LADDER, 0, 200)
    finest = calibrate(PROBLEM, LADDER, 0, 200, reference="finest")
    assert finest.bias[-1] == 0.0 and np.all(finest.bias[1:-1] > 0)
    assert exact.bias[-1] > 0                      # the top level's own bias, against the exact drift
    # the same pilot runs: only what they are compared with changes
    np.testing.assert_array_equal(exact.delta, finest.delta)
    assert finest.pilot["reference"] == "finest" and finest.pilot["cost"] == exact.pilot["cost"]


def test_em_with_the_finest_level_converges_to_its_own_reference():
    # strong order 1 (additive noise) towards the finest level's SDE: slope of log error on
    # log h within 0.2 of 1 over N = 16..128 (reference on 2048 steps, its own error < 10% of
    # the smallest measured, so it adds < 0.5% in quadrature: the sweep's rule)
    ref = fine_grid_reference(PROBLEM, 5, 400, 2048, LADDER, LADDER.levels)
    steps = [16, 32, 64, 128]
    errs = [strong_error(solve(PROBLEM, LADDER, "em", LADDER.levels, n, 400, 5).x, ref.x)[0] for n in steps]
    slope = fit_slope(1.0 / np.array(steps), errs)[0]
    assert abs(slope - 1.0) <= 0.2 and ref.own_error < 0.1 * min(errs), (slope, errs, ref.own_error)
    assert ref.kind == f"fine-grid level {LADDER.levels}"


def test_a_finest_reference_sweep_goes_below_the_top_levels_bias(tmp_path):
    # Against the exact solution no configuration beats the top level's bias; against the
    # top level's own SDE EM and ML-EM both reach targets below it.
    sw = dict(eps=[0.1, 0.05, 0.025], n_paths=200, pilot_paths=100, seed=1)
    ladder = SyntheticLadder(gamma=2.5, levels=3, eps1=1.0)
    top_bias = calibrate(PROBLEM, ladder, 1, 100).bias[-1]
    cases = [Case("ou-finest", PROBLEM, ladder, Sweep(**sw, reference="finest"))]
    t = run_sweep(cases, tmp_path / "out", progress=False)
    res = t["results"]
    assert set(res.method) == {"em", "mlem"}
    for m, g in res.groupby("method"):
        assert g.error.min() < top_bias, (m, g.error.min(), top_bias)
    assert (t["replicates"].reference == "finest").all()


@pytest.mark.parametrize("value", ["bogus", "FINEST"])
def test_unknown_reference_is_a_one_line_error(tmp_path, value):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'name = "bad"\n[problem]\nfamily = "ou"\ndim = 1\n[ladder]\ngamma = 2.5\nlevels = 3\n'
                    f'eps1 = 1.0\n[sweep]\neps = [0.1]\nn_paths = 10\nreference = "{value}"\n')
    r = run_cli(["run", str(spec), "--out", str(tmp_path / "o")])
    assert r.returncode != 0 and "[sweep].reference" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
