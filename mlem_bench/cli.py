"""Command line: mlem-bench run [SPEC ...] [--out DIR] [--resume] [--workers N | --scheduler ADDR],
mlem-bench train [SPEC ...] [--force], mlem-bench report DIR, mlem-bench predict TABLE [--plot PNG],
mlem-bench measure SPEC [--out TABLE] [--target EPS],
mlem-bench sample SPEC [--table TABLE] [--target EPS | --probs P1,P2,...] [--steps N] [--n N] [--out FILE.npy],
mlem-bench bench [--quick], mlem-bench peers [--quick], mlem-bench warm [--jobs N].

Exit status: 0 done; 2 an error before or instead of the work (one line: spec, folder,
damaged file, memory limit, lock); 3 a sweep finished but some cases failed (one line
each; the others' tables and report are written); 130 interrupted.
"""
import argparse
import contextlib
import re
import sys
from pathlib import Path

from .errors import SpecError

EXIT_FAILED_CASES = 3
SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory_size(text):
    """A size such as 512M, 8G or 1.5T (binary units; bare numbers are bytes) in bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; give e.g. 8G, 512M or a number of bytes")
    return int(float(m.group(1)) * SIZE_UNITS[m.group(2).upper()])

SUITE = Path(__file__).resolve().parent / "suite"     # the shipped suites, package data
SUITES = {"default": SUITE, "extra": SUITE / "extra", "asymptotic": SUITE / "asymptotic"}


def default_specs(suite="default"):
    """Every case of a shipped suite: "default" (mlem_bench/suite/*.toml), "extra" or
    "asymptotic" (its subfolders; docs/asymptotic.md), installed with the package."""
    specs = sorted(SUITES[suite].glob("*.toml"))
    if not specs:
        raise SpecError(f"no SPEC given and no {suite} suite in {SUITES[suite]}; pass spec files explicitly")
    return specs


def load_cases(specs, paths=None):
    """Validate every spec before computing anything; `paths` overrides [sweep].n_paths."""
    from .sweep.spec import load_doc, parse_case
    cases = []
    for s in specs:
        d = load_doc(s)
        if paths and isinstance(d.get("sweep"), dict):
            d["sweep"]["n_paths"] = paths
        cases.append(parse_case(d, str(s)))
    return cases


def cmd_train(args):
    import pandas as pd

    from dataclasses import replace

    from .ladders.learned import LearnedLadder, describe_family, is_shipped
    from .nets.score_mlp import train_family

    cases = [c for c in load_cases(args.spec or default_specs()) if isinstance(c.ladder, LearnedLadder)]
    if not cases and args.spec:
        raise SpecError("none of the given specs has a [ladder] of kind 'learned'; nothing to train")
    trained = set()
    for c in cases:
        ladder = c.ladder
        if args.force and is_shipped(ladder.path):
            # the shipped copy is never written: retrain into models/<family>, which the specs
            # without [ladder].checkpoints use from then on (ladders.learned.default_checkpoints)
            ladder = replace(ladder, checkpoints=str(Path("models") / ladder.path.name))
        if ladder.path.resolve() in trained:      # a family two cases share (gmm-sde-2d-exact-finest)
            print(f"## {c.name}: its family in {ladder.path} is trained above", flush=True)
            continue
        trained.add(ladder.path.resolve())
        print(f"## {c.name}: training {ladder.levels} levels into {ladder.path}", flush=True)
        fam = train_family(ladder, force=args.force, log=lambda m: print(f"  {m}", flush=True))
        print(pd.DataFrame(describe_family(ladder)).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        print(f"gamma {fam['gamma']:.2f} [{fam['gamma_lo']:.2f}, {fam['gamma_hi']:.2f}]\n", flush=True)
    return 0


def missing_families(cases):
    """Spec files of the learned cases whose trained family is missing (no family.json),
    once each, in order: what `mlem-bench run` trains before sweeping them."""
    from .ladders.learned import LearnedLadder
    return list(dict.fromkeys(c.source for c in cases
                              if isinstance(c.ladder, LearnedLadder) and not (c.ladder.path / "family.json").is_file()))


def start_training(specs):
    """`mlem-bench train SPECS` in a child process on one core (its lines go to our stdout)."""
    import os
    import subprocess
    print(f"training the learned families of {', '.join(Path(s).name for s in specs)} on one core, beside the "
          f"sweep of the other cases (each level's line gives its time and an estimate of the rest)", flush=True)
    return subprocess.Popen([sys.executable, "-m", "mlem_bench.cli", "train", *map(str, specs)],
                            env={**os.environ, "NUMBA_NUM_THREADS": "1"})


@contextlib.contextmanager
def leaving_a_core_to(trainer):
    """Yields an `on_saved` callback for a sweep beside a training process: one Numba thread
    fewer while it runs, every thread again once it has finished (checked after each saved
    task) and on leaving the block. Results do not depend on the number of threads."""
    import numba
    full = numba.get_num_threads()
    numba.set_num_threads(max(1, full - 1))

    def on_saved(_path):
        if trainer.poll() is not None:
            numba.set_num_threads(full)
    try:
        yield on_saved
    finally:
        numba.set_num_threads(full)


def sweep_cases(cases):
    """The cases to sweep: each learned case is checked against its trained family (a
    one-line error naming the field otherwise) and followed by its synthetic twin if asked."""
    from .ladders.learned import LearnedLadder
    from .sweep.twins import synthetic_twin
    out = []
    for c in cases:
        out.append(c)
        if isinstance(c.ladder, LearnedLadder):
            c.ladder.digest()
            if c.ladder.twin:
                out.append(synthetic_twin(c))
    return out


def cmd_run(args):
    from .ladders.learned import LearnedLadder
    from .report.render import render_report
    from .sweep.driver import run_sweep
    from .sweep.executors import make_executor

    if args.spec and args.suite:
        raise SpecError("give spec files or --suite, not both")
    given = load_cases(args.spec or default_specs(args.suite or "default"), args.paths)
    to_train = missing_families(given)
    if to_train:
        from .optional import require_torch
        require_torch()                   # training needs torch: say how to install it before sweeping
    ready = [c for c in given if not (isinstance(c.ladder, LearnedLadder) and c.source in to_train)]
    for c in ready:                       # refuse a mismatched family before anything starts
        if isinstance(c.ladder, LearnedLadder):
            c.ladder.digest()
    executor = make_executor(args.workers, args.scheduler)
    kw = dict(progress=not args.quiet, max_memory=args.max_memory, wait=args.wait, keep_damaged=args.keep_damaged)
    trainer = start_training(to_train) if to_train else None
    try:
        resume = args.resume
        if trainer is not None:
            if ready:
                # the cases that need no training first, beside it (bit-identical to sweeping them after it)
                with leaving_a_core_to(trainer) as on_saved:
                    run_sweep(sweep_cases(ready), args.out, executor, resume=resume, on_saved=on_saved, **kw)
                resume = True
            if trainer.wait() != 0:
                raise SpecError(f"training the learned families failed (exit {trainer.returncode}, its error above); "
                                f"fix it and rerun: finished cells are kept")
        tables = run_sweep(sweep_cases(given), args.out, executor, resume=resume, **kw)
    except KeyboardInterrupt:
        again = " ".join(sys.argv[1:]) if sys.argv[1:2] == ["run"] else f"run --out {args.out}"
        print(f"mlem-bench: interrupted; finished tasks are saved in {args.out}; "
              f"continue with: mlem-bench {again}{'' if args.resume else ' --resume'}", file=sys.stderr)
        return 130
    finally:
        executor.close()
        if trainer is not None and trainer.poll() is None:
            trainer.terminate()           # training resumes level by level on the next run
    failed = tables["failed"]
    if tables["results"].empty:
        for r in failed.itertuples():
            print(f"mlem-bench: case {r.case} failed ({r.stage}): {r.reason}", file=sys.stderr)
        print(f"mlem-bench: no case finished; nothing to report (failed.csv in {args.out})", file=sys.stderr)
        return EXIT_FAILED_CASES
    t = render_report(args.out)
    ex = t["exponents"][t["exponents"].method.isin(["em", "mlem"])]
    print("cost exponents over replicates (median [95% bootstrap], replicates within tolerance of theory; "
          "model: what the tuner's error model predicts over the same targets)")
    print(ex[["case", "method", "median", "lo", "hi", "theory", "within", "n", "model"]].to_string(
        index=False, float_format=lambda v: f"{v:.2f}"))
    print()
    s = t["speedup"][t["speedup"].method == "em"].reindex(
        columns=["case", "error", "s_median", "s_lo", "s_hi", "x_median", "x_lo", "x_hi", "x_theory", "x_within"])
    print("speed-up of ML-EM over EM: S at the smallest common grid error, speed-up exponent (medians over replicates)")
    print(s.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\nwrote {args.out}/report.md, summary.md, report.html, results.csv/.parquet, replicates.csv, "
          f"exponents.csv, speedup_summary.csv, speedup_curves.csv, figures")
    for r in failed.itertuples():
        print(f"mlem-bench: case {r.case} failed ({r.stage}): {r.reason}", file=sys.stderr)
    if len(failed):
        print(f"mlem-bench: {len(failed)} case(s) failed and are not in the report (failed.csv); fix their specs and "
              f"rerun with --resume: only they are computed", file=sys.stderr)
        return EXIT_FAILED_CASES
    return 0


def cmd_unet(args):
    from .images import stages as image_stages
    from .images.report import render_image_report
    from .images.sampler import check_device
    from .images.spec import load_spec

    spec = load_spec(args.spec)
    check_device(args.device)
    out = Path(args.out)
    stages = ["train", "gamma", "sample", "report"] if args.stage == "all" else [args.stage]
    log = lambda m: print(m, flush=True)     # noqa: E731
    for st in stages:
        print(f"## unet {st}: {spec['name']} -> {out} ({args.device})", flush=True)
        if st == "train":
            image_stages.train(spec, out, args.device, log, args.compile)
        elif st == "gamma":
            image_stages.measure_gamma(spec, out, args.device, log, args.compile)
        elif st == "sample":
            image_stages.run_samples(spec, out, args.device, log, args.compile)
        else:
            sp = render_image_report(out)
            print(sp.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
            print(f"wrote {out}/report.md, unet.png, grids.png")
    return 0


def cmd_report(args):
    from .report.render import render_report
    out = Path(args.dir)
    if not (out / "sweep.json").exists():
        raise SpecError(f"{out}: no sweep.json here; pass the --out folder of a finished `mlem-bench run`")
    render_report(out)
    print(f"wrote {out}/report.md, report.html and figures")
    return 0


def cmd_predict(args):
    import numpy as np

    from .analysis.predict import SCALARS, best_at, error_model, predict, read_levels

    for name, grid in (("--splits", args.splits), ("--var-shares", args.var_shares)):
        if not all(0 < v < 1 for v in grid):
            raise SpecError(f"{name} must be numbers in (0, 1) (got {grid})")
    levels, scalars = read_levels(args.table)
    given = {k: getattr(args, k) for k in SCALARS if getattr(args, k) is not None}
    kw = {**{k: v for k, v in SCALARS.items() if v is not None}, **scalars, **given}
    model, ladder = error_model(levels, **{k: kw.get(k) for k in SCALARS})
    eps = None
    if args.eps_max is not None or args.eps_min is not None:
        if not (args.eps_max and args.eps_min and args.eps_max > args.eps_min > 0):
            raise SpecError("--eps-max and --eps-min must both be given with eps-max > eps-min > 0")
        eps = np.geomspace(args.eps_max, args.eps_min, args.n)
    configs, curve = predict(model, ladder, args.splits, args.var_shares, eps=eps)
    fmt = lambda v: f"{v:.3g}"      # noqa: E731
    print(f"# {args.table}: {ladder.levels} levels, c_h {model.c_h:.3g}, c_v {model.c_v:.3g}, T {model.T:g}; "
          f"bias splits {args.splits} (EM and ML-EM), ML-EM variance shares {args.var_shares}")
    print("\n## predicted speed-up S(e) = cheapest EM / cheapest ML-EM configuration with error <= e")
    print(curve.to_string(index=False, float_format=fmt))
    print("\n## ML-EM configuration behind each S(e): top level, steps, p_l (l = 1..k), "
          "expected top-level evaluations per path")
    print(best_at(configs, curve).to_string(index=False, float_format=fmt))
    if args.plot:
        from .report.figures import plot_speedup_lines
        plot_speedup_lines({"predicted": curve}, args.plot, title=f"predicted S(e): {Path(args.table).name}")
        print(f"\nwrote {args.plot}")
    return 0


def measured_table(spec, doc, out=None):
    """The table `mlem-bench measure SPEC` writes: `out`, else the spec's out, else
    SPEC-ladder.toml in the current directory."""
    return Path(out or doc.get("out") or Path(spec).with_suffix("").name + "-ladder.toml")


def cmd_measure(args):
    import pandas as pd

    from .analysis.predict import predict_options, write_levels
    from .errors import TuningError
    from .files import write_json
    from .sampling.measure import measure_spec

    res, doc = measure_spec(args.spec, progress=not args.quiet)
    out = measured_table(args.spec, doc, args.out)
    fmt = lambda v: f"{v:.4g}"      # noqa: E731
    p = res.pilot
    print(f"# {args.spec}: {len(res.levels)} levels, {p['schedule']} schedule, {p['parameterisation']} outputs, "
          f"{'probability-flow ODE' if p['ode'] else 'reverse SDE'}; pilot {p['paths']} paths x {p['steps']} steps "
          f"({p['dtype']}, batch {p['batch']}, {p['device']}) along {p['trajectories']} trajectories")
    print(pd.DataFrame(res.facts).to_string(index=False, float_format=fmt))
    print(f"\ncost column: {res.cost_unit} per evaluation; eps, delta and bias against the top model (bias_L = 0)")
    fitted = (f"gamma {res.gamma:.3g} [{res.gamma_lo:.3g}, {res.gamma_hi:.3g}] (95%, fit of cost on eps over "
              f"levels 1..L-1)" if res.gamma == res.gamma else "gamma not fitted (fewer than 3 levels below the top)")
    print(fitted)
    print(f"c_h {res.scalars['c_h']:.4g} (EM error {p['c_h_error']:.3g} at h = {res.scalars['T'] / p['steps']:.3g} "
          f"against {p['ref_steps']} steps), c_v {res.scalars['c_v']:.3g}, T {res.scalars['T']:g}")
    print(f"pilot cost {p['cost']:.4g} ({res.cost_unit}, all paths; evaluations per level "
          f"{', '.join(f'{v:.0f}' for v in p['evaluations'])}), {p['wall_s']:.1f} s")
    comments = [f"mlem-bench measure {args.spec}: cost in {res.cost_unit}; error = b_l against the top model; {fitted}"]
    write_levels(out, res.levels, res.scalars, comments)
    write_json(out.with_suffix(".json"), {"levels": res.levels, "scalars": res.scalars, "facts": res.facts,
                                          "cost_unit": res.cost_unit, "gamma": res.gamma, "gamma_lo": res.gamma_lo,
                                          "gamma_hi": res.gamma_hi, "pilot": res.pilot})
    target = args.target or doc.get("target")
    if target:
        try:
            knob, c = res.config_at(target)
        except TuningError as e:
            raise SpecError(f"target {target:g}: {e}") from None
        print(f"\nML-EM at target error {target:g} ({knob}): the first {c.level} models, {c.n_steps} steps, "
              f"probs = [{', '.join(f'{v:.4g}' for v in c.probs[1:c.level + 1])}] (predicted cost "
              f"{c.predicted_cost:.4g}, error {c.predicted_error:.3g})")
    opts = f" {predict_options(res.scalars)}" if out.suffix != ".toml" else ""
    print(f"\nwrote {out} and {out.with_suffix('.json')}; next: mlem-bench predict {out}{opts}")
    return 0


def sample_config(args, doc, table, levels, scalars):
    """(probs, steps, where they came from) of `mlem-bench sample`: --probs, else the table's
    configuration at the target (the tuner `measure --target` prints); --steps, else
    [sample].steps, else the table's. SpecError naming the option otherwise."""
    from .errors import TuningError
    from .sampling.measure import config_at
    from .sampling.multilevel import check_probs

    steps = args.steps if args.steps is not None else doc.get("sample", {}).get("steps")
    if args.probs is not None:
        try:
            probs = [float(v) for v in args.probs.split(",")]
        except ValueError:
            raise SpecError(f"--probs {args.probs}: give numbers such as 1,0.5,0.25") from None
        try:
            check_probs(probs, len(probs))
        except ValueError as e:
            raise SpecError(f"--probs {args.probs}: {e}") from None
        if steps is None:
            raise SpecError("give --steps N (or [sample].steps) with --probs")
        return probs, steps, "--probs"
    if levels is None:
        raise SpecError(f"{table}: no such table; run `mlem-bench measure {args.spec}` (it writes it), "
                        f"or give --table TABLE or --probs P1,P2,...")
    target = args.target or doc.get("target")
    if not target:
        raise SpecError(f"give --target EPS (or target in {args.spec}) to pick the probabilities from {table}, "
                        f"or --probs P1,P2,...")
    if not scalars:
        raise SpecError(f"{table}: a CSV table carries no T and c_h; give the .toml table `mlem-bench measure` "
                        f"writes, or --probs P1,P2,...")
    try:
        knob, c = config_at(levels, scalars, target)
    except TuningError as e:
        raise SpecError(f"target {target:g}: {e}") from None
    source = (f"{table} at target {target:g} ({knob}; predicted cost {c.predicted_cost:.4g}, "
              f"error {c.predicted_error:.3g})")
    return list(c.probs[1:c.level + 1]), c.n_steps if steps is None else steps, source


def cmd_sample(args):
    import numpy as np
    import pandas as pd

    from .analysis.predict import read_levels
    from .sampling.measure import read_spec
    from .sampling.multilevel import expected_evaluations
    from .sampling.sample import sample_models, spec_models, spec_scheduler

    doc = read_spec(args.spec)
    s = doc.get("sample", {})
    out = Path(args.out or Path(args.spec).with_suffix("").name + "-samples.npy")
    if out.suffix != ".npy":
        raise SpecError(f"--out {out}: give a .npy file")
    scheduler = spec_scheduler(doc, args.spec)      # refused settings stop here, before any model loads
    table = Path(args.table) if args.table else measured_table(args.spec, doc)
    levels, scalars = read_levels(table) if args.table or table.is_file() else (None, None)
    probs, steps, source = sample_config(args, doc, table, levels, scalars)
    models = spec_models(doc, Path(args.spec).resolve().parent)
    L, k = len(models), len(probs)
    if k > L:
        raise SpecError(f"--probs has {k} entries for the loader's {L} models: give at most one per model, "
                        f"coarsest first")
    if levels is not None and len(levels) != L:
        raise SpecError(f"{table} has {len(levels)} levels but the loader returns {L} models: measure this "
                        f"family again or give its own --table")
    n = args.n if args.n is not None else s.get("n", 64)
    seed = args.seed if args.seed is not None else s.get("seed", 0)
    run = sample_models(models[:k], probs, steps, n, doc, seed, s.get("batch"), scheduler)
    np.save(out, run.samples)

    q = expected_evaluations(probs)[1:]
    rows = pd.DataFrame({"level": range(1, k + 1), "p": probs, "evals": run.evaluations[1:] / n,
                         "expected": run.steps * q, "se": np.sqrt(run.steps * q * (1 - q) / n)})
    sch = doc.get("schedule", {})
    flow = "probability-flow ODE" if sch.get("sampler") == "ode" else "reverse SDE"
    sampler = (f"diffusers {type(scheduler).__name__} (mlem_sample)" if scheduler is not None else
               f"EM on the {sch.get('kind', 'vp')} schedule's {flow}")
    print(f"# {args.spec}: {n} samples of shape {tuple(doc['shape'])}, ML-EM over the first {k} of {L} models, "
          f"{run.steps} steps, seed {seed}; {sampler}")
    print(f"probs from {source}")
    if levels is not None:
        rows["cost"] = [levels[l]["cost"] for l in range(k)]
    print(rows.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("evals: evaluations per sample, counted; expected: steps x (1 - (1 - p_l)(1 - p_{l+1})) (the highest "
          "leading level with p = 1: every step, those below it: never); se: of the counted mean over n samples")
    if levels is not None:
        ml, expected = (float(np.dot(rows[col], rows["cost"])) for col in ("evals", "expected"))
        em = run.steps * levels[k - 1]["cost"]
        print(f"cost per sample ({table}'s unit): ML-EM {ml:.4g} (expected {expected:.4g}), EM with model {k} in the "
              f"same {run.steps} steps {em:.4g}: {em / ml:.3g} times ML-EM's (at equal error: `predict`'s S(e))")
    else:
        print(f"cost per sample: not priced ({table} not found); run `mlem-bench measure {args.spec}` or give --table")
    print(f"wrote {out} ({n} x {', '.join(map(str, doc['shape']))}, {run.samples.dtype})")
    return 0


def cmd_bench(args):
    import os
    import platform

    import numba
    import numpy

    from .perf.bench import run_all

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba {numba.__version__}, numpy {numpy.__version__}")
    for name, table in run_all(quick=args.quick):
        print(f"\n## {name}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"), flush=True)
    return 0


def cmd_warm(args):
    from .numerics.jit_cache import cache_dir
    from .perf.warm import warm

    seconds = warm(jobs=args.jobs, log=lambda m: print(m, flush=True))
    print(f"kernel cache {cache_dir()} ready in {seconds:.1f} s")
    return 0


def cmd_peers(args):
    import numpy as np
    import pandas as pd

    from .perf.peers import compare
    from .problems import OrnsteinUhlenbeck

    n_paths, n_steps = (200, 64) if args.quick else (10_000, 1024)
    for dim in (1, 4):
        # a non-symmetric Theta exercises the matrix code of every solver
        theta = np.eye(dim) + 0.2 * np.triu(np.ones((dim, dim)), 1)
        problem = OrnsteinUhlenbeck(dim, theta=theta, sigma=0.7, x0=1.0)
        rows = pd.DataFrame(compare(problem, n_paths, n_steps, repeats=1 if args.quick else 3))
        print(f"\n## OU d={dim}, {n_paths} paths x {n_steps} steps, float64, same increments")
        print(rows.to_string(index=False, float_format=lambda v: f"{v:.3g}"), flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mlem-bench", description="Multilevel Euler-Maruyama benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run benchmark cases and write results, rates, report and plot (learned "
                                      "families missing from their checkpoints folder are trained first)")
    run.add_argument("spec", nargs="*", help="case files (default: the suite shipped in mlem_bench/suite/*.toml)")
    run.add_argument("--suite", choices=sorted(SUITES), default=None,
                     help="run a shipped suite instead of spec files (default: the default suite)")
    run.add_argument("--out", default="results", help="output folder (default: results)")
    run.add_argument("--paths", type=int, default=None, help="override [sweep].n_paths of every case")
    run.add_argument("--resume", action="store_true",
                     help="continue the sweep already in --out (same specs), keeping its finished cells")
    run.add_argument("--workers", type=int, default=None, help="run cells on a local Dask cluster of N processes")
    run.add_argument("--scheduler", default=None, help="run cells on the Dask cluster at this address (tcp://host:port)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--max-memory", type=memory_size, default=None,
                     help="refuse a case whose estimated memory exceeds this (e.g. 8G; default: half the RAM)")
    run.add_argument("--wait", action="store_true", help="wait for another run holding --out instead of exiting")
    run.add_argument("--keep-damaged", action="store_true",
                     help="report damaged plan/cell files and leave them (their case fails) instead of recomputing")
    run.set_defaults(func=cmd_run)
    train = sub.add_parser("train", help="train the score networks of every learned ladder (resumes; keeps trained levels)")
    train.add_argument("spec", nargs="*", help="case files (default: the suite's cases with a learned ladder)")
    train.add_argument("--force", action="store_true", help="retrain levels whose checkpoints exist (a family "
                                                            "shipped with the package is retrained into models/<family>)")
    train.set_defaults(func=cmd_train)
    un = sub.add_parser("unet", help="UNet track: train a ladder on images, measure gamma, sample, report")
    un.add_argument("stage", choices=["train", "gamma", "sample", "report", "all"])
    un.add_argument("spec", help="UNet spec (TOML with [data], [ladder], [sampler])")
    un.add_argument("--out", required=True, help="output folder (models, gamma.json, samples, report)")
    un.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    un.add_argument("--compile", action="store_true",
                    help="torch.compile the networks (pays on a GPU for long runs; compiling takes minutes)")
    un.set_defaults(func=cmd_unet)
    rep = sub.add_parser("report", help="render report.md/.html and figures of a sweep folder from its tables")
    rep.add_argument("dir", help="the --out folder of a run")
    rep.set_defaults(func=cmd_report)
    pr = sub.add_parser("predict", help="predict ML-EM's speed-up over EM from a table of per-level costs and "
                                         "errors (docs/learned.md)")
    pr.add_argument("table", help="CSV (columns cost, error, delta; one row per level) or TOML ([[level]] tables)")
    pr.add_argument("--T", type=float, default=None, help="time horizon T")
    pr.add_argument("--c_h", "--c-h", dest="c_h", type=float, default=None, help="EM's step-error constant")
    pr.add_argument("--pilot-h", dest="pilot_h", type=float, default=None, help="pilot step h (c_h = pilot error / h)")
    pr.add_argument("--pilot-error", dest="pilot_error", type=float, default=None, help="pilot EM error at step h")
    pr.add_argument("--c_v", "--c-v", dest="c_v", type=float, default=None, help="randomisation constant (default 1)")
    pr.add_argument("--min-steps", dest="min_steps", type=int, default=None, help="smallest stable grid (default 8)")
    pr.add_argument("--splits", type=float, nargs="+", default=[0.3, 0.5, 0.7], help="bias splits, both methods")
    pr.add_argument("--var-shares", dest="var_shares", type=float, nargs="+", default=[0.3, 0.5, 0.7],
                    help="ML-EM variance shares")
    pr.add_argument("--eps-max", type=float, default=None, help="largest target error of the grid")
    pr.add_argument("--eps-min", type=float, default=None, help="smallest target error of the grid")
    pr.add_argument("--n", type=int, default=16, help="targets on the geometric grid")
    pr.add_argument("--plot", default=None, help="also write the S(e) curve as this PNG")
    pr.set_defaults(func=cmd_predict)
    me = sub.add_parser("measure", help="measure a ladder of your own torch models (a spec naming a loader) and "
                                        "write the table `predict` reads (docs/practitioners.md)")
    me.add_argument("spec", help="TOML spec: loader, shape, [schedule], [measure]")
    me.add_argument("--out", default=None, help="table to write (.toml, or .csv without the scalars; default: "
                                                 "the spec's out, else SPEC-ladder.toml)")
    me.add_argument("--target", type=float, default=None, help="print the ML-EM probabilities for this target error")
    me.add_argument("--quiet", action="store_true", help="no progress")
    me.set_defaults(func=cmd_measure)
    sa = sub.add_parser("sample", help="ML-EM samples of the models a measure spec loads, by its schedule or a "
                                       "diffusers scheduler ([sample]; docs/practitioners.md)")
    sa.add_argument("spec", help="the TOML spec of `measure`, with an optional [sample] table")
    sa.add_argument("--table", default=None, help="the table `measure` wrote (default: the spec's out, else "
                                                   "SPEC-ladder.toml): probabilities at --target and per-level costs")
    sa.add_argument("--target", type=float, default=None, help="target error for the table's probabilities and steps "
                                                                "(default: the spec's target)")
    sa.add_argument("--probs", default=None, help="p_1,...,p_k for the first k models instead (p_1 = 1)")
    sa.add_argument("--steps", type=int, default=None, help="steps (default: [sample].steps, else the table's)")
    sa.add_argument("--n", type=int, default=None, help="samples (default: [sample].n, else 64)")
    sa.add_argument("--seed", type=int, default=None, help="seed (default: [sample].seed, else 0)")
    sa.add_argument("--out", default=None, help="samples as .npy (default: SPEC-samples.npy)")
    sa.set_defaults(func=cmd_sample)
    bench = sub.add_parser("bench", help="measure speed ratios (kernel vs floor and NumPy, threads, ML-EM overhead)")
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    bench.set_defaults(func=cmd_bench)
    wm = sub.add_parser("warm", help="compile the kernels of every built-in problem and ladder kind into the "
                                      "on-disk cache (later processes load them)")
    wm.add_argument("--jobs", type=int, default=2, help="compiling processes (default 2)")
    wm.set_defaults(func=cmd_warm)
    peers = sub.add_parser("peers", help="our EM beside torchsde's and diffrax's Euler: agreement and throughput")
    peers.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    peers.set_defaults(func=cmd_peers)
    args = parser.parse_args(argv)
    if getattr(args, "paths", None) is not None and args.paths < 2:
        parser.error("--paths must be >= 2")
    if getattr(args, "workers", None) is not None and args.workers < 1:
        parser.error("--workers must be >= 1")
    if getattr(args, "workers", None) and getattr(args, "scheduler", None):
        parser.error("give --workers (start a local cluster) or --scheduler (join one), not both")
    try:
        return args.func(args)
    except SpecError as e:
        print(f"mlem-bench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlem-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
