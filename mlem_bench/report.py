"""Tables, figures and the report of a sweep folder, rendered from its stored tables
alone (``mlem-bench report DIR``), every file written atomically."""
import base64
import html
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import fit_rates, frontier, pooled, speedups
from .diagnostics import measured_gamma
from .methods import ALL_METHODS

STYLE = {"em": ("C0", "o"), "mlem": ("C3", "s"), "em-finest": ("C7", "v"), "em-coarsest": ("C8", "^"),
         "stitch": ("C2", "D"), "mlem-shared": ("C1", "P"), "mlem-schedule": ("C4", "X")}


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


def _save_table(df, out, stem):
    atomic_write(out / f"{stem}.csv", lambda p: df.to_csv(p, index=False))
    atomic_write(out / f"{stem}.parquet", lambda p: df.to_parquet(p, index=False))


def write_tables(out, rows, plans, cases):
    """Store the sweep's tables (results, levels, floors) and render the report."""
    from .experiment import COLUMNS
    out = Path(out)
    results = pd.DataFrame(rows, columns=COLUMNS)
    levels, floors = [], []
    for c in cases:
        p = plans[c.name]
        for r in p["levels"]:
            levels.append({"case": c.name, "family": c.problem.family, "gamma": float(c.ladder.gamma), **r})
        if p["floors"]:
            floors.append({"case": c.name, **p["floors"]})
    levels = pd.DataFrame(levels)
    floors = pd.DataFrame(floors, columns=["case", "mean_err", "cov_err", "sw2"])
    learned = pd.DataFrame([{"case": c.name, **r} for c in cases for r in plans[c.name].get("learned", [])],
                           columns=LEARNED_COLUMNS)
    _save_table(results, out, "results")
    _save_table(levels, out, "levels")
    _save_table(floors, out, "floors")
    _save_table(learned, out, "learned")
    skipped = pd.DataFrame([{"case": c.name, **r} for c in cases for r in plans[c.name].get("skipped", [])],
                           columns=SKIPPED_COLUMNS)
    _save_table(skipped, out, "skipped")
    render_report(out)
    return results, levels


LEARNED_COLUMNS = ["case", "level", "width", "depth", "params", "macs", "eval_ns", "train_steps", "train_s",
                   "heldout_loss", "eps", "gamma_train", "gamma_train_lo", "gamma_train_hi"]
SKIPPED_COLUMNS = ["case", "method", "eps_target", "why"]


def _windows(out):
    m = json.loads((Path(out) / "sweep.json").read_text())
    return {d["name"]: d.get("sweep", {}).get("fit_eps") for d in m["cases"]}


def _read(out, stem):
    out = Path(out)
    if (out / f"{stem}.parquet").exists():
        return pd.read_parquet(out / f"{stem}.parquet")
    if (out / f"{stem}.csv").exists():
        return pd.read_csv(out / f"{stem}.csv")
    raise FileNotFoundError(f"{out}: no {stem}.parquet or {stem}.csv; run `mlem-bench run --out {out}` first")


def load_tables(out):
    """(results, levels, floors, windows) of a finished sweep folder."""
    return _read(out, "results"), _read(out, "levels"), _read(out, "floors"), _windows(out)


def load_optional(out, stem, columns):
    """An optional table of a sweep folder (learned, skipped): empty when absent."""
    try:
        return _read(out, stem)
    except FileNotFoundError:
        return pd.DataFrame(columns=columns)


def ladder_gammas(levels):
    """Measured gamma per case from (cost, measured eps_l) over the ladder's levels."""
    out = []
    for case, g in levels.groupby("case", sort=False):
        gm, lo, hi = measured_gamma(g.eps_measured, g.cost)
        out.append({"case": case, "nominal_gamma": float(g.gamma.iloc[0]), "measured_gamma": gm,
                    "gamma_lo": lo, "gamma_hi": hi, "levels": len(g)})
    return pd.DataFrame(out)


# ---------------------------------------------------------------- figures

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, path, dpi):
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, format="png")
    plt.close(fig)


def _grid(n, w=4.4, h=3.6):
    plt = _plt()
    ncol = min(4, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(w * ncol, h * nrow), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return plt, fig, list(axes.flat)[:n]


def _label(method):
    return ALL_METHODS[method].label if method in ALL_METHODS else method


def plot_frontiers(points, rates, path, y="error", ylabel="strong L2 error at T", floors=None):
    """Per case: every configuration (faint) and each method's frontier, log-log."""
    cases = list(dict.fromkeys(points.case))
    plt, fig, axes = _grid(len(cases))
    for ax, case in zip(axes, cases):
        g = points[points.case == case]
        for method, gm in g.groupby("method", sort=False):
            color, marker = STYLE.get(method, ("k", "x"))
            ax.plot(gm.cost, gm[y], marker, color=color, ms=3, alpha=0.25, ls="none")
            f = frontier(gm) if y == "error" else gm.sort_values("cost")
            label = _label(method)
            r = rates[(rates.case == case) & (rates.method == method)]
            if y == "error" and len(r) and np.isfinite(r.slope.iloc[0]):
                label += f" ({r.slope.iloc[0]:.2f})"
            ax.plot(f.cost, f[y], marker + "-", color=color, ms=4, lw=1, label=label)
        if floors is not None and case in set(floors.case):
            ax.axhline(float(floors.set_index("case").loc[case, y]), color="k", ls=":", lw=1, label="MC floor")
        ax.set(xscale="log", yscale="log", xlabel="mean counted cost per path", ylabel=ylabel,
               title=f"{case}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    _save(plt, fig, path, 100)


def plot_regimes(rates, path):
    """Fitted exponent against gamma for EM and ML-EM, per family, with theory curves."""
    plt = _plt()
    r = rates[rates.method.isin(["em", "mlem"]) & rates.slope.notna()]
    fams = list(dict.fromkeys(r.family))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    g = np.linspace(1.0, 4.5, 200)
    ax.plot(g, g + 1, color="C0", lw=1, label="EM theory: gamma + 1")
    ax.plot(g, np.maximum(g, 1 + g / 2), color="C3", lw=1, label="ML-EM theory: max(gamma, 1 + gamma/2)")
    markers = "osD^v<>"
    for i, fam in enumerate(fams):
        for method, color in (("em", "C0"), ("mlem", "C3")):
            x = r[(r.family == fam) & (r.method == method)]
            dx = (i - (len(fams) - 1) / 2) * 0.05
            ax.errorbar(x.gamma + dx, -x.slope, yerr=[x.slope_hi - x.slope, x.slope - x.slope_lo],
                        fmt=markers[i % len(markers)], color=color, ms=5, capsize=2,
                        label=f"{_label(method)}, {fam}")
    ax.set(xlabel="gamma (ladder)", ylabel="fitted exponent: cost ~ error^-exponent",
           title="Cost exponents in every regime (95% intervals)")
    ax.axvline(2.0, color="k", lw=0.5, ls=":")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    _save(plt, fig, path, 110)


def plot_top_evals(points, path):
    """Evaluations of the top level per path against the error reached (frontier points)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), squeeze=False)
    for ax, method in zip(axes[0], ("em", "mlem")):
        for case, g in points[points.method == method].groupby("case", sort=False):
            f = frontier(g).sort_values("error")
            ax.plot(f.error, f.top_evals, "o-", ms=3, lw=1, label=f"{case}")
        ax.set(xscale="log", yscale="log", xlabel="strong error reached", ylabel="top-level evaluations per path",
               title=_label(method))
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    _save(plt, fig, path, 110)


def plot_ladders(levels, gammas, path):
    """Per case: measured eps_l, delta_l and chosen p_l against level; cost against eps_l."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for case, g in levels.groupby("case", sort=False):
        gm = gammas.set_index("case").loc[case]
        line, = axes[0].plot(g.eps_measured, g.cost, "o-", ms=3, lw=1,
                             label=f"{case}: gamma {gm.measured_gamma:.2f} [{gm.gamma_lo:.2f}, {gm.gamma_hi:.2f}]")
        axes[1].plot(g.level, g.delta, "o-", ms=3, lw=1, color=line.get_color())
        used = g[g.p > 0]
        axes[2].plot(used.level, used.p, "o-", ms=3, lw=1, color=line.get_color())
    axes[0].set(xscale="log", yscale="log", xlabel="measured eps_l (RMS |f^l - f| on trajectories)",
                ylabel="cost c_l", title="measured gamma (log-log fit)")
    axes[1].set(yscale="log", xlabel="level l", ylabel="delta_l = RMS |f^l - f^(l-1)|", title="level differences")
    axes[2].set(yscale="log", xlabel="level l", ylabel="p_l", title="ML-EM probabilities (smallest eps)")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=6)
    _save(plt, fig, path, 100)


# ---------------------------------------------------------------- the report

def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{v:.3g}"
    return str(v)


def _md_table(df):
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def _interval(v, lo, hi, digits=2, suffix=""):
    if not np.isfinite(v):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{v:.{digits}f}{suffix}"
    return f"{v:.{digits}f}{suffix} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _overlap(lo, hi, a, b):
    return bool(np.isfinite(lo) and np.isfinite(hi) and max(lo, a) <= min(hi, b))


def learned_blocks(learned, rates, speed, gammas):
    """Report section of the learned ladders: sizes, costs, errors, gamma, and whether
    the theory at the measured gamma predicts the fitted exponents."""
    blocks = [("h2", "Learned ladders"),
              ("p", "Each level is a time-conditioned MLP trained by denoising score matching (same Adam budget "
                    "for every size). cost = multiply-adds per evaluation (the counted cost of the sweep); "
                    "eval_ns = measured time of one evaluation in the sampler's Numba path; eps = RMS of "
                    "|f^l - f| against the closed-form drift along exact-drift trajectories, measured after "
                    "training; gamma fitted from (cost, eps) with a 95% interval.")]
    for case, g in learned.groupby("case", sort=False):
        first = g.iloc[0]
        gm, glo, ghi = float(first.gamma_train), float(first.gamma_train_lo), float(first.gamma_train_hi)
        regime = ("lies above 2: the ladder is in the HTMC regime" if glo > 2 else
                  "lies below 2: the ladder is not in the HTMC regime" if ghi < 2 else
                  "straddles 2: the regime is not resolved")
        pilot = gammas[gammas.case == case]
        text = f"{case}: measured gamma {_interval(gm, glo, ghi)}, whose interval {regime}"
        if len(pilot):
            text += f" (pilot trajectories of the sweep: {_interval(*pilot.iloc[0][['measured_gamma', 'gamma_lo', 'gamma_hi']])})"
        text += "."
        r = rates[rates.case == case].set_index("method")
        # theory at every gamma of the interval: EM gamma + 1, ML-EM max(gamma, 1 + gamma/2) (both increasing)
        theory = {"em": (glo + 1, ghi + 1), "mlem": (max(glo, 1 + glo / 2), max(ghi, 1 + ghi / 2))}
        for m, name in (("em", "EM"), ("mlem", "ML-EM")):
            if m in r.index and np.isfinite(r.loc[m, "slope"]):
                lo, hi = -r.loc[m, "slope_hi"], -r.loc[m, "slope_lo"]
                ok = _overlap(lo, hi, *theory[m])
                text += (f" {name} exponent {_interval(-r.loc[m, 'slope'], lo, hi)} against theory "
                         f"{theory[m][0]:.2f}..{theory[m][1]:.2f} over the gamma interval: "
                         f"{'consistent' if ok else 'not predicted'}.")
        sp = speed[(speed.case == case) & (speed.method == "em")]
        if len(sp) and np.isfinite(sp.speedup.iloc[0]):
            v = sp.iloc[0]
            text += (f" Speed-up of ML-EM over EM at error {v.common_error:.3g}: "
                     f"{_interval(v.speedup, v.speedup_lo, v.speedup_hi, 1, 'x')}.")
        twin = f"{case}-twin"
        tr = rates[rates.case == twin].set_index("method")
        ts = speed[(speed.case == twin) & (speed.method == "em")]
        if len(ts) and "mlem" in tr.index:
            v = ts.iloc[0]
            text += (f" Its synthetic twin (a gamma-ladder with the measured gamma, eps_1 and c_1, same problem and "
                     f"sweep) has ML-EM exponent {_interval(-tr.loc['mlem', 'slope'], -tr.loc['mlem', 'slope_hi'], -tr.loc['mlem', 'slope_lo'])} "
                     f"and speed-up {_interval(v.speedup, v.speedup_lo, v.speedup_hi, 1, 'x')} at error {v.common_error:.3g}")
            if len(sp):
                agree = _overlap(sp.speedup_lo.iloc[0], sp.speedup_hi.iloc[0], v.speedup_lo, v.speedup_hi)
                text += (": the twin's speed-up interval " + ("overlaps" if agree else "does not overlap")
                         + " the learned ladder's, so the gamma-ladder theory "
                         + ("predicts" if agree else "does not predict") + " the learned result at these errors")
            text += "."
        blocks += [("p", text),
                   ("table", g[["level", "width", "params", "macs", "eval_ns", "train_s", "heldout_loss", "eps"]])]
    return blocks


def report_blocks(results, levels, floors, windows, learned=None, skipped=None):
    """The report as a list of blocks: ("h", text), ("p", text), ("table", df), ("img", file)."""
    points = pooled(results)
    rates = fit_rates(points, windows)
    speed = speedups(points)
    gammas = ladder_gammas(levels)
    n_seeds = int(results.groupby(["case", "config"]).seed.nunique().max())
    blocks = [("h1", "mlem_bench report"),
              ("p", f"{results.case.nunique()} cases, {len(points)} configurations, {len(results)} runs "
                    f"({n_seeds} seed(s) each, {int(results.n_paths.iloc[0])} paths per run in the first case). "
                    "Error: strong L2 error at T against the exact or reference solution on the same Brownian "
                    "paths, pooled over seeds. Cost: mean counted cost per path. Each method's frontier is the "
                    "Pareto set of its configurations; slopes are least-squares fits of log cost on log error "
                    "along the frontier with 95% t-intervals; speed-ups are read at the smallest error both "
                    "methods reach, by log-log interpolation of the frontiers, with 95% delete-one-batch "
                    "jackknife intervals.")]
    r = rates.copy()
    r["fitted"] = [_interval(-s, -h, -lo) for s, lo, h in zip(r.slope, r.slope_lo, r.slope_hi)]
    r["theory"] = [_fmt(-t) if np.isfinite(t) else "" for t in r.theory_slope]
    r["verdict"] = ["" if not (np.isfinite(t) and np.isfinite(s)) else
                    ("covers" if -h <= -t <= -lo else f"off by {min(abs(t - lo), abs(t - h)):.2f}")
                    for s, lo, h, t in zip(r.slope, r.slope_lo, r.slope_hi, r.theory_slope)]
    main = r[r.method.isin(["em", "mlem"])]
    blocks += [("h2", "Cost exponents against theory"),
               ("p", "exponent = -d log(cost) / d log(error). Theory: EM gamma + 1; ML-EM max(gamma, 1 + gamma/2) "
                     "(gamma = 2 up to a log^2 factor). 'covers': the interval contains the theory."),
               ("table", main[["case", "gamma", "method", "fitted", "theory", "verdict", "n_points"]]),
               ("img", "regimes.png")]
    s = speed.copy()
    s["speed-up of ML-EM"] = [_interval(v, lo, hi, 1, "x") for v, lo, hi in zip(s.speedup, s.speedup_lo, s.speedup_hi)]
    blocks += [("h2", "Speed-up of ML-EM at matched error"),
               ("p", "cost of the other method / cost of ML-EM at the smallest error both reach; "
                     "below 1: the other method is cheaper there."),
               ("table", s[["case", "gamma", "method", "common_error", "cost_other", "cost_mlem",
                            "speed-up of ML-EM"]])]
    blocks += [("h2", "Work-precision frontiers"), ("img", "work_precision.png")]
    base = r[~r.method.isin(["em", "mlem"])]
    if len(base):
        blocks += [("p", "Fitted slopes of the baselines (no rate claim):"),
                   ("table", base[["case", "method", "fitted", "n_points"]])]
    blocks += [("h2", "Top-level evaluations per path"),
               ("p", "For gamma > 2 ML-EM's evaluations of its top level stay bounded as eps shrinks; "
                     "EM's grow like 1/eps."), ("img", "top_evals.png")]
    g = gammas.copy()
    g["measured"] = [_interval(v, lo, hi) for v, lo, hi in zip(g.measured_gamma, g.gamma_lo, g.gamma_hi)]
    blocks += [("h2", "Ladder diagnostics"),
               ("p", "Measured gamma: least squares of log c_l on log eps_l over the levels, eps_l the RMS of "
                     "|f^l - f| along exact-drift pilot trajectories, 95% interval."),
               ("table", g[["case", "nominal_gamma", "measured", "levels"]]), ("img", "ladder.png"),
               ("p", "Per level (pilot trajectories; p and evaluations per path from ML-EM at the smallest eps):")]
    cols = ["case", "level", "eps_measured", "delta", "mean_diff", "var_diff", "kurtosis", "cost", "p",
            "evals_per_path"]
    blocks += [("table", levels[levels.case == c][cols]) for c in dict.fromkeys(levels.case)]
    if results.sw2.notna().any():
        blocks += [("h2", "Weak errors"),
                   ("p", "Sliced Wasserstein-2 distance of the terminal samples to independent exact samples of "
                         "the same size, against cost; the dotted line is the same distance for exact samples, averaged "
                         "over 8 replicates (the Monte Carlo floor: near it the measurement does not resolve). Mean and "
                         "covariance errors are in results.csv with their floors in floors.csv."),
                   ("img", "weak.png"), ("table", floors)]
    if learned is not None and len(learned):
        blocks += learned_blocks(learned, rates, speed, gammas)
    if skipped is not None and len(skipped):
        blocks += [("h2", "Targets not configured"),
                   ("p", "Target errors a method could not be tuned for (the ladder's finest level is too "
                         "biased); its frontier stops above them."),
                   ("table", skipped[SKIPPED_COLUMNS])]
    blocks += [("h2", "Files"),
               ("p", "results.csv/.parquet (one row per run), levels.csv/.parquet, floors.csv/.parquet, "
                     "learned.csv/.parquet (learned ladders), skipped.csv/.parquet, "
                     "rates.csv, speedup.csv, gamma.csv; plans/ and cells/ hold every task's output.")]
    return blocks, {"points": points, "rates": rates, "speed": speed, "gammas": gammas}


def to_markdown(blocks):
    out = []
    for kind, v in blocks:
        if kind == "h1":
            out += [f"# {v}", ""]
        elif kind == "h2":
            out += [f"## {v}", ""]
        elif kind == "p":
            out += [v, ""]
        elif kind == "table":
            out += [_md_table(v), ""]
        elif kind == "img":
            out += [f"![{v}]({v})", ""]
    return "\n".join(out)


def to_html(blocks, folder):
    """A self-contained HTML page: images inlined as base64."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>mlem_bench report</title><style>"
             "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:13px;margin:0.5em 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:100%}"
             "</style></head><body>"]
    for kind, v in blocks:
        if kind in ("h1", "h2"):
            parts.append(f"<{kind}>{html.escape(v)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(v)}</p>")
        elif kind == "table":
            parts.append(v.map(_fmt).to_html(index=False, escape=True))
        elif kind == "img":
            data = base64.b64encode((Path(folder) / v).read_bytes()).decode()
            parts.append(f"<img alt='{html.escape(v)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_report(out):
    """Render every derived table, figure and the report of sweep folder `out` from its
    stored tables (results, levels, floors); returns (rates, speed, gammas)."""
    out = Path(out)
    results, levels, floors, windows = load_tables(out)
    blocks, t = report_blocks(results, levels, floors, windows, load_optional(out, "learned", LEARNED_COLUMNS),
                              load_optional(out, "skipped", SKIPPED_COLUMNS))
    points, rates = t["points"], t["rates"]
    atomic_write(out / "work_precision.png", lambda p: plot_frontiers(points, rates, p))
    atomic_write(out / "regimes.png", lambda p: plot_regimes(rates, p))
    atomic_write(out / "top_evals.png", lambda p: plot_top_evals(points, p))
    atomic_write(out / "ladder.png", lambda p: plot_ladders(levels, t["gammas"], p))
    if results.sw2.notna().any():
        atomic_write(out / "weak.png", lambda p: plot_frontiers(points, rates, p, y="sw2", ylabel="sliced W2 to exact",
                                                                 floors=floors))
    atomic_write(out / "rates.csv", lambda p: rates.drop(columns="intercept").to_csv(p, index=False))
    atomic_write(out / "speedup.csv", lambda p: t["speed"].to_csv(p, index=False))
    atomic_write(out / "gamma.csv", lambda p: t["gammas"].to_csv(p, index=False))
    atomic_write(out / "report.md", lambda p: Path(p).write_text(to_markdown(blocks)))
    atomic_write(out / "report.html", lambda p: Path(p).write_text(to_html(blocks, out)))
    return rates, t["speed"], t["gammas"]


def notebook_tables(default_spec=None):
    """Tables for the notebooks: those of the folder in $MLEM_RESULTS, else of a small
    sweep of `default_spec` (the tests' tiny sweep) run now into a temporary folder.

    Returns (folder, results, points, rates, speedups, levels, gammas, floors).
    """
    out = os.environ.get("MLEM_RESULTS")
    if not out:
        from .experiment import run_sweep
        from .spec import load_case
        spec = Path(default_spec or Path(__file__).resolve().parent.parent / "tests" / "data" / "tiny-sweep.toml")
        out = Path(tempfile.mkdtemp(prefix="mlem-nb-")) / "results"
        print(f"MLEM_RESULTS not set: running the small sweep {spec.name} into {out}")
        run_sweep([load_case(spec)], out, progress=False)
    results, levels, floors, windows = load_tables(out)
    points = pooled(results)
    rates = fit_rates(points, windows)
    return Path(out), results, points, rates, speedups(points), levels, ladder_gammas(levels), floors
