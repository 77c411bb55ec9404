"""Sweeps as grids of independent cells, run by an executor, persisted cell by cell.

A sweep has two stages, both made of pure tasks whose results are JSON files:

1. one *plan* per case: the pilot calibration, the ladder diagnostics, and the list of
   configurations every method runs (its knobs x the target errors);
2. one *cell* per (case, configuration, seed): solve, compare with the reference on
   the same Brownian paths, weak errors against the exact law.

Every finished task is written atomically (``plans/<case>.json``, ``cells/<id>.json``)
by the driver as soon as it completes, so an interrupted sweep resumes without
recomputing or duplicating anything. Results do not depend on the executor: a task
depends only on its arguments (the case document, the configuration, the seed).
"""
import contextlib
import hashlib
import json
import logging
import signal
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import __version__
from .diagnostics import level_table
from .learned import LearnedLadder, describe_family
from .methods import ALL_METHODS
from .metrics import batch_means, weak_errors
from .solve import PathExplosionError, solve, strong_error
from .spec import SpecError, parse_case
from .tuning import TuningError, calibrate

FORMAT = 1                 # layout of sweep.json, plans and cells; bump when it changes
EXACT_SEED_OFFSET = 7_777_777   # exact terminal samples for the weak errors (independent of the paths)
FLOOR_SEED_OFFSET = 8_888_888   # further exact samples: the Monte Carlo floor of the weak errors
FLOOR_REPLICATES = 8


# ---------------------------------------------------------------- tasks (run anywhere)

_LIVE = {}   # token -> Case: every case this process has seen


def case_token(case):
    """A string naming a case across processes: its document, or an id for Python-built cases."""
    if case.doc is not None:
        return json.dumps(case.doc, sort_keys=True)
    return f"python:{case.name}:{id(case)}"


def _case(token, case=None):
    # cases from documents are rebuilt from the token (cheap to send); Python-built ones travel pickled
    if token not in _LIVE:
        _LIVE[token] = case if case is not None else parse_case(json.loads(token), json.loads(token)["name"])
    return _LIVE[token]


@lru_cache(maxsize=8)
def _reference(token, seed, ref_steps):
    case = _case(token)
    return case.problem.reference(seed, case.sweep.n_paths, ref_steps)


@lru_cache(maxsize=8)
def _exact(token, seed):
    case = _case(token)
    return case.problem.exact_samples(seed, case.sweep.n_paths)


def _floats(a, digits=None):
    return [float(v) if digits is None else float(f"{v:.{digits}g}") for v in np.asarray(a).ravel()]


def plan_case(token, case=None):
    """Stage 1 for one case: calibrate, configure every method, diagnose the ladder.

    Returns a JSON-ready dict: the error model, the configurations (deduplicated, in a
    fixed order), the reference grid, the ladder table and the weak-error floors.
    """
    case = _case(token, case)
    sw, problem, ladder = case.sweep, case.problem, case.ladder
    model = calibrate(problem, ladder, sw.seed, sw.pilot_paths)
    configs, seen, skipped = [], set(), []
    for name in sw.all_methods:
        n_before = len(configs)
        for eps in sw.eps:
            try:
                tuned = ALL_METHODS[name].configs(model, ladder, eps, sw)
            except TuningError as e:
                # a target below what the ladder's finest level can reach: the method's
                # frontier stops there (recorded); a method with no target at all is an error
                skipped.append({"method": name, "eps_target": float(eps), "why": str(e)})
                continue
            for knob, c in tuned:
                key = (name, c.method, c.level, c.n_steps, tuple(_floats(c.probs[:c.level + 1], 12)),
                       c.share, c.switch_step)
                if key in seen:       # a smaller eps target that lands on the same configuration
                    continue
                seen.add(key)
                configs.append({"method": name, "solver": c.method, "eps_target": float(eps), "knob": knob,
                                "level": c.level, "n_steps": c.n_steps, "probs": _floats(c.probs),
                                "share": c.share, "switch_step": c.switch_step,
                                "pred_cost": c.predicted_cost, "pred_error": c.predicted_error})
        if len(configs) == n_before:
            raise TuningError(f"method {name}: no target eps is reachable; {skipped[-1]['why']}")
    for i, c in enumerate(configs):
        c["config"] = i
    ref_steps = sw.ref_factor * max(c["n_steps"] for c in configs)
    # the ladder table reports the probabilities ML-EM chose at the smallest target error
    ml = [c for c in configs if c["solver"] == "mlem"] or [max(configs, key=lambda c: c["level"])]
    finest = min(ml, key=lambda c: (c["eps_target"], c["pred_cost"]))
    levels = level_table(model, ladder, np.asarray(finest["probs"]), finest["n_steps"], finest["level"])
    floors = {}
    if problem.has_terminal_law:
        # the floor: the same errors for exact samples of the same size, averaged over replicates
        a = _exact(token, sw.seed + EXACT_SEED_OFFSET)
        reps = [weak_errors(problem.exact_samples(sw.seed + FLOOR_SEED_OFFSET + j, sw.n_paths),
                            problem.terminal_mean(), problem.terminal_cov(), a) for j in range(FLOOR_REPLICATES)]
        floors = {k: float(np.mean([r[k] for r in reps])) for k in reps[0]}
    learned = []
    if isinstance(ladder, LearnedLadder):
        # its sizes, costs, times and training-time measurements
        fam = ladder.family
        learned = [{**r, "gamma_train": fam["gamma"], "gamma_train_lo": fam["gamma_lo"],
                    "gamma_train_hi": fam["gamma_hi"], "train_steps": ladder.train_steps, "depth": ladder.depth}
                   for r in describe_family(ladder)]
    return {"case": case.name, "model": model.to_dict(), "configs": configs, "ref_steps": int(ref_steps),
            "levels": levels, "level_config": {"eps_target": finest["eps_target"], "knob": finest["knob"]},
            "floors": floors, "learned": learned, "skipped": skipped}


def run_cell(token, case, config, seed, ref_steps):
    """Stage 2: one configuration of one method under one seed; returns a results row."""
    case = _case(token, case)
    sw, problem, ladder = case.sweep, case.problem, case.ladder
    c = config
    ref = _reference(token, seed, ref_steps)
    sol = solve(problem, ladder, c["solver"], c["level"], c["n_steps"], sw.n_paths, seed,
                probs=np.asarray(c["probs"]), share=c["share"], switch_step=c["switch_step"])
    err, se = strong_error(sol.x, ref.x)
    sq = np.sum((sol.x - ref.x) ** 2, axis=1)
    evals = sol.evals.mean(axis=0)
    row = {"case": case.name, "family": problem.family, "gamma": float(ladder.gamma), "method": c["method"],
           "config": c["config"], "solver": c["solver"], "knob": c["knob"], "eps_target": c["eps_target"], "level": c["level"],
           "n_steps": c["n_steps"], "n_paths": sw.n_paths, "seed": int(seed), "cost": float(sol.cost.mean()),
           "error": err, "error_se": se, "top_evals": float(evals[c["level"]]), "wall_s": sol.wall_s,
           "pred_cost": c["pred_cost"], "pred_error": c["pred_error"], "ref_error": ref.own_error,
           "ref_steps": int(ref_steps), "share": c["share"], "switch_step": c["switch_step"],
           "evals_per_level": json.dumps(_floats(evals[1:c["level"] + 1], 6)),
           "probs": json.dumps(_floats(c["probs"][1:c["level"] + 1], 4)),
           "sq_batches": json.dumps(_floats(batch_means(sq, sw.batches))),
           "cost_batches": json.dumps(_floats(batch_means(sol.cost, sw.batches)))}
    weak = {"mean_err": np.nan, "cov_err": np.nan, "sw2": np.nan}
    if problem.has_terminal_law:
        weak = weak_errors(sol.x, problem.terminal_mean(), problem.terminal_cov(),
                           _exact(token, sw.seed + EXACT_SEED_OFFSET))
    row.update(weak)
    return row


COLUMNS = ["case", "family", "gamma", "method", "config", "solver", "knob", "eps_target", "level", "n_steps", "n_paths",
           "seed", "cost", "error", "error_se", "top_evals", "wall_s", "pred_cost", "pred_error", "ref_error",
           "ref_steps", "share", "switch_step", "evals_per_level", "probs", "sq_batches", "cost_batches",
           "mean_err", "cov_err", "sw2"]


# ---------------------------------------------------------------- executors

class InProcess:
    """Runs tasks one after another in this process (kernels still use every core)."""

    name = "in-process"

    def map(self, fn, tasks):
        """Yield (key, fn(*args)) for tasks [(key, args)], in order."""
        for key, args in tasks:
            yield key, fn(*args)

    def close(self):
        pass


class DaskExecutor:
    """Runs tasks on a Dask distributed cluster: a local one with `workers` processes,
    or an existing one at `scheduler` (whose workers must have mlem_bench installed)."""

    def __init__(self, workers=None, scheduler=None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SpecError("--workers/--scheduler need Dask: pip install 'dask[distributed]'") from None
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise SpecError(f"--scheduler {scheduler}: cannot connect ({e}); check the address") from None
            self.name = f"dask scheduler {scheduler}"
        else:
            # One thread per worker process: the processes are the parallelism. The workers
            # start with SIGINT ignored (inherited), so Ctrl-C stops the driver, which saves
            # what has finished and shuts them down, instead of each printing a traceback.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self.cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                            dashboard_address=":0", silence_logs=logging.ERROR,
                                            env={"NUMBA_NUM_THREADS": "1"})
                self.client = Client(self.cluster)
            finally:
                signal.signal(signal.SIGINT, previous)
            self.name = f"dask local cluster, {workers} workers"

    def map(self, fn, tasks):
        """Yield (key, result) as tasks finish (any order)."""
        from distributed import as_completed
        futures = {self.client.submit(fn, *args, key=f"mlem-{key}", pure=False, retries=1): key
                   for key, args in tasks}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            # after an interruption distributed may fail while tearing down; results are saved
            with contextlib.suppress(Exception):
                self.client.cancel(list(futures))

    def close(self):
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


def make_executor(workers=None, scheduler=None):
    """In-process by default; Dask when `workers` or `scheduler` is given."""
    if workers is None and scheduler is None:
        return InProcess()
    return DaskExecutor(workers, scheduler)


# ---------------------------------------------------------------- the sweep driver

def _write_json(path, obj):
    from .report import atomic_write
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(obj, sort_keys=True)))


def cell_id(case, index, seed):
    """File stem of a cell: case, configuration index in the plan, seed."""
    return f"{case}--c{index:03d}--s{seed}"


def describe(case):
    """The case's document, or for a Python-built case what can be said of it in JSON."""
    from dataclasses import asdict, fields
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


# the modules that compute a plan or a cell (reports and the CLI are re-run freely)
COMPUTE_MODULES = ("brownian", "diagnostics", "experiment", "kernels", "ladders", "learned", "methods", "metrics",
                   "mlp", "problems", "rng", "solve", "spec", "tuning")


def code_hash():
    """Hash of the source that computes results: results of different code are never mixed."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in COMPUTE_MODULES:
        h.update(name.encode() + (here / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


def manifest(cases):
    """What identifies a sweep: format, package version and source, and the cases."""
    m = {"format": FORMAT, "version": __version__, "code": code_hash(), "cases": [describe(c) for c in cases]}
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
            old = json.loads(path.read_text())
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
    _write_json(path, m)
    return m


class _Progress:
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


def _guarded(fn, key, *args):
    # an impossible configuration is the spec's fault: name the task, no deep traceback
    try:
        return fn(*args)
    except (PathExplosionError, TuningError) as e:
        raise SpecError(f"case {key.split('--')[0]}, task {key}: {e}") from None


def run_sweep(cases, out, executor=None, resume=False, progress=True, on_saved=None):
    """Run (or resume) the sweep of `cases` into folder `out`.

    Parameters
    ----------
    cases : list of Case (from `spec.load_case`, or built in Python)
    out : folder; gets sweep.json, plans/, cells/ and, at the end, the tables
    executor : InProcess (default) or DaskExecutor
    resume : continue a sweep already in `out` (same spec), keeping finished tasks
    progress : show progress bars on stderr
    on_saved : optional callback(path) after each persisted task (tests use it to interrupt)

    Returns
    -------
    (results, levels) : pandas DataFrames of every cell and of every case's ladder table
    """
    from .report import write_tables
    tokens = [case_token(c) for c in cases]
    for t, c in zip(tokens, cases):
        _case(t, c)
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"two specs share the case name {dup[0]!r}; names must be unique")
    out = Path(out)
    open_sweep(out, cases, resume)
    executor = executor or InProcess()
    t0 = time.perf_counter()

    def persist(tasks, fn, path_of, desc):
        done = sum(path_of(k).exists() for k, _ in tasks)
        todo = [(k, (fn, k) + a) for k, a in tasks if not path_of(k).exists()]
        bar = _Progress(len(tasks), done, desc, progress and bool(todo))
        try:
            for key, result in executor.map(_guarded, todo):
                _write_json(path_of(key), result)
                bar.update(key)
                if on_saved:
                    on_saved(path_of(key))
        finally:
            bar.close()

    plan_path = lambda name: out / "plans" / f"{name}.json"       # noqa: E731
    ship = [None if c.doc is not None else c for c in cases]   # what a task carries besides its token
    persist([(c.name, (t, sh)) for c, t, sh in zip(cases, tokens, ship)], plan_case, plan_path, "plans")
    plans = {c.name: json.loads(plan_path(c.name).read_text()) for c in cases}
    tasks = []
    for c, t, sh in zip(cases, tokens, ship):
        p = plans[c.name]
        for seed in c.sweep.seeds:
            for i, cfg in enumerate(p["configs"]):
                tasks.append((cell_id(c.name, i, seed), (t, sh, cfg, seed, p["ref_steps"])))
    cell_path = lambda key: out / "cells" / f"{key}.json"          # noqa: E731
    persist(tasks, run_cell, cell_path, "cells")
    rows = [json.loads(cell_path(k).read_text()) for k, _ in tasks]
    results, levels = write_tables(out, rows, plans, cases)
    if progress:
        print(f"sweep of {len(cases)} cases, {len(tasks)} cells done in {time.perf_counter() - t0:.0f}s "
              f"({executor.name})", file=sys.stderr)
    return results, levels
