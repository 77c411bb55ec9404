"""The CLI end to end: outputs, columns, reproducibility across threads and repeats."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT, TINY_SWEEP
from mlem_bench.sweep.tables import LIST_COLUMNS

pytestmark = pytest.mark.slow   # started first under xdist (conftest.SLOW_FIRST)

REQUIRED = ["case", "family", "gamma", "method", "config", "eps_target", "level", "n_steps", "n_paths", "seed",
            "cost", "error", "error_se", "top_evals", "wall_s", "sq_batches", "mean_err", "cov_err", "sw2"]


def run_cli(args, threads=None, cwd=None):
    env = dict(os.environ)
    if threads:
        env["NUMBA_NUM_THREADS"] = str(threads)
    return subprocess.run([sys.executable, "-m", "mlem_bench.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or ROOT, timeout=600)


@pytest.fixture(scope="module")
def one_thread(tmp_path_factory):
    """The tiny sweep through the CLI in a separate process with one Numba thread."""
    d = tmp_path_factory.mktemp("threads1") / "out"
    r = run_cli(["run", str(TINY_SWEEP), "--out", str(d)], threads=1)
    assert r.returncode == 0, r.stderr
    # in a log (not a terminal) each stage prints one closing line, no bar frames
    assert re.search(r"^cells: (\d+)/\1 tasks in [0-9.]+ s$", r.stderr, re.MULTILINE), r.stderr
    assert "\r" not in r.stderr
    return d, r.stdout


def test_outputs_and_columns(one_thread):
    d, stdout = one_thread
    for name in ("results.csv", "results.parquet", "rates.csv", "speedup.csv", "levels.csv", "report.md",
                 "report.html", "work_precision.png", "regimes.png", "ladder.png", "top_evals.png", "weak.png",
                 "replicates.csv", "exponents.csv", "speedup_summary.csv", "speedup_curves.csv",
                 "speedup_curves.png", "summary.md"):
        assert (d / name).stat().st_size > 0, name
    res = pd.read_csv(d / "results.csv")
    assert set(REQUIRED) <= set(res.columns)
    assert not res.duplicated(["replicate", "config", "seed"]).any()
    pq = pd.read_parquet(d / "results.parquet")
    pd.testing.assert_frame_equal(res.drop(columns=LIST_COLUMNS), pq.drop(columns=LIST_COLUMNS), check_dtype=False)
    # list columns: real lists in Parquet, "[a, b]" in CSV, the same numbers
    for col in LIST_COLUMNS:
        assert all(json.loads(a) == list(b) for a, b in zip(res[col], pq[col])), col
    rates = pd.read_csv(d / "rates.csv")
    assert list(rates.columns[:9]) == ["case", "replicate", "family", "gamma", "method", "slope", "slope_lo",
                                       "slope_hi", "theory_slope"]
    r = rates[rates.method.isin(["em", "mlem"])]
    assert np.all(r.slope < 0) and np.all(r.slope_lo <= r.slope) and np.all(r.slope <= r.slope_hi)
    report = (d / "report.md").read_text()
    assert "Results at a glance" in report and "Speed-up curves" in report
    html = (d / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table" in html     # self-contained
    assert (d / "work_precision.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in d.rglob(".*")] == [".lock"]  # no temporary files left; the folder's lock file stays
    assert "cost exponents over replicates" in stdout and "speed-up of ML-EM over EM" in stdout
    assert "wrote" in stdout


def test_identical_for_one_and_two_threads(one_thread, tiny_sweep):
    # the in-process run uses two threads (conftest.tiny_sweep), the CLI run one
    a = pd.read_csv(one_thread[0] / "results.csv").drop(columns="wall_s")
    b = pd.read_csv(tiny_sweep / "results.csv").drop(columns="wall_s")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_repeated_solves_identical(ou, ladder):
    from mlem_bench.numerics.solve import solve
    p = np.full(9, 0.3)
    a = solve(ou, ladder, "mlem", 7, 64, 300, 1, probs=p)
    b = solve(ou, ladder, "mlem", 7, 64, 300, 1, probs=p)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.cost, b.cost) and np.array_equal(a.evals, b.evals)


# The example compiles its own user-problem kernel (Numba cannot cache kernels over user
# functions: about 25 s of its 33 s); the per-point user drift is checked in make test by
# tests/numerics/test_blocks.py, the example end to end here, in make test-extended (CI runs it).
@pytest.mark.extended
def test_user_problem_example(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "user_problem.py"), str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(res.method) == {"em", "mlem"} and np.all(np.isfinite(res.error))


def test_bench_quick_runs():
    # A smoke run of the speed-ratio script: it must work (no speed is asserted here;
    # speed belongs to `mlem-bench bench` and asv, not to timed tests).
    r = run_cli(["bench", "--quick"])
    assert r.returncode == 0, r.stderr
    for section in ("## kernel", "## mlem_overhead", "## real_work"):
        assert section in r.stdout
    assert "nan" not in r.stdout.lower()
