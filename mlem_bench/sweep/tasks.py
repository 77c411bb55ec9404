"""The sweep's two kinds of pure task; each returns a JSON-ready dict and depends only on
its arguments, so any executor gives the same results.

1. `plan_case`: one per case: the pilot calibration, the ladder diagnostics and the list
   of configurations every method runs (its knobs x the target errors);
2. `run_cell`: one per (case, configuration, seed): solve, compare with the reference on
   the same Brownian paths, weak errors against the exact law.

A case with `[sweep].replicates = R` runs R replicates: replicate r is the case re-seeded
by `replicate_case` (its own synthetic ladder draw, pilot and paths) with its own plan and
cells. A task receives a `CaseTask`: the replicate's case, its index and a content key
under which a worker process caches what several cells of one replicate share (the
reference and the exact samples).
"""
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..analysis.diagnostics import level_table
from ..analysis.metrics import batch_means, weak_errors
from ..errors import TuningError
from ..ladders.learned import LearnedLadder, describe_family, eval_ns
from ..ladders.synthetic import SyntheticLadder
from ..numerics.rng import EXACT_SEED_OFFSET, FLOOR_SEED_OFFSET, replicate_seed
from ..numerics.solve import reference_states, solve, strong_error
from ..tuning.calibrate import calibrate
from ..tuning.methods import ALL_METHODS

FLOOR_REPLICATES = 8    # exact-sample replicates averaged into the weak errors' Monte Carlo floor


@dataclass(frozen=True)
class CaseTask:
    """A replicate of a case as tasks receive it: `key` names its content (the driver's
    digest of the case and the replicate index), `case` is the re-seeded case."""

    key: str
    case: object
    replicate: int = 0


def replicate_case(case, replicate):
    """The case as replicate `replicate` runs it: a synthetic ladder's seed and the sweep's
    seed replaced by their replicate seeds (`numerics.rng.replicate_seed`; replicate 0 is
    the case itself). A learned ladder keeps its trained networks: only its pilot and
    paths change."""
    if replicate == 0:
        return case
    ladder = case.ladder
    if isinstance(ladder, SyntheticLadder):
        ladder = replace(ladder, seed=replicate_seed(ladder.seed, replicate))
    sweep = replace(case.sweep, seed=replicate_seed(case.sweep.seed, replicate))
    return replace(case, ladder=ladder, sweep=sweep)


@dataclass
class PlannedConfig:
    """One configuration of one method in a plan: what `run_cell` runs."""

    config: int              # index in the plan
    method: str              # the method or baseline (tuning.methods)
    solver: str              # what numerics.solve runs: em, mlem, schedule or stitch
    eps_target: float
    knob: str                # the method's knob value, e.g. "split=0.5"
    level: int
    n_steps: int
    probs: list              # indexed by level
    share: int
    switch_step: int
    pred_cost: float
    pred_error: float

    @classmethod
    def from_tuned(cls, index, method, eps, knob, c):
        """From a tuning.configure.Config."""
        return cls(index, method, c.method, float(eps), knob, c.level, c.n_steps, floats(c.probs), c.share,
                   c.switch_step, c.predicted_cost, c.predicted_error)

    @classmethod
    def from_json(cls, d):
        return cls(**{f.name: d[f.name] for f in fields(cls)})

    def to_json(self):
        return asdict(self)


_CACHE = {}     # (case key, what, seed, ...) -> array, per process: cells of one case share these


def _cached(key, make):
    if key not in _CACHE:
        if len(_CACHE) >= 16:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = make()
    return _CACHE[key]


def floats(a, digits=None):
    """A flat list of Python floats (rounded to `digits` significant digits when given)."""
    return [float(v) if digits is None else float(f"{v:.{digits}g}") for v in np.asarray(a).ravel()]


def exact_samples(task):
    """Exact terminal samples the weak errors compare with (independent of the paths)."""
    case = task.case
    seed = case.sweep.seed + EXACT_SEED_OFFSET
    return _cached((task.key, "exact", seed), lambda: case.problem.exact_samples(seed, case.sweep.n_paths))


def configure_methods(sweep, model, ladder):
    """Every method's configurations over the target errors, deduplicated, in a fixed order;
    and the targets a method could not be tuned for. Returns (configs, skipped)."""
    configs, seen, skipped = [], set(), []
    for name in sweep.all_methods:
        n_before = len(configs)
        for eps in sweep.eps:
            try:
                tuned = ALL_METHODS[name].configs(model, ladder, eps, sweep)
            except TuningError as e:
                # a target below what the ladder's finest level can reach: the method's
                # frontier stops there (recorded); a method with no target at all is an error
                skipped.append({"method": name, "eps_target": float(eps), "why": str(e)})
                continue
            for knob, c in tuned:
                key = (name, c.method, c.level, c.n_steps, tuple(floats(c.probs[:c.level + 1], 12)),
                       c.share, c.switch_step)
                if key in seen:       # a smaller eps target that lands on the same configuration
                    continue
                seen.add(key)
                configs.append(PlannedConfig.from_tuned(len(configs), name, eps, knob, c))
        if len(configs) == n_before:
            raise TuningError(f"method {name}: no target eps is reachable; {skipped[-1]['why']}")
    return configs, skipped


def weak_floors(task):
    """The weak errors of exact samples of the sweep's size against the same exact target,
    averaged over FLOOR_REPLICATES replicates: below them a weak error is not resolved."""
    problem, sw = task.case.problem, task.case.sweep
    if not problem.has_terminal_law:
        return {}
    target = exact_samples(task)
    reps = [weak_errors(problem.exact_samples(sw.seed + FLOOR_SEED_OFFSET + j, sw.n_paths),
                        problem.terminal_mean(), problem.terminal_cov(), target) for j in range(FLOOR_REPLICATES)]
    return {k: float(np.mean([r[k] for r in reps])) for k in reps[0]}


def learned_rows(ladder):
    """Per level of a learned ladder: sizes, costs, times and training-time measurements.
    eval_ns is measured here, on the machine that runs the sweep: family.json's was measured
    where the family was trained (for the families shipped with the package, elsewhere)."""
    if not isinstance(ladder, LearnedLadder):
        return []
    fam = ladder.family
    return [{**r, "eval_ns": eval_ns(ladder, r["level"]), "gamma_train": fam["gamma"], "gamma_train_lo": fam["gamma_lo"], "gamma_train_hi": fam["gamma_hi"],
             "train_steps": ladder.train_steps, "depth": ladder.depth, "target": ladder.target,
             "weight": ladder.weight, "budget": ladder.budget} for r in describe_family(ladder)]


def plan_case(task):
    """Stage 1 for one case: calibrate, configure every method, diagnose the ladder.

    Returns a JSON-ready dict: the error model, the configurations, the reference grid,
    the ladder table (with the probabilities ML-EM chose at the smallest target error),
    the weak-error floors and the learned ladder's rows.
    """
    case = task.case
    sw, problem, ladder = case.sweep, case.problem, case.ladder
    model = calibrate(problem, ladder, sw.seed, sw.pilot_paths, sw.reference, pilot=sw.pilot, stop_bias=sw.stop_bias)
    configs, skipped = configure_methods(sw, model, ladder)
    ref_steps = sw.ref_factor * max(c.n_steps for c in configs)
    ml = [c for c in configs if c.solver == "mlem"] or [max(configs, key=lambda c: c.level)]
    finest = min(ml, key=lambda c: (c.eps_target, c.pred_cost))
    levels = level_table(model, ladder, np.asarray(finest.probs), finest.n_steps, finest.level)
    return {"case": case.name, "replicate": task.replicate, "sweep_seed": int(sw.seed),
            "ladder_seed": int(getattr(ladder, "seed", -1)), "pilot_cost": float(model.pilot["cost"]),
            "model": model.to_dict(), "configs": [c.to_json() for c in configs],
            "ref_steps": int(ref_steps), "levels": levels,
            "level_config": {"eps_target": finest.eps_target, "knob": finest.knob},
            "floors": weak_floors(task), "learned": learned_rows(ladder), "skipped": skipped}


def run_cell(task, config, seed, ref_steps):
    """Stage 2: one configuration (a PlannedConfig's JSON) of one method under one seed;
    returns a results row (`tables.RESULT_COLUMNS`)."""
    case = task.case
    sw, problem, ladder = case.sweep, case.problem, case.ladder
    c = PlannedConfig.from_json(config)
    ref = _cached((task.key, "reference", seed, ref_steps), lambda: reference_states(problem, ladder, sw.reference, seed, sw.n_paths, ref_steps))
    sol = solve(problem, ladder, c.solver, c.level, c.n_steps, sw.n_paths, seed,
                probs=np.asarray(c.probs), share=c.share, switch_step=c.switch_step)
    err, se = strong_error(sol.x, ref.x)
    sq = np.sum((sol.x - ref.x) ** 2, axis=1)
    evals = sol.evals.mean(axis=0)
    row = {"case": case.name, "family": problem.family, "gamma": float(ladder.gamma), "method": c.method,
           "config": c.config, "solver": c.solver, "knob": c.knob, "eps_target": c.eps_target, "level": c.level,
           "n_steps": c.n_steps, "n_paths": sw.n_paths, "seed": int(seed), "replicate": task.replicate, "cost": float(sol.cost.mean()),
           "error": err, "error_se": se, "top_evals": float(evals[c.level]), "wall_s": sol.wall_s,
           "pred_cost": c.pred_cost, "pred_error": c.pred_error, "ref_error": ref.own_error,
           "ref_steps": int(ref_steps), "share": c.share, "switch_step": c.switch_step,
           "evals_per_level": floats(evals[1:c.level + 1], 6),
           "probs": floats(c.probs[1:c.level + 1], 4),
           "sq_batches": floats(batch_means(sq, sw.batches)),
           "cost_batches": floats(batch_means(sol.cost, sw.batches))}
    weak = {"mean_err": np.nan, "cov_err": np.nan, "sw2": np.nan}
    if problem.has_terminal_law:
        weak = weak_errors(sol.x, problem.terminal_mean(), problem.terminal_cov(), exact_samples(task))
    row.update(weak)
    return row
