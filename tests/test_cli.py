"""The CLI end to end: outputs, columns, reproducibility across threads and repeats."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

TINY = ROOT / "tests" / "data" / "tiny-ou.toml"
REQUIRED = ["case", "family", "gamma", "method", "eps_target", "level", "n_steps", "n_paths", "seed",
            "cost", "error", "error_se", "top_evals", "wall_s"]


def run_cli(args, threads=None, cwd=None):
    env = dict(os.environ)
    if threads:
        env["NUMBA_NUM_THREADS"] = str(threads)
    return subprocess.run([sys.executable, "-m", "mlem_bench.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or ROOT, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for threads in (1, 2):
        d = tmp_path_factory.mktemp(f"threads{threads}")
        r = run_cli(["run", str(TINY), "--out", str(d)], threads=threads)
        assert r.returncode == 0, r.stderr
        out[threads] = d
    return out


def test_outputs_and_columns(runs):
    d = runs[1]
    for name in ("results.csv", "rates.csv", "report.md", "work_precision.png"):
        assert (d / name).stat().st_size > 0
    res = pd.read_csv(d / "results.csv")
    assert set(REQUIRED) <= set(res.columns)
    assert set(res.method) == {"em", "mlem"} and len(res) == 8
    rates = pd.read_csv(d / "rates.csv")
    assert list(rates.columns[:7]) == ["case", "gamma", "method", "slope", "slope_lo", "slope_hi", "theory_slope"]
    assert np.all(rates.slope < 0) and np.all(rates.slope_lo <= rates.slope) and np.all(rates.slope <= rates.slope_hi)
    report = (d / "report.md").read_text()
    assert "Fitted slopes" in report and "Speed-up" in report
    assert (d / "work_precision.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in d.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_identical_for_one_and_two_threads(runs):
    a = pd.read_csv(runs[1] / "results.csv").drop(columns="wall_s")
    b = pd.read_csv(runs[2] / "results.csv").drop(columns="wall_s")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_repeated_solves_identical(ou, ladder):
    from mlem_bench.solve import solve
    p = np.full(9, 0.3)
    a = solve(ou, ladder, "mlem", 7, 64, 300, 1, probs=p)
    b = solve(ou, ladder, "mlem", 7, 64, 300, 1, probs=p)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.cost, b.cost) and np.array_equal(a.evals, b.evals)


def test_user_problem_example(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "user_problem.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = pd.read_csv(tmp_path / "results.csv")
    assert set(res.method) == {"em", "mlem"} and np.all(np.isfinite(res.error))


def test_bench_quick_runs():
    # A smoke run of the speed-ratio script: it must work (no speed is asserted here;
    # speed belongs to `mlem-bench bench` and asv, not to timed tests).
    r = run_cli(["bench", "--quick"])
    assert r.returncode == 0, r.stderr
    for section in ("## kernel", "## mlem_overhead", "## real_work"):
        assert section in r.stdout
    assert "nan" not in r.stdout.lower()
