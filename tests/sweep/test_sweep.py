"""The sweep engine: cells persisted as they finish, resume after an interruption
(in-process and a killed process), Dask gives the same table, incompatible folders
are refused untouched, and the report renders from the stored tables alone."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from helpers import TINY_SWEEP as TINY
from mlem_bench.files import read_sealed
from mlem_bench.numerics.rng import replicate_seed
from mlem_bench.sweep.driver import run_sweep
from mlem_bench.sweep.executors import DaskExecutor
from mlem_bench.sweep.spec import SpecError, load_case


def table(out):
    # wall_s is a timing, the only column allowed to differ between runs
    return pd.read_csv(out / "results.csv").drop(columns="wall_s")


@pytest.fixture
def baseline_run(tiny_sweep):
    return tiny_sweep


def test_every_method_seed_and_replicate_present(baseline_run):
    res = table(baseline_run)
    case = load_case(TINY)
    assert set(res.method) == set(case.sweep.all_methods)
    assert set(res.replicate) == set(range(case.sweep.replicates))
    for r in range(case.sweep.replicates):
        # stem: name, content digest, replicate
        [plan_file] = (baseline_run / "plans").glob(f"tiny-sweep--*--r{r:02d}.json")
        plan = read_sealed(plan_file)
        mine = res[res.replicate == r]
        # replicate r runs under its own seeds (numerics.rng.replicate_seed): replicate 0 the case's own
        seeds = [replicate_seed(case.sweep.seed, r) + j for j in range(case.sweep.n_seeds)]
        assert sorted(set(mine.seed)) == seeds and plan["sweep_seed"] == seeds[0]
        assert plan["ladder_seed"] == replicate_seed(case.ladder.seed, r)
        assert len(mine) == len(plan["configs"]) * case.sweep.n_seeds
        assert not mine.duplicated(["config", "seed"]).any()
    # the replicates are different draws: their errors differ
    a, b = (res[(res.replicate == r) & (res.method == "em")].error.to_numpy() for r in (0, 1))
    assert not (len(a) == len(b) and (a == b).all())
    reps = pd.read_csv(baseline_run / "replicates.csv")
    assert list(reps.replicate) == [0, 1] and (reps.pilot_cost > 0).all() and (reps.run_cost > 0).all()


def test_one_replicate_is_the_case_itself(baseline_run, tmp_path):
    # replicates = 1 (the default) reproduces replicate 0 of a replicated sweep exactly
    spec = tmp_path / "tiny-sweep.toml"
    spec.write_text(TINY.read_text().replace("replicates = 2\n", "").replace("n_seeds = 2", "n_seeds = 1")
                    .replace('baselines = ["em-finest", "em-coarsest", "stitch", "mlem-shared", "mlem-schedule"]',
                             "baselines = []"))
    out = tmp_path / "out"
    run_sweep([load_case(spec)], out, progress=False)
    one = table(out)
    full = table(baseline_run)
    full = full[(full.replicate == 0) & full.method.isin(["em", "mlem"]) & (full.seed == 3)]
    assert (one.replicate == 0).all()
    cols = ["method", "knob", "eps_target", "level", "n_steps", "cost", "error", "error_se"]
    pd.testing.assert_frame_equal(one[cols].reset_index(drop=True), full[cols].reset_index(drop=True),
                                  check_exact=True)


class Interrupt(Exception):
    pass


def test_resume_after_interrupt_gives_the_same_table(baseline_run, tmp_path):
    out = tmp_path / "out"
    saved = []

    def stop_after_5(path):
        saved.append(path)
        if len(saved) == 2 + 5:          # the two replicates' plans, then five cells
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep([load_case(TINY)], out, progress=False, on_saved=stop_after_5)
    assert len(list((out / "cells").glob("*.json"))) == 5 and not (out / "results.csv").exists()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    run_sweep([load_case(TINY)], out, resume=True, progress=False)
    # finished cells were not recomputed (untouched files), and the table is the uninterrupted one
    assert all((out / "cells" / n).stat().st_mtime_ns == t for n, t in before.items())
    pd.testing.assert_frame_equal(table(out), table(baseline_run), check_exact=True)


def test_resume_after_killed_process(baseline_run, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mlem_bench.cli", "run", str(TINY), "--out", str(out), "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "cells").glob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    n_done = len(list((out / "cells").glob("*.json")))
    assert n_done >= 3 and not (out / "results.csv").exists()
    # atomic writes: every file under its final name is whole (its seal checks); a kill in
    # the middle of a write may leave only a temporary, which the resume below removes
    for f in out.rglob("*.json"):
        if f.parent.name in ("cells", "plans"):
            read_sealed(f)
    # resume here (the same code and spec; this process has the kernel compiled already)
    run_sweep([load_case(TINY)], out, resume=True, progress=False)
    assert not list(out.rglob(".*.tmp"))
    pd.testing.assert_frame_equal(table(out), table(baseline_run), check_exact=True)


def test_dask_two_workers_bit_identical(baseline_run, tmp_path):
    out = tmp_path / "out"
    ex = DaskExecutor(workers=2)
    try:
        run_sweep([load_case(TINY)], out, ex, progress=False)
    finally:
        ex.close()
    pd.testing.assert_frame_equal(table(out), table(baseline_run), check_exact=True)


def test_incompatible_folder_is_refused_untouched(baseline_run, tmp_path):
    import shutil
    out = tmp_path / "out"
    shutil.copytree(baseline_run, out)
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    spec = tmp_path / "tiny-sweep.toml"
    spec.write_text(TINY.read_text().replace("n_paths = 200", "n_paths = 100"))
    with pytest.raises(SpecError, match="different spec"):
        run_sweep([load_case(spec)], out, resume=True, progress=False)
    with pytest.raises(SpecError, match="pass --resume"):
        run_sweep([load_case(TINY)], out, progress=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot


def test_report_from_stored_tables_alone(baseline_run, tmp_path):
    import shutil
    out = tmp_path / "out"
    shutil.copytree(baseline_run, out)
    shutil.rmtree(out / "cells")
    shutil.rmtree(out / "plans")
    for f in ("report.md", "report.html", "rates.csv", "work_precision.png"):
        (out / f).unlink()
    r = subprocess.run([sys.executable, "-m", "mlem_bench.cli", "report", str(out)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / "report.md").read_text() == (baseline_run / "report.md").read_text()
    assert (out / "report.html").stat().st_size > 10_000


def test_report_of_a_folder_without_a_sweep(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mlem_bench.cli", "report", str(tmp_path)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "no sweep.json" in r.stderr and "Traceback" not in r.stderr
