"""Instruction counts of ML-EM against EM per drift evaluation (callgrind).

Wall-clock timings on a shared machine cannot resolve a 10% difference between two
large timings; instruction counts can: they are exact and do not depend on load.
Compilation runs uninstrumented; each measured solve is bracketed by callgrind
client requests (a 10-line C shim compiled here with the system C compiler).

    python tools/count_instructions.py            # re-runs itself under valgrind

Needs valgrind (with its callgrind.h) and a C compiler. One thread, so counts are exact.
"""
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# this checkout's package, not whichever mlem_bench the environment has installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHIM = r"""
#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void stop(const char *name) { CALLGRIND_DUMP_STATS_AT(name); CALLGRIND_STOP_INSTRUMENTATION; }
"""


def _shim(folder):
    src, lib = Path(folder) / "shim.c", Path(folder) / "shim.so"
    src.write_text(SHIM)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return ctypes.CDLL(str(lib))


def measure(shim, n_paths=2000, n_steps=64, level=6):
    import numpy as np

    from mlem_bench.ladders.synthetic import SyntheticLadder
    from mlem_bench.problems import OrnsteinUhlenbeck
    from mlem_bench.numerics.solve import solve
    p = OrnsteinUhlenbeck(2)
    lad = SyntheticLadder(gamma=2.5, levels=level, eps1=1.0)
    probs = np.full(level + 1, 0.3)
    runs = {"em": dict(), "mlem": dict(probs=probs), "noise": dict()}
    evals = {}
    for m, kw in runs.items():            # compile (uninstrumented) and count evaluations
        evals[m] = int(solve(p, lad, m, level, n_steps, n_paths, 0, **kw).evals.sum())
    for m, kw in runs.items():
        shim.start()
        solve(p, lad, m, level, n_steps, n_paths, 0, **kw)
        shim.stop(m.encode())
    return evals, n_paths * n_steps


def main():
    if "--inside" not in sys.argv:
        if not shutil.which("valgrind"):
            sys.exit("count_instructions: needs valgrind (apt-get install valgrind)")
        out = Path(tempfile.mkdtemp(prefix="callgrind-"))
        env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.%p",
               sys.executable, __file__, "--inside", str(out)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr[-3000:])
        counts = {}
        for f in out.glob("cg.*"):
            text = f.read_text(errors="replace")
            trig = re.search(r"^desc: Trigger: Client Request: (\w+)", text, re.M)
            tot = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
            if trig and tot:
                counts[trig.group(1)] = int(tot.group(1))
        evals = dict(line.split("=") for line in r.stdout.split() if "=" in line)
        steps = int(evals.pop("path_steps"))
        ev = {k: int(v) for k, v in evals.items()}
        per = {m: (counts[m] - counts["noise"]) / ev[m] for m in ("em", "mlem")}
        print(f"instructions (one thread): em {counts['em']:,}  mlem {counts['mlem']:,}  noise {counts['noise']:,}")
        print(f"drift evaluations: em {ev['em']:,}  mlem {ev['mlem']:,}  ({steps:,} path-steps)")
        print(f"beyond the noise floor, per evaluation: em {per['em']:.1f}  mlem {per['mlem']:.1f}  "
              f"overhead {per['mlem'] / per['em'] - 1:+.1%}")
        print(f"whole run, per evaluation: em {counts['em'] / ev['em']:.1f}  mlem {counts['mlem'] / ev['mlem']:.1f}  "
              f"overhead {(counts['mlem'] / ev['mlem']) / (counts['em'] / ev['em']) - 1:+.1%}")
        return
    evals, steps = measure(_shim(sys.argv[sys.argv.index("--inside") + 1]))
    print(" ".join(f"{k}={v}" for k, v in evals.items()), f"path_steps={steps}")


if __name__ == "__main__":
    main()
