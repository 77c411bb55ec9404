"""Command line: mlem-bench run [SPEC ...] [--out DIR] [--resume] [--workers N | --scheduler ADDR],
mlem-bench train [SPEC ...] [--force], mlem-bench report DIR, mlem-bench bench [--quick],
mlem-bench peers [--quick]."""
import argparse
import sys
from pathlib import Path

from .errors import SpecError

SUITE = Path(__file__).resolve().parent / "suite"     # the default suite, shipped as package data


def default_specs():
    """Every case of the default suite (mlem_bench/suite/*.toml, installed with the package)."""
    specs = sorted(SUITE.glob("*.toml"))
    if not specs:
        raise SpecError(f"no SPEC given and no default suite in {SUITE}; pass spec files explicitly")
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

    from .ladders.learned import LearnedLadder, describe_family
    from .nets.score_mlp import train_family

    cases = [c for c in load_cases(args.spec or default_specs()) if isinstance(c.ladder, LearnedLadder)]
    if not cases and args.spec:
        raise SpecError("none of the given specs has a [ladder] of kind 'learned'; nothing to train")
    for c in cases:
        print(f"## {c.name}: training {c.ladder.levels} levels into {c.ladder.path}", flush=True)
        fam = train_family(c.ladder, force=args.force, log=lambda m: print(f"  {m}", flush=True))
        print(pd.DataFrame(describe_family(c.ladder)).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        print(f"gamma {fam['gamma']:.2f} [{fam['gamma_lo']:.2f}, {fam['gamma_hi']:.2f}]\n", flush=True)
    return 0


def cmd_run(args):
    from .ladders.learned import LearnedLadder
    from .report.render import render_report
    from .sweep.driver import run_sweep
    from .sweep.executors import make_executor
    from .sweep.twins import synthetic_twin

    cases = []
    for c in load_cases(args.spec or default_specs(), args.paths):
        cases.append(c)
        if isinstance(c.ladder, LearnedLadder):
            c.ladder.digest()                    # a learned ladder must be trained and match its spec
            if c.ladder.twin:
                cases.append(synthetic_twin(c))
    executor = make_executor(args.workers, args.scheduler)
    try:
        run_sweep(cases, args.out, executor, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        again = " ".join(sys.argv[1:]) if sys.argv[1:2] == ["run"] else f"run --out {args.out}"
        print(f"mlem-bench: interrupted; finished tasks are saved in {args.out}; "
              f"continue with: mlem-bench {again}{'' if args.resume else ' --resume'}", file=sys.stderr)
        return 130
    finally:
        executor.close()
    t = render_report(args.out)
    ex = t["exponents"][t["exponents"].method.isin(["em", "mlem"])]
    print("cost exponents over replicates (median [95% bootstrap], replicates within tolerance of theory)")
    print(ex[["case", "method", "median", "lo", "hi", "theory", "within", "n"]].to_string(
        index=False, float_format=lambda v: f"{v:.2f}"))
    print()
    s = t["speedup"][t["speedup"].method == "em"].reindex(
        columns=["case", "error", "s_median", "s_lo", "s_hi", "x_median", "x_lo", "x_hi", "x_theory", "x_within"])
    print("speed-up of ML-EM over EM: S at the smallest common grid error, speed-up exponent (medians over replicates)")
    print(s.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\nwrote {args.out}/report.md, summary.md, report.html, results.csv/.parquet, replicates.csv, "
          f"exponents.csv, speedup_summary.csv, speedup_curves.csv, figures")
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
    run = sub.add_parser("run", help="run benchmark cases and write results, rates, report and plot")
    run.add_argument("spec", nargs="*", help="case files (default: the suite shipped in mlem_bench/suite/*.toml)")
    run.add_argument("--out", default="results", help="output folder (default: results)")
    run.add_argument("--paths", type=int, default=None, help="override [sweep].n_paths of every case")
    run.add_argument("--resume", action="store_true",
                     help="continue the sweep already in --out (same specs), keeping its finished cells")
    run.add_argument("--workers", type=int, default=None, help="run cells on a local Dask cluster of N processes")
    run.add_argument("--scheduler", default=None, help="run cells on the Dask cluster at this address (tcp://host:port)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)
    train = sub.add_parser("train", help="train the score networks of every learned ladder (resumes; keeps trained levels)")
    train.add_argument("spec", nargs="*", help="case files (default: the suite's cases with a learned ladder)")
    train.add_argument("--force", action="store_true", help="retrain levels whose checkpoints exist")
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
    bench = sub.add_parser("bench", help="measure speed ratios (kernel vs floor and NumPy, threads, ML-EM overhead)")
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    bench.set_defaults(func=cmd_bench)
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
