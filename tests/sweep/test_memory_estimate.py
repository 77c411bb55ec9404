"""The memory guard's estimate of a solve (`sweep.resources.solve_bytes`) against the peak
memory the solve really reaches, in a fresh process with two Numba threads: EM on OU 2-D,
2^18 steps, 128 paths (two lock-step blocks, each thread holding one block's Brownian path,
about 0.5 GB). Measured here: 1.043 GB against an estimate of 1.074 GB. The bounds 0.8-1.25
leave room for the allocator and the resident-size measurement (the peak VmHWM, in pages)
and fail for an estimate off by a third; the guard's earlier model (3 n_steps d doubles per
thread) estimated 25 MB, 40x too little."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import DATA

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmHWM from /proc (Linux)")


def test_solve_estimate_matches_the_measured_peak():
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, str(DATA / "memory_probe.py")], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert 0.8 <= got["measured"] / got["estimate"] <= 1.25, got
