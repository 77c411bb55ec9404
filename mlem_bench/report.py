"""Outputs of a run, rendered from the results table alone, written atomically."""
import os
import tempfile
from pathlib import Path

import numpy as np

from .analysis import fit_rates, speedups
from .runner import results_table


def atomic_write(path, write):
    """Call write(tmp_path) then rename onto path: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def plot_work_precision(results, rates, path):
    """Error against cost, log-log, one panel per case, both methods with fitted lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(results.case))
    ncol = min(3, len(cases))
    nrow = int(np.ceil(len(cases) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.8 * nrow), squeeze=False)
    style = {"em": ("C0", "o", "EM"), "mlem": ("C3", "s", "ML-EM")}
    for ax, case in zip(axes.flat, cases):
        g = results[results.case == case]
        for method, gm in g.groupby("method"):
            color, marker, label = style.get(method, ("k", "x", method))
            ax.errorbar(gm.cost, gm.error, yerr=gm.error_se, fmt=marker, color=color, ms=4, capsize=2)
            r = rates[(rates.case == case) & (rates.method == method)]
            if len(r):
                r = r.iloc[0]
                e = np.geomspace(gm.error.min(), gm.error.max(), 20)
                ax.plot(np.exp(r.intercept) * e ** r.slope, e, color=color, lw=1,
                        label=f"{label}: cost ~ err^{r.slope:.2f} (theory {r.theory_slope:.2f})")
        ax.set(xscale="log", yscale="log", xlabel="mean counted cost per path", ylabel="strong L2 error at T",
               title=f"{case} (gamma={g.gamma.iloc[0]:g})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(cases):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def markdown_report(results, rates, speed):
    """The run's report: slopes against theory, speed-ups, and the table."""
    lines = ["# mlem_bench report", "",
             "Strong L2 error at T against the exact / reference solution on the same Brownian paths;",
             "cost is the mean counted cost per path. Slope = d log(cost) / d log(error), fitted by least",
             "squares with a 95% t-interval.", "", "## Fitted slopes", "",
             "| case | gamma | method | slope | 95% interval | theory | points | eps window |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rates.itertuples():
        lines.append(f"| {r.case} | {r.gamma:g} | {r.method} | {r.slope:.2f} | [{r.slope_lo:.2f}, {r.slope_hi:.2f}] "
                     f"| {r.theory_slope:.2f} | {r.n_points} | {r.fit_eps_hi:g} .. {r.fit_eps_lo:g} |")
    lines += ["", "## Speed-up of ML-EM over EM", "",
              "At the smallest error both methods reach, costs interpolated log-log along each method's frontier.", "",
              "| case | gamma | common error | EM cost | ML-EM cost | speed-up |", "|---|---|---|---|---|---|"]
    for r in speed.itertuples():
        lines.append(f"| {r.case} | {r.gamma:g} | {r.common_error:.3g} | {r.cost_em:.3g} | {r.cost_mlem:.3g} "
                     f"| {r.speedup:.1f}x |")
    worst = results.groupby("case").apply(lambda g: g.ref_error.max() / g.error.min(), include_groups=False)
    lines += ["", "## Reference accuracy", "",
              "Own error of the reference relative to the smallest measured error (should be << 1):", ""]
    lines += [f"- {case}: {v:.2g}" for case, v in worst.items()]
    lines += ["", "## Runs", "", "| case | method | eps target | k | N | error | +- | cost | top evals |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results.itertuples():
        lines.append(f"| {r.case} | {r.method} | {r.eps_target:g} | {r.level} | {r.n_steps} | {r.error:.3g} | "
                     f"{r.error_se:.2g} | {r.cost:.3g} | {r.top_evals:.3g} |")
    lines += ["", "![work-precision](work_precision.png)", ""]
    return "\n".join(lines)


def write_outputs(rows, out_dir, windows=None):
    """Write results.csv, rates.csv, speedup.csv, report.md and work_precision.png to out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = results_table(rows)
    rates = fit_rates(results, windows)
    speed = speedups(results)
    # compute everything first, then write each file atomically
    report = markdown_report(results, rates, speed)
    atomic_write(out / "work_precision.png", lambda p: plot_work_precision(results, rates, p))
    atomic_write(out / "results.csv", lambda p: results.to_csv(p, index=False))
    atomic_write(out / "rates.csv", lambda p: rates.drop(columns="intercept").to_csv(p, index=False))
    atomic_write(out / "speedup.csv", lambda p: speed.to_csv(p, index=False))
    atomic_write(out / "report.md", lambda p: Path(p).write_text(report))
    return results, rates, speed
