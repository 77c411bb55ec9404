"""Command line: mlem-bench run [SPEC ...] [--out DIR]."""
import argparse
import sys
from pathlib import Path

from .spec import SpecError, load_case

DEFAULT_PROBLEMS = Path(__file__).resolve().parent.parent / "problems"


def default_specs():
    """Every case in problems/ (next to the package, else in the working directory)."""
    for d in (DEFAULT_PROBLEMS, Path.cwd() / "problems"):
        specs = sorted(d.glob("*.toml"))
        if specs:
            return specs
    raise SpecError("no SPEC given and no problems/*.toml found; pass spec files explicitly")


def cmd_run(args):
    from .report import write_outputs
    from .runner import run_case
    from .solve import PathExplosionError
    from .tuning import TuningError

    specs = args.spec or default_specs()
    cases = [load_case(s) for s in specs]        # validate every spec before computing anything
    if args.paths:
        for c in cases:
            c.sweep.n_paths = args.paths
    names = [c.name for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SpecError(f"two specs share the case name {sorted(dup)[0]!r}; names must be unique")
    rows, windows = [], {}
    for c in cases:
        try:
            r, _ = run_case(c)
        except (PathExplosionError, TuningError) as e:
            raise SpecError(f"{c.source} (case {c.name}): {e}") from None
        rows += r
        windows[c.name] = c.sweep.fit_eps
    results, rates, speed = write_outputs(rows, args.out, windows)
    cols = ["case", "method", "slope", "slope_lo", "slope_hi", "theory_slope"]
    print(rates[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print()
    print(speed.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\nwrote {args.out}/results.csv, rates.csv, speedup.csv, report.md, work_precision.png")
    return 0


def cmd_bench(args):
    import os
    import platform

    import numba
    import numpy

    from .bench import run_all

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba {numba.__version__}, numpy {numpy.__version__}")
    for name, table in run_all(quick=args.quick):
        print(f"\n## {name}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"), flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mlem-bench", description="Multilevel Euler-Maruyama benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run benchmark cases and write results, rates, report and plot")
    run.add_argument("spec", nargs="*", help="case files (default: every problems/*.toml)")
    run.add_argument("--out", default="results", help="output folder (default: results)")
    run.add_argument("--paths", type=int, default=None, help="override [sweep].n_paths of every case")
    run.set_defaults(func=cmd_run)
    bench = sub.add_parser("bench", help="measure speed ratios (kernel vs floor and NumPy, threads, ML-EM overhead)")
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    bench.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    if getattr(args, "paths", None) is not None and args.paths < 2:
        parser.error("--paths must be >= 2")
    try:
        return args.func(args)
    except SpecError as e:
        print(f"mlem-bench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlem-bench: interrupted; no output written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
