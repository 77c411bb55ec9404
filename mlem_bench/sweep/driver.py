"""The sweep driver: a sweep folder, its manifest, and every task persisted as it finishes.

A sweep runs one plan per (case, replicate), then one cell per (case, replicate,
configuration, seed) (see `tasks`). The driver writes each finished task atomically and
sealed with a content digest (``plans/<stem>--r<replicate>.json``,
``cells/<stem>--r<replicate>--c<i>--s<seed>.json``, where the stem is the case's name and a
digest of its description, so a cell of another spec is never reused) as soon as it
completes, so an interrupted sweep resumes without recomputing or duplicating anything.
Every stored file is checked on read; a damaged one is named and recomputed. A case one of
whose replicates has paths that explode or a tuner that fails is recorded as failed
(`failures`; the whole case, since its replicated evidence needs every replicate) while
the others finish. The tables are written at the end (`tables`), and rendering the report
is a separate step (`mlem_bench.report.render`). One run at a time holds a folder (a file
lock).
"""
import contextlib
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

from ..version import VERSION
from ..errors import DamagedFileError, SpecError
from ..files import digest_of, read_sealed, remove_stale_temporaries, write_json, write_sealed
from ..progress import Progress
from ..ladders.learned import LearnedLadder
from .executors import InProcess
from .failures import FAILED, is_failure, run_task
from .resources import check_memory, default_limit
from .spec import check_case_name, parse_case
from .tables import row_problem, sweep_tables, write_tables
from .tasks import CaseTask, PlannedConfig, plan_case, replicate_case, run_cell

FORMAT = 4                 # layout of sweep.json, plans and cells; bump when it changes
LOCK_NAME = ".lock"        # the folder's lock file (held while a run writes the folder)
MANIFEST_KEYS = {"format", "version", "code", "cases", "fingerprint"}
PLAN_KEYS = {"case": str, "replicate": int, "sweep_seed": int, "ladder_seed": int, "pilot_cost": float,
             "model": dict, "configs": list, "ref_steps": int, "levels": list, "level_config": dict,
             "floors": dict, "learned": list, "skipped": list}
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


def manifest(descriptions):
    """What identifies a sweep: format, package version and source, and its cases'
    descriptions; `fingerprint` is the digest of the rest (checked on read)."""
    m = {"format": FORMAT, "version": VERSION, "code": code_hash(), "cases": list(descriptions)}
    m["fingerprint"] = digest_of(m)[:16]
    return m


def read_manifest(path):
    """The sweep.json at `path`, checked (JSON, keys, fingerprint); DamagedFileError with the fix."""
    fix = (f"; move it away and rerun with --resume and the sweep's specs: it is rebuilt from them, and every "
           f"stored cell is checked against its case's digest")
    try:
        m = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DamagedFileError(path, f"unreadable ({type(e).__name__}){fix}") from None
    if not isinstance(m, dict) or set(m) != MANIFEST_KEYS or not isinstance(m["cases"], list) \
            or not all(isinstance(d, dict) and isinstance(d.get("name"), str) for d in m["cases"]):
        if isinstance(m, dict) and m.get("format") != FORMAT:
            return m                            # an older layout: open_sweep names it
        raise DamagedFileError(path, f"not a sweep manifest (keys {sorted(m) if isinstance(m, dict) else '?'}){fix}")
    if m["fingerprint"] != digest_of({k: v for k, v in m.items() if k != "fingerprint"})[:16]:
        raise DamagedFileError(path, f"its content does not match its fingerprint (edited or partly written){fix}")
    return m


def check_out(out):
    """--out as a folder this run can use, or SpecError (one line) before any work:
    not a file, inside a writable folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {out} is a file, not a folder; choose a new or empty folder (or a sweep's, with --resume)")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise SpecError(f"--out {out}: {probe} is a file, so no folder can be made there; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SpecError(f"--out {out}: {probe} is not writable; choose a folder you can write to")
    return out


def entries(out):
    """What a folder holds besides its lock file."""
    return [p for p in out.iterdir() if p.name != LOCK_NAME] if out.is_dir() else []


@contextlib.contextmanager
def sweep_lock(out, wait=False):
    """Hold out/.lock while the body runs: a second run on the folder exits at once with a
    one-line SpecError (or, with wait, waits its turn). Stale temporary files of a killed
    write are removed once the lock is held."""
    from filelock import FileLock, Timeout
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpecError(f"--out {out}: cannot create the folder ({e.strerror or e}); choose another --out") from None
    lock = FileLock(str(out / LOCK_NAME))
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        raise SpecError(f"{out} is in use by another mlem-bench run (it holds {out / LOCK_NAME}); let it finish, "
                        f"or pass --wait to start when it does") from None
    except OSError as e:
        raise SpecError(f"--out {out}: cannot create its lock file ({e.strerror or e}); choose a writable --out") from None
    try:
        for sub in (out, out / "plans", out / "cells"):
            remove_stale_temporaries(sub)
        yield
    finally:
        lock.release()


def open_sweep(out, cases, resume):
    """Create out/sweep.json, or check that out holds a sweep compatible with `cases` when
    resuming; returns the manifest's case descriptions (those of `cases` added).

    Each given case is compared with the stored case of the same name, so any subset of
    a sweep's cases can be resumed; a new case is added. Refuses (SpecError, nothing
    written) a case of the same name but another description, another code, and
    overwriting a sweep without --resume.
    """
    out = Path(out)
    new = [describe(c) for c in cases]
    path = out / "sweep.json"
    if path.exists():
        old = read_manifest(path)
        if (old.get("format"), old.get("version"), old.get("code")) != (FORMAT, VERSION, code_hash()):
            raise SpecError(f"{out} holds a sweep of a different mlem_bench code (format {old.get('format')}, version "
                            f"{old.get('version')}, code {old.get('code')}); nothing was changed. Use another --out, "
                            f"or delete {out} to start over")
        stored = {d["name"]: d for d in old["cases"]}
        for d in new:
            if d["name"] in stored and stored[d["name"]] != d:
                raise SpecError(f"{out} holds a sweep of a different spec for case {d['name']!r} (its stored "
                                f"description differs from the given one); nothing was changed. Use another --out, "
                                f"rename the case, or delete {out} to start over")
        if not resume:
            raise SpecError(f"{out} already holds this sweep; pass --resume to continue it (finished cells are kept) "
                            f"or choose another --out")
        merged = old["cases"] + [d for d in new if d["name"] not in stored]
        if merged != old["cases"]:
            write_json(path, manifest(merged))
    else:
        if entries(out) and not (resume and (out / "cells").is_dir() and (out / "plans").is_dir()):
            raise SpecError(f"{out} is not empty and holds no sweep.json; choose an empty or new --out"
                            + ("" if resume else " (or pass --resume to rebuild the manifest of a sweep folder)"))
        merged = new
        (out / "plans").mkdir(exist_ok=True)
        (out / "cells").mkdir(exist_ok=True)
        write_json(path, manifest(merged))
    (out / "plans").mkdir(exist_ok=True)
    (out / "cells").mkdir(exist_ok=True)
    return merged


def case_stem(case):
    """File stem of a case: its (safe) name and a digest of its content."""
    return f"{case.name}--{case_key(case)[:12]}"


def replicate_stem(case, replicate):
    """File stem of a replicate's plan and cells: the case's stem and the replicate."""
    return f"{case_stem(case)}--r{replicate:02d}"


def cell_id(stem, index, seed):
    """File stem of a cell: replicate stem, configuration index in the plan, seed."""
    return f"{stem}--c{index:03d}--s{seed}"


def plan_problem(plan, case, replicate):
    """None when `plan` is a complete plan of replicate `replicate` of `case`, else what is
    wrong with it."""
    if not isinstance(plan, dict) or set(plan) != set(PLAN_KEYS):
        return f"not a plan (keys {sorted(plan) if isinstance(plan, dict) else type(plan).__name__})"
    bad = [k for k, t in PLAN_KEYS.items() if not isinstance(plan[k], t) or isinstance(plan[k], bool)]
    if bad:
        return f"field {bad[0]!r} has the wrong type"
    if (plan["case"], plan["replicate"]) != (case.name, replicate):
        return f"a plan of case {plan['case']!r} replicate {plan['replicate']}, not {case.name!r} replicate {replicate}"
    want = {f.name for f in fields(PlannedConfig)}
    if not plan["configs"] or not all(isinstance(c, dict) and set(c) == want for c in plan["configs"]):
        return "its configurations are incomplete"
    return None


def cell_problem(row, case, replicate, index, seed):
    """None when `row` is the complete results row of (case, replicate, configuration, seed)."""
    why = row_problem(row)
    if why is None and (row["case"], row["replicate"], row["config"], row["seed"]) != (case.name, replicate, index,
                                                                                        seed):
        why = (f"a row of ({row['case']}, replicate {row['replicate']}, config {row['config']}, seed {row['seed']}), "
               f"not of this file's task")
    return why


def stored_cases(descriptions, given):
    """Cases of the folder's manifest not among `given` that can be rebuilt from their
    stored documents (a Python-built case cannot), to tabulate them without recomputing."""
    names = {c.name for c in given}
    out = []
    for d in descriptions:
        if d["name"] in names or d.get("python"):
            continue
        doc = {k: v for k, v in d.items() if k != "models"}
        try:
            c = parse_case(doc, f"sweep.json case {d['name']}")
            if describe(c) == d:
                out.append(c)
        except (SpecError, OSError):
            continue
    return out


def run_sweep(cases, out, executor=None, resume=False, progress=True, on_saved=None, max_memory=None, wait=False,
              keep_damaged=False, log=None):
    """Run (or resume) the sweep of `cases` into folder `out` and write its tables.

    Parameters
    ----------
    cases : list of Case (from `spec.load_case`, or built in Python)
    out : folder; gets sweep.json, plans/, cells/ and, at the end, the tables
    executor : executors.InProcess (default) or executors.DaskExecutor
    resume : continue a sweep already in `out` (any of its cases), keeping finished tasks
    progress : show progress bars on stderr
    on_saved : optional callback(path) after each persisted task (tests use it to interrupt)
    max_memory : bytes a case's plan or cell may need (estimate, `resources`); default half the RAM
    wait : wait for another run holding `out` instead of refusing at once
    keep_damaged : report damaged stored files and leave them (their case fails) instead of recomputing
    log : callback(line) for notes (damaged files, untabulated cases); default stderr

    Returns
    -------
    dict of DataFrames (`tables.sweep_tables`): results, levels, floors, learned, skipped
    and failed (case, stage, reason: the cases that did not finish, none of them in the others)
    """
    log = log or (lambda line: print(f"mlem-bench: {line}", file=sys.stderr))
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"two specs share the case name {dup[0]!r}; names must be unique")
    for c in cases:                       # a Case's name may have been changed since it was built
        why = check_case_name(c.name)
        if why:
            raise SpecError(f"{c.source}: case name {why}")
    out = check_out(out)
    limit = default_limit() if max_memory is None else max_memory
    check_memory(cases, limit)
    if not resume and (out / "sweep.json").exists():
        open_sweep(out, cases, resume)    # refuses before the lock file is made
    if not resume and entries(out) and not (out / "sweep.json").exists():
        raise SpecError(f"{out} is not empty and holds no sweep.json; choose an empty or new --out")
    executor = executor or InProcess()
    t0 = time.perf_counter()
    with sweep_lock(out, wait):
        descriptions = open_sweep(out, cases, resume)
        tables, n_cells = compute(cases, out, executor, progress, on_saved, limit, keep_damaged, log)
        others = stored_cases(descriptions, cases)
        if others:
            tables = tabulate(cases + others, out, tables, keep_damaged, log)
        write_tables(out, tables)
    if progress:
        print(f"sweep of {len(cases)} cases, {n_cells} cells done in {time.perf_counter() - t0:.0f}s "
              f"({executor.name})", file=sys.stderr)
    return tables


def load_stored(path, check, keep_damaged, log, failed, case, stage):
    """The valid payload stored in `path`, or None (missing, or damaged: named in `log`, and
    removed to be recomputed, or with keep_damaged left and its case marked failed)."""
    if not path.exists():
        return None
    try:
        payload = read_sealed(path)
        why = check(payload)
        if why:
            raise DamagedFileError(path, why)
        return payload
    except DamagedFileError as e:
        if keep_damaged:
            log(f"{e}; kept (--keep-damaged), case {case.name} is left out of the tables")
            failed.setdefault(case.name, {"stage": stage, "reason": f"damaged file kept: {e}"})
        else:
            log(f"{e}; recomputing it")
            path.unlink()
        return None


def compute(cases, out, executor, progress, on_saved, limit, keep_damaged, log):
    """Plans then cells of `cases` (what is missing or damaged), failures recorded; returns
    (tables of the cases that finished, number of cells)."""
    tasks_of = {(c.name, r): CaseTask(f"{case_key(c)}-r{r}", replicate_case(c, r), r)
                for c in cases for r in range(c.sweep.replicates)}
    stems = {(c.name, r): replicate_stem(c, r) for c in cases for r in range(c.sweep.replicates)}
    by_name = {c.name: c for c in cases}
    # case name -> {"stage", "reason"}: a failed replicate fails its case (the replicated
    # evidence, a bootstrap over replicates, needs all of them)
    failed = {}

    def persist(todo, path_of, desc, total):
        bar = Progress(total, desc, initial=total - len(todo), enabled=progress and bool(todo))
        case_of = {k: (n, a[2].replicate) for k, a, n in todo}
        try:
            for key, result in executor.map(run_task, [(k, a) for k, a, _ in todo]):
                name, r = case_of[key]
                if is_failure(result):
                    rec = result[FAILED]
                    if by_name[name].sweep.replicates > 1:      # name the replicate that failed
                        rec = {**rec, "reason": f"replicate {r}: {rec['reason']}"}
                    failed.setdefault(name, rec)
                else:
                    write_sealed(path_of(key), result)
                    if on_saved:
                        on_saved(path_of(key))
                bar.update(key)
        finally:
            bar.close()

    plan_path = lambda stem: out / "plans" / f"{stem}.json"       # noqa: E731
    plans, todo = {}, {}
    for (name, r), task in tasks_of.items():
        c = by_name[name]
        check = lambda d, c=c, r=r: plan_problem(d, c, r)      # noqa: E731
        p = load_stored(plan_path(stems[name, r]), check, keep_damaged, log, failed, c, "plan")
        if p is not None:
            plans[name, r] = p
        elif name not in failed:
            todo[name, r] = (stems[name, r], ("plan", plan_case, task), name)
    persist([t for k, t in todo.items() if k[0] not in failed], plan_path, "plans", len(tasks_of))
    for key in tasks_of:
        if key not in plans and key[0] not in failed:
            plans[key] = read_sealed(plan_path(stems[key]))
    for c in cases:
        if c.name in failed:
            continue
        try:
            ref = max(plans[c.name, r]["ref_steps"] for r in range(c.sweep.replicates))
            check_memory([c], limit, {c.name: ref})
        except SpecError as e:
            failed[c.name] = {"stage": "memory", "reason": str(e)}

    cell_path = lambda key: out / "cells" / f"{key}.json"          # noqa: E731
    cells, todo = {}, []
    for (name, r), task in tasks_of.items():
        if name in failed:
            continue
        c, p = by_name[name], plans[name, r]
        for seed in task.case.sweep.seeds:
            for i, cfg in enumerate(p["configs"]):
                key = cell_id(stems[name, r], i, seed)
                cells.setdefault(name, []).append(key)
                check = lambda d, c=c, r=r, i=i, seed=seed: cell_problem(d, c, r, i, seed)     # noqa: E731
                if load_stored(cell_path(key), check, keep_damaged, log, failed, c, "cells") is None \
                        and name not in failed:
                    todo.append((key, ("cell", run_cell, task, cfg, seed, p["ref_steps"]), name))
    todo = [t for t in todo if t[2] not in failed]
    persist(todo, cell_path, "cells", sum(len(v) for v in cells.values()))
    good = [c for c in cases if c.name not in failed]
    rows = [read_sealed(cell_path(k)) for c in good for k in cells[c.name]]
    records = [{"case": n, **r} for n, r in failed.items()]
    return (sweep_tables(rows, {k: p for k, p in plans.items() if k[0] not in failed}, good, records),
            sum(map(len, cells.values())))


def tabulate(cases, out, tables, keep_damaged, log):
    """The tables of `cases` (this run's and the folder's other cases) from stored files
    alone: a case whose plans or cells are incomplete is left out (named in `log`)."""
    failed_now = {r["case"] for r in tables["failed"].to_dict("records")}
    good, plans, rows = [], {}, []
    for c in cases:
        if c.name in failed_now:
            continue
        try:
            case_plans, case_rows = {}, []
            for r in range(c.sweep.replicates):
                stem = replicate_stem(c, r)
                plan = read_sealed(out / "plans" / f"{stem}.json")
                why = plan_problem(plan, c, r)
                if why:
                    raise DamagedFileError(out / "plans" / f"{stem}.json", why)
                case_plans[c.name, r] = plan
                for seed in replicate_case(c, r).sweep.seeds:
                    for i in range(len(plan["configs"])):
                        path = out / "cells" / f"{cell_id(stem, i, seed)}.json"
                        row = read_sealed(path)
                        why = cell_problem(row, c, r, i, seed)
                        if why:
                            raise DamagedFileError(path, why)
                        case_rows.append(row)
        except (DamagedFileError, OSError):
            if c.name in tables["results"]["case"].values:
                raise
            log(f"case {c.name} of {out}/sweep.json was not given and is incomplete; it is not in the tables "
                f"(give its spec with --resume to finish it)")
            continue
        good.append(c)
        plans.update(case_plans)
        rows += case_rows
    return sweep_tables(rows, plans, good, tables["failed"].to_dict("records"))
