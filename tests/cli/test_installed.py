"""The package as a user installs it: a wheel (not editable) in a fresh virtual environment,
its `mlem-bench run` started in an empty folder. A learned case whose family is missing is
trained first, beside the sweep of the other case; the tables equal those of a run that
finds the family already trained (every column of results.csv but wall_s). The trained
families of the default suite are in the wheel, and its specs read them from there."""
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from helpers import DATA, ROOT, SUITE, run_cli, write_spec
from mlem_bench.cli import load_cases

pytest.importorskip("torch", reason="learned ladders need the 'learned' extra (torch==2.13.0)")

pytestmark = pytest.mark.slow   # started first under xdist (conftest.SLOW_FIRST)


def write_specs(folder, models):
    """tiny-ou and tiny-learned (checkpoints in `models`) as spec files in `folder`."""
    ou = folder / "tiny-ou.toml"
    ou.write_text((DATA / "tiny-ou.toml").read_text())
    doc = tomllib.loads((DATA / "tiny-learned.toml").read_text())
    doc["ladder"]["checkpoints"] = str(models)
    learned = folder / "tiny-learned.toml"
    write_spec(learned, doc)
    return [str(ou), str(learned)]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """bin/ of a fresh virtual environment holding the wheel of this checkout; its other
    dependencies are read from the project's environment (a .pth line), not reinstalled."""
    tmp = tmp_path_factory.mktemp("installed")
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(ROOT)], check=True, capture_output=True, timeout=600)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=600)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(dist.glob("mlem_bench-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=600)
    return venv / "bin"


def test_installed_run_trains_the_missing_family_beside_the_sweep_and_reads_the_shipped_ones(installed, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    # the wheel, not the checkout; and its package data holds the default suite's trained
    # families, which its learned specs read in a folder without models/, byte for byte the
    # checkout's (LearnedLadder.digest hashes family.json and every checkpoint)
    specs = [SUITE / "gmm-sde-2d-exact-finest.toml", SUITE / "gmm-sde-2d-learned.toml"]
    script = ("import mlem_bench\nfrom mlem_bench.cli import SUITE, load_cases\nprint(mlem_bench.__file__)\n"
              f"for c in load_cases([SUITE / {specs[0].name!r}, SUITE / {specs[1].name!r}]):\n"
              "    print(c.ladder.path, c.ladder.digest())\n")
    where, *families = subprocess.run([str(installed / "python"), "-c", script], cwd=work, capture_output=True,
                                      text=True, check=True).stdout.split()
    assert where.startswith(str(installed.parent)), where
    assert [Path(p).name for p in families[0::2]] == ["gmm-sde-2d-exact", "gmm-sde-2d-learned"], families
    assert all(p.startswith(str(installed.parent)) for p in families[0::2]), families
    assert families[1::2] == [c.ladder.digest() for c in load_cases(specs)], families
    specs = write_specs(work, work / "models" / "tiny-learned")
    r = subprocess.run([str(installed / "mlem-bench"), "run", *specs, "--out", "out"], cwd=work,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "training the learned families of tiny-learned.toml" in r.stdout
    assert "level 3 (width 32): trained in" in r.stdout
    assert (work / "models" / "tiny-learned" / "family.json").is_file()
    assert (work / "out" / "report.md").is_file()
    overlapped = pd.read_csv(work / "out" / "results.csv")
    assert set(overlapped.case) == {"tiny-ou", "tiny-learned"}
    # the same specs again: the family is there now, so nothing is trained and one sweep runs
    again = run_cli(["run", *specs, "--out", str(tmp_path / "sequential"), "--quiet"])
    assert again.returncode == 0, again.stderr
    assert "training" not in again.stdout
    sequential = pd.read_csv(tmp_path / "sequential" / "results.csv")
    pd.testing.assert_frame_equal(overlapped.drop(columns="wall_s"), sequential.drop(columns="wall_s"),
                                  check_exact=True)

