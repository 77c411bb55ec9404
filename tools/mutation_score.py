"""Per-module mutation score of the last `mutmut run` (`make mutate`; docs/testing.md,
"Mutation testing").

Reads mutmut's result files (mutants/**/*.py.meta) and the equivalent mutants listed in
docs/testing.md (lines "- `NAME`: reason"), and prints one row per module: killed, survived,
equivalent, timeout, other (no tests, suspicious, not run) and score = killed / (mutants -
equivalent). Exit status 1 when a listed equivalent was killed (the list is stale).
"""
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = re.compile(r"^- `([\w.ǁ]+__mutmut_\d+)`")
STATUS = {1: "killed", 3: "killed", 0: "survived", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout"}


def equivalents(doc=ROOT / "docs" / "testing.md"):
    """Names of the mutants docs/testing.md lists as equivalent."""
    return {m.group(1) for line in doc.read_text().splitlines() if (m := EQUIVALENT.match(line.strip()))}


def main():
    eq = equivalents()
    rows, stale = {}, []
    for meta in sorted((ROOT / "mutants" / "mlem_bench").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        c = Counter()
        for name, code in codes.items():
            status = STATUS.get(code, "other")
            if name in eq:
                stale += [name] if status == "killed" else []
                status = "equivalent"
            c[status] += 1
        rows[meta.relative_to(ROOT / "mutants").as_posix().removesuffix(".meta")] = c
    if not rows:
        sys.exit("no mutmut results under mutants/: run `make mutate` first")
    cols = ["killed", "survived", "equivalent", "timeout", "other"]
    print(f"{'module':36s} " + " ".join(f"{k:>10s}" for k in cols) + "      score")
    total = Counter()
    for module, c in list(rows.items()) + [("total", None)]:
        c = total if c is None else c
        if module != "total":
            total.update(c)
        scored = sum(c.values()) - c["equivalent"]
        score = c["killed"] / scored if scored else float("nan")
        print(f"{module:36s} " + " ".join(f"{c[k]:10d}" for k in cols) + f"  {score:9.1%}")
    if stale:
        print("listed as equivalent but killed (remove from docs/testing.md):", *stale, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
