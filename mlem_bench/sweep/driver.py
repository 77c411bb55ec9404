"""The sweep driver: a sweep folder, its manifest, and every task persisted as it finishes.

A sweep runs one plan per (case, replicate), then one cell per (case, replicate,
configuration, seed) (see `tasks`). The driver writes each finished task atomically
(``plans/<case>--r<replicate>.json``, ``cells/<id>.json``) as soon as it completes, so an interrupted sweep resumes without
recomputing or duplicating anything; the tables are written at the end (`tables`), and
rendering the report is a separate step (`mlem_bench.report.render`).
"""
import hashlib
import json
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

from ..version import VERSION
from ..errors import PathExplosionError, SpecError, TuningError
from ..files import read_json, write_json
from ..ladders.learned import LearnedLadder
from .executors import InProcess
from .tables import sweep_tables, write_tables
from .tasks import CaseTask, plan_case, replicate_case, run_cell

FORMAT = 3                 # layout of sweep.json, plans and cells; bump when it changes
PACKAGE = Path(__file__).resolve().parent.parent


def describe(case):
    """The case's document, or for a Python-built case what can be said of it in JSON."""
    if case.doc is not None:
        d = case.doc
    else:
        lad = {f.name: getattr(case.ladder, f.name) for f in fields(case.ladder) if f.name != "problem"}
        d = {"name": case.name, "python": True, "problem": {"family": case.problem.family, "dim": case.problem.dim},
             "ladder": lad, "sweep": asdict(case.sweep)}
    if isinstance(case.ladder, LearnedLadder):
        # the trained weights are part of what the results depend on
        d = {**d, "models": case.ladder.digest()}
    return d


def case_key(case):
    """Content key of a case (its description; object identity for a Python-built case,
    whose problem JSON cannot fully describe)."""
    text = json.dumps(describe(case), sort_keys=True, default=str)
    if case.doc is None:
        text += f"@{id(case)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_hash():
    """Hash of the package's source tree (every .py file under mlem_bench/, by relative
    path): results of different code are never mixed."""
    h = hashlib.sha256()
    for f in sorted(PACKAGE.rglob("*.py")):
        h.update(str(f.relative_to(PACKAGE)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def manifest(cases):
    """What identifies a sweep: format, package version and source, and the cases."""
    m = {"format": FORMAT, "version": VERSION, "code": code_hash(), "cases": [describe(c) for c in cases]}
    m["fingerprint"] = hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest()[:16]
    return m


def open_sweep(out, cases, resume):
    """Create out/sweep.json, or check that out holds the same sweep when resuming.

    Refuses (SpecError, nothing written) to mix sweeps of different specs and to
    overwrite a sweep without --resume.
    """
    out = Path(out)
    m = manifest(cases)
    path = out / "sweep.json"
    if path.exists():
        try:
            old = read_json(path)
        except (OSError, json.JSONDecodeError) as e:
            raise SpecError(f"{path}: unreadable ({e}); choose another --out") from None
        if old.get("fingerprint") != m["fingerprint"]:
            old_names = [d.get("name") for d in old.get("cases", [])]
            why = "mlem_bench code" if old.get("cases") == m["cases"] else "spec"
            raise SpecError(f"{out} holds a sweep of a different {why} (cases {old_names}, fingerprint "
                            f"{old.get('fingerprint')} vs {m['fingerprint']}); nothing was changed. "
                            f"Use another --out, or delete {out} to start over")
        if not resume:
            raise SpecError(f"{out} already holds this sweep; pass --resume to continue it (finished cells are kept) "
                            f"or choose another --out")
        (out / "plans").mkdir(exist_ok=True)
        (out / "cells").mkdir(exist_ok=True)
        return m
    if out.exists() and any(out.iterdir()):
        raise SpecError(f"{out} is not empty and holds no sweep.json; choose an empty or new --out")
    (out / "plans").mkdir(parents=True, exist_ok=True)
    (out / "cells").mkdir(exist_ok=True)
    write_json(path, m)
    return m


def plan_id(case, replicate):
    """File stem of a plan: case and replicate."""
    return f"{case}--r{replicate:02d}"


def cell_id(case, replicate, index, seed):
    """File stem of a cell: case, replicate, configuration index in its plan, seed."""
    return f"{case}--r{replicate:02d}--c{index:03d}--s{seed}"


class Progress:
    """A progress bar on stderr (tqdm) with done / total, elapsed and remaining time."""

    def __init__(self, total, done, desc, enabled):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=done, desc=desc, unit="task", file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.05)

    def update(self, note):
        if self.bar is not None:
            self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def guarded(fn, key, *args):
    """fn(*args), an impossible configuration (the spec's fault) turned into a SpecError
    that names the task instead of a deep traceback."""
    try:
        return fn(*args)
    except (PathExplosionError, TuningError) as e:
        raise SpecError(f"case {key.split('--')[0]}, task {key}: {e}") from None


def run_sweep(cases, out, executor=None, resume=False, progress=True, on_saved=None):
    """Run (or resume) the sweep of `cases` into folder `out` and write its tables.

    Parameters
    ----------
    cases : list of Case (from `spec.load_case`, or built in Python)
    out : folder; gets sweep.json, plans/, cells/ and, at the end, the tables
    executor : executors.InProcess (default) or executors.DaskExecutor
    resume : continue a sweep already in `out` (same spec), keeping finished tasks
    progress : show progress bars on stderr
    on_saved : optional callback(path) after each persisted task (tests use it to interrupt)

    Returns
    -------
    dict of DataFrames (`tables.sweep_tables`): results, levels, floors, learned, skipped
    """
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"two specs share the case name {dup[0]!r}; names must be unique")
    out = Path(out)
    open_sweep(out, cases, resume)
    executor = executor or InProcess()
    tasks_of = {(c.name, r): CaseTask(f"{case_key(c)}-r{r}", replicate_case(c, r), r)
                for c in cases for r in range(c.sweep.replicates)}
    t0 = time.perf_counter()

    def persist(tasks, fn, path_of, desc):
        done = sum(path_of(k).exists() for k, _ in tasks)
        todo = [(k, (fn, k) + a) for k, a in tasks if not path_of(k).exists()]
        bar = Progress(len(tasks), done, desc, progress and bool(todo))
        try:
            for key, result in executor.map(guarded, todo):
                write_json(path_of(key), result)
                bar.update(key)
                if on_saved:
                    on_saved(path_of(key))
        finally:
            bar.close()

    plan_path = lambda key: out / "plans" / f"{key}.json"       # noqa: E731
    persist([(plan_id(*k), (t,)) for k, t in tasks_of.items()], plan_case, plan_path, "plans")
    plans = {k: read_json(plan_path(plan_id(*k))) for k in tasks_of}
    cells = []
    for (name, r), task in tasks_of.items():
        p = plans[(name, r)]
        for seed in task.case.sweep.seeds:
            for i, cfg in enumerate(p["configs"]):
                cells.append((cell_id(name, r, i, seed), (task, cfg, seed, p["ref_steps"])))
    cell_path = lambda key: out / "cells" / f"{key}.json"          # noqa: E731
    persist(cells, run_cell, cell_path, "cells")
    rows = [read_json(cell_path(k)) for k, _ in cells]
    tables = sweep_tables(rows, plans, cases)
    write_tables(out, tables)
    if progress:
        print(f"sweep of {len(cases)} cases, {len(cells)} cells done in {time.perf_counter() - t0:.0f}s "
              f"({executor.name})", file=sys.stderr)
    return tables
