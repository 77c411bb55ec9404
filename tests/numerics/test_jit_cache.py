"""The on-disk kernel cache: a second process loads instead of compiling, and a change to
any source of the package (here an inlined helper in another file than the kernel's, which
Numba's own cache would not notice) compiles afresh and gives the changed result."""
import json
import os
import shutil
import subprocess
import sys

from helpers import DATA, ROOT

PROBE = DATA / "cache_probe.py"


def probe(package_root, cache):
    env = {**os.environ, "PYTHONPATH": str(package_root), "MLEM_BENCH_CACHE_DIR": str(cache)}
    r = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, env=env, cwd=package_root,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_second_process_loads_and_a_changed_helper_recompiles(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "mlem_bench", copy / "mlem_bench", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    first = probe(copy, cache)
    assert first["file"].startswith(str(copy))                     # the copy, not the checkout
    assert (first["misses"], first["hits"]) == (1, 0)
    second = probe(copy, cache)
    assert (second["misses"], second["hits"]) == (0, 1) and second["value"] == first["value"]
    # double the perturbation in synthetic_level_drift (numerics/drift.py, inlined into the kernel)
    drift = copy / "mlem_bench" / "numerics" / "drift.py"
    text = drift.read_text()
    assert text.count("    e = eps[level]\n") == 1
    drift.write_text(text.replace("    e = eps[level]\n", "    e = 2.0 * eps[level]\n"))
    third = probe(copy, cache)
    assert (third["misses"], third["hits"]) == (1, 0)
    assert third["value"] != first["value"]
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2      # one folder per source digest
