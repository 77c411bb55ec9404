"""Reliability of the sweep around its edges: case names are not paths, one failing case
does not sink a sweep, damaged folders are diagnosed, every folder mistake is one line,
a memory guard, a folder lock, and a fuzz test of spec parsing."""
import json
import os
import stat

import pandas as pd
import pytest

from helpers import DATA, run_cli
from mlem_bench.errors import SpecError
from mlem_bench.files import atomic_write, read_sealed
from mlem_bench.sweep.driver import run_sweep
from mlem_bench.sweep.spec import Case, load_case, parse_case

TINY = DATA / "tiny-ou.toml"
FAST = {"n_paths = 200": "n_paths = 40", "pilot_paths = 100": "pilot_paths = 40",
        "eps = [0.05, 0.025, 0.0125, 0.00625]": "eps = [0.05, 0.025]"}


def spec(tmp_path, name="good", **replace):
    """A fast variant of tiny-ou.toml (2 targets, 40 paths) named `name`, with text replaced."""
    text = TINY.read_text().replace('name = "tiny-ou"', f"name = {json.dumps(name)}")
    for old, new in {**FAST, **replace}.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{abs(hash(name)) % 10**8}-{len(list(tmp_path.glob('*.toml')))}.toml"
    path.write_text(text)
    return path


def one_line_error(r, needle):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr, r.stderr


def files_under(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


# 1. Case names are names ------------------------------------------------------------

@pytest.mark.parametrize("name", ["/abs/dir/x", "../../escaped", "a/b", ".hidden", "x" * 101, "sp ace", "é"])
def test_path_like_case_names_are_refused(tmp_path, name):
    out = tmp_path / "out"
    r = run_cli(["run", str(spec(tmp_path, name)), "--out", str(out)])
    one_line_error(r, "name must be 1 to 100 characters")
    assert not out.exists() and files_under(tmp_path) == sorted(tmp_path.glob("*.toml"))


def test_python_built_case_name_is_checked():
    good = load_case(TINY)
    with pytest.raises(SpecError, match="case name must be"):
        Case("../x", good.problem, good.ladder, good.sweep)
    good.name = "a/b"                     # changed after construction: run_sweep checks again
    with pytest.raises(SpecError, match="case name must be"):
        run_sweep([good], "/nonexistent/never-made", progress=False)


def test_same_name_other_spec_never_reuses_cells(tmp_path):
    out = tmp_path / "out"
    run_sweep([load_case(spec(tmp_path, "c"))], out, progress=False)
    other = load_case(spec(tmp_path, "c", **{"n_paths = 40": "n_paths = 48"}))
    with pytest.raises(SpecError, match="different spec for case 'c'"):
        run_sweep([other], out, resume=True, progress=False)
    # and a folder of its own computes it afresh: the stem carries the case's content digest
    run_sweep([other], tmp_path / "out2", progress=False)
    assert set(pd.read_csv(tmp_path / "out2" / "results.csv").n_paths) == {48}
    assert not {p.name for p in (out / "cells").iterdir()} & {p.name for p in (tmp_path / "out2" / "cells").iterdir()}


# 2. Failure isolation -----------------------------------------------------------------

def test_exploding_case_beside_a_good_one(tmp_path):
    good, boom = spec(tmp_path, "good"), spec(tmp_path, "boom", **{"theta = 1.0": "theta = -50.0"})
    out = tmp_path / "out"
    r = run_cli(["run", str(good), str(boom), "--out", str(out), "--quiet"])
    assert r.returncode == 3, r.stderr
    lines = [x for x in r.stderr.splitlines() if "case boom failed" in x]
    assert len(lines) == 1 and "exact solution grows like e^{50}" in lines[0] and "no step count helps" in lines[0]
    assert "use at least" not in lines[0] and "Traceback" not in r.stderr
    # the good case's tables and report are written; the failure is in failed.csv
    res = pd.read_csv(out / "results.csv")
    assert set(res.case) == {"good"} and (out / "report.md").exists() and "good" in (out / "report.md").read_text()
    failed = pd.read_csv(out / "failed.csv")
    assert list(failed.case) == ["boom"] and list(failed.stage) == ["plan"]
    # --resume retries only the failure: the good cells are untouched
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    r = run_cli(["run", str(good), str(boom), "--out", str(out), "--quiet", "--resume"])
    assert r.returncode == 3 and {p: p.stat().st_mtime_ns for p in (out / "cells").iterdir()} == stamps
    # a subset of the sweep's specs resumes without the other
    r = run_cli(["run", str(good), "--out", str(out), "--quiet", "--resume"])
    assert r.returncode == 0, r.stderr
    assert {p: p.stat().st_mtime_ns for p in (out / "cells").iterdir()} == stamps
    assert set(pd.read_csv(out / "results.csv").case) == {"good"}


def test_step_size_explosion_advises_more_steps(tmp_path):
    # stable exact solution (theta = 300 > 0), but Euler-Maruyama on few steps is unstable
    case = load_case(spec(tmp_path, "stiff", **{"theta = 1.0": "theta = 300.0"}))
    from mlem_bench.sweep.failures import explosion_advice
    from mlem_bench.errors import PathExplosionError
    advice = explosion_advice(case, PathExplosionError("x", "em", 0, 16), case.sweep.seed)
    assert "step is too large" in advice and "use at least 256 steps" in advice
    # a growing exact solution is named as such
    grow = load_case(spec(tmp_path, "grow", **{"theta = 1.0": "theta = -50.0"}))
    assert "no step count helps" in explosion_advice(grow, PathExplosionError("x", "em", 0, 16), 0)


# 3. Damaged folders ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finished")
    path = spec(tmp, "dmg")
    out = tmp / "out"
    run_sweep([load_case(path)], out, progress=False)
    return path, out


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"", lambda b: b"\xff\xfe\x00binary",
                                    lambda b: b"{}",
                                    lambda b: json.dumps({"digest": "0", "payload": {}}).encode()])
def test_damaged_cell_is_named_and_recomputed(finished, tmp_path, damage):
    import shutil
    path, src = finished
    out = tmp_path / "out"
    shutil.copytree(src, out)
    cell = sorted((out / "cells").iterdir())[1]
    cell.write_bytes(damage(cell.read_bytes()))
    r = run_cli(["run", str(path), "--out", str(out), "--quiet", "--resume"])
    assert r.returncode == 0, r.stderr
    assert f"{cell} is damaged" in r.stderr and "recomputing it" in r.stderr and "Traceback" not in r.stderr
    read_sealed(cell)                                  # recomputed and valid again
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv").drop(columns="wall_s"),
                                  pd.read_csv(src / "results.csv").drop(columns="wall_s"), check_exact=True)


def test_damaged_cell_kept_fails_its_case_and_is_not_rendered(finished, tmp_path):
    import shutil
    path, src = finished
    out = tmp_path / "out"
    shutil.copytree(src, out)
    cell = sorted((out / "cells").iterdir())[0]
    cell.write_text("{}")
    r = run_cli(["run", str(path), "--out", str(out), "--quiet", "--resume", "--keep-damaged"])
    assert r.returncode == 3 and "kept (--keep-damaged)" in r.stderr and cell.read_text() == "{}"
    assert pd.read_csv(out / "results.csv").empty           # nothing rendered from an invalid cell
    assert list(pd.read_csv(out / "failed.csv").case) == ["dmg"]


def test_damaged_plan_and_manifest(finished, tmp_path):
    import shutil
    path, src = finished
    out = tmp_path / "out"
    shutil.copytree(src, out)
    [plan] = (out / "plans").iterdir()
    plan.write_bytes(b"\x00" * 10)
    r = run_cli(["run", str(path), "--out", str(out), "--quiet", "--resume"])
    assert r.returncode == 0 and f"{plan} is damaged" in r.stderr and "recomputing it" in r.stderr
    (out / "sweep.json").write_text('{"format": 3')
    r = run_cli(["run", str(path), "--out", str(out), "--quiet", "--resume"])
    one_line_error(r, "sweep.json is damaged")
    assert "move it away and rerun with --resume" in r.stderr
    (out / "sweep.json").unlink()                      # the fix it names
    r = run_cli(["run", str(path), "--out", str(out), "--quiet", "--resume"])
    assert r.returncode == 0, r.stderr


def test_garbage_parquet_under_report(finished, tmp_path):
    import shutil
    _, src = finished
    out = tmp_path / "out"
    shutil.copytree(src, out)
    (out / "results.parquet").write_bytes(b"garbage" * 10)
    one_line_error(run_cli(["report", str(out)]), "results.parquet is damaged")


# 4. Folder and file mistakes ---------------------------------------------------------------

def test_out_is_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    one_line_error(run_cli(["run", str(spec(tmp_path)), "--out", str(f)]), "is a file, not a folder")
    one_line_error(run_cli(["run", str(spec(tmp_path)), "--out", str(f / "sub")]), "is a file, so no folder")


def test_read_only_out(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:      # root writes anywhere: make the permission check see what a user would
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if os.fspath(p) == os.fspath(ro) else real(p, m))
    one_line_error(run_cli(["run", str(spec(tmp_path)), "--out", str(ro / "out")]), "is not writable")
    one_line_error(run_cli(["run", str(spec(tmp_path)), "--out", str(ro)]), "is not writable")


def test_spec_file_mistakes(tmp_path):
    out = str(tmp_path / "out")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"name = \"x\"\n\xff\xfe\x00\x01")
    one_line_error(run_cli(["run", str(binary), "--out", out]), "not UTF-8 text")
    one_line_error(run_cli(["run", str(tmp_path), "--out", out]), "is a folder, not a spec file")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seed,ok", [(2**63 - 1, False), (-1, False), (2**63 - 1 - 10_000_000, True)])
def test_seed_range(tmp_path, seed, ok):
    path = spec(tmp_path, **{"seed = 3": f"seed = {seed}"})
    if ok:
        assert load_case(path).sweep.seed == seed
    else:
        r = run_cli(["run", str(path), "--out", str(tmp_path / "out")])
        one_line_error(r, "[sweep].seed must be in 0..")
        assert not (tmp_path / "out").exists()


def test_largest_seed_runs(tmp_path):
    # the documented upper end works through the whole sweep (no OverflowError in the kernels)
    path = spec(tmp_path, **{"seed = 3": f"seed = {2**63 - 1 - 10_000_000}"})
    tables = run_sweep([load_case(path)], tmp_path / "out", progress=False)
    assert len(tables["results"]) > 0 and tables["failed"].empty


# 5. Memory guard ------------------------------------------------------------------------------

def test_memory_guard_refuses_before_any_work(tmp_path):
    out = tmp_path / "out"
    big = spec(tmp_path, **{"n_paths = 40": "n_paths = 4000000000"})
    r = run_cli(["run", str(big), "--out", str(out)])
    one_line_error(r, "would need about")
    assert "over the limit" in r.stderr and "--max-memory" in r.stderr and not out.exists()
    r = run_cli(["run", str(spec(tmp_path)), "--out", str(out), "--max-memory", "10K"])
    one_line_error(r, "over the limit 0.00977 MiB (--max-memory)")
    assert not out.exists()


# 6. Smaller findings ----------------------------------------------------------------------------

def test_two_paths_run(tmp_path):
    path = spec(tmp_path, **{"n_paths = 40": "n_paths = 2"})
    case = load_case(path)
    assert case.sweep.batches == 2
    tables = run_sweep([case], tmp_path / "out", progress=False)
    assert len(tables["results"]) > 0 and set(tables["results"].n_paths) == {2}


def test_auto_batches_unchanged_from_four_paths():
    good = load_case(TINY)
    from mlem_bench.sweep.spec import Sweep
    assert [Sweep(eps=[0.1], n_paths=n).batches for n in (2, 3, 4, 5, 20, 21, 200)] == [2, 2, 2, 2, 10, 10, 10]
    assert good.sweep.batches == 10


@pytest.mark.parametrize("field,value", [("theta", [[1.0, 0.0], [0.0]]), ("x0", [1.0, [2.0]]),
                                         ("x0", [1.0, "a"]), ("theta", [[[1.0]]])])
def test_ragged_ou_arrays_name_the_field(field, value):
    doc = {"name": "r", "problem": {"family": "ou", "dim": 2, field: value},
           "ladder": {"gamma": 2.5}, "sweep": {"eps": [0.1], "n_paths": 10}}
    with pytest.raises(SpecError, match=rf"case.toml: field \[problem\].{field}"):
        parse_case(doc, "case.toml")


@pytest.mark.parametrize("field,value", [("means", [[-1.0, 0.5], [1.0]]), ("weights", [0.3, [0.7]])])
def test_ragged_gmm_arrays_name_the_field(field, value):
    doc = {"name": "r", "problem": {"family": "gmm-sde", "dim": 2, "weights": [0.3, 0.7],
                                    "means": [[-1.0, 0.5], [1.0, -0.5]], "variances": [0.3, 0.5], field: value},
           "ladder": {"gamma": 2.5}, "sweep": {"eps": [0.1], "n_paths": 10}}
    with pytest.raises(SpecError, match=rf"field \[problem\].{field} is ragged"):
        parse_case(doc, "case.toml")


def test_second_run_on_a_locked_folder_exits_at_once(tmp_path):
    from filelock import FileLock
    out = tmp_path / "out"
    out.mkdir()
    with FileLock(str(out / ".lock")):
        r = run_cli(["run", str(spec(tmp_path)), "--out", str(out), "--resume"])
    one_line_error(r, "is in use by another mlem-bench run")
    assert "--wait" in r.stderr and not (out / "sweep.json").exists()
    # --wait queues behind the holder and runs once it lets go
    import threading
    held, release = threading.Event(), threading.Event()

    def holder():
        with FileLock(str(out / ".lock")):
            held.set()
            release.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(30)
    threading.Timer(1.0, release.set).start()
    r = run_cli(["run", str(spec(tmp_path)), "--out", str(out), "--resume", "--wait", "--quiet"])
    t.join()
    assert r.returncode == 0, r.stderr
    assert (out / "results.csv").exists()


def test_stale_tmp_removed_and_umask_kept(finished, tmp_path):
    import shutil
    path, src = finished
    out = tmp_path / "out"
    shutil.copytree(src, out)
    stale = [out / ".results.csv.abc123.tmp", out / "cells" / ".x.json.def456.tmp"]
    for s in stale:
        s.write_bytes(b"")
    r = run_cli(["run", str(path), "--out", str(out), "--quiet", "--resume"])
    assert r.returncode == 0 and not any(s.exists() for s in stale)
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "m.txt", lambda p: open(p, "w").write("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.txt").stat().st_mode) == 0o640
    # the sweep's files get the umask's mode (0644 under 022), not mkstemp's 0600
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((src / "results.csv").stat().st_mode) == 0o666 & ~mask
