"""Figures of a sweep, each a function of its tables only (PNG, Agg backend)."""
import numpy as np

from ..analysis.rates import frontier
from ..tuning.methods import ALL_METHODS

STYLE = {"em": ("C0", "o"), "mlem": ("C3", "s"), "em-finest": ("C7", "v"), "em-coarsest": ("C8", "^"),
         "stitch": ("C2", "D"), "mlem-shared": ("C1", "P"), "mlem-schedule": ("C4", "X")}


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(plt, fig, path, dpi):
    """Lay out, save as PNG and close `fig`."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, format="png")
    plt.close(fig)


def grid(n, w=4.4, h=3.6):
    plt = pyplot()
    ncol = min(4, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(w * ncol, h * nrow), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return plt, fig, list(axes.flat)[:n]


def method_label(method):
    """The display name of a method (its registry label)."""
    return ALL_METHODS[method].label if method in ALL_METHODS else method


def plot_frontiers(points, rates, path, y="error", ylabel="strong L2 error at T", floors=None):
    """Per case: every configuration (faint) and each method's frontier, log-log."""
    cases = list(dict.fromkeys(points.case))
    plt, fig, axes = grid(len(cases))
    for ax, case in zip(axes, cases):
        g = points[points.case == case]
        for method, gm in g.groupby("method", sort=False):
            color, marker = STYLE.get(method, ("k", "x"))
            ax.plot(gm.cost, gm[y], marker, color=color, ms=3, alpha=0.25, ls="none")
            f = frontier(gm) if y == "error" else gm.sort_values("cost")
            label = method_label(method)
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
    save_figure(plt, fig, path, 100)


def plot_regimes(rates, path):
    """Fitted exponent against gamma for EM and ML-EM, per family, with theory curves."""
    plt = pyplot()
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
                        label=f"{method_label(method)}, {fam}")
    ax.set(xlabel="gamma (ladder)", ylabel="fitted exponent: cost ~ error^-exponent",
           title="Cost exponents in every regime (95% intervals)")
    ax.axvline(2.0, color="k", lw=0.5, ls=":")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(plt, fig, path, 110)


def plot_top_evals(points, path):
    """Evaluations of the top level per path against the error reached (frontier points)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), squeeze=False)
    for ax, method in zip(axes[0], ("em", "mlem")):
        for case, g in points[points.method == method].groupby("case", sort=False):
            f = frontier(g).sort_values("error")
            ax.plot(f.error, f.top_evals, "o-", ms=3, lw=1, label=f"{case}")
        ax.set(xscale="log", yscale="log", xlabel="strong error reached", ylabel="top-level evaluations per path",
               title=method_label(method))
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    save_figure(plt, fig, path, 110)


def plot_ladders(levels, gammas, path):
    """Per case: measured eps_l, delta_l and chosen p_l against level; cost against eps_l."""
    plt = pyplot()
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
    save_figure(plt, fig, path, 100)


def plot_speedup_curves(bands, spx, path):
    """Per case: median S(e) of ML-EM over EM across replicates, its 10-90% band, and a
    guide of the theory slope through the median at the largest grid error."""
    b = bands[bands.method == "em"]
    cases = list(dict.fromkeys(b.case)) or ["(none)"]
    plt, fig, axes = grid(len(cases))
    for ax, case in zip(axes, cases):
        g = b[b.case == case].sort_values("error")
        if len(g):
            ax.fill_between(g.error, g.q10, g.q90, color="C3", alpha=0.2, lw=0, label="10-90% of replicates")
            ax.plot(g.error, g["median"], "s-", color="C3", ms=3, lw=1, label="median S(e)")
            x = spx[(spx.case == case) & (spx.method == "em")]
            th = float(x.theory.iloc[0]) if len(x) else np.nan
            if np.isfinite(th):
                e0, s0 = float(g.error.max()), float(g["median"].iloc[-1])
                e = np.array([g.error.min(), e0])
                ax.plot(e, s0 * (e0 / e) ** th, "k--", lw=1, label=f"theory slope {th:.2f}")
            ax.axhline(1.0, color="k", lw=0.5, ls=":")
        ax.set(xscale="log", yscale="log", xlabel="error e", ylabel="S(e) = cost EM / cost ML-EM", title=case)
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:      # a case with no curve has nothing to label
            ax.legend(fontsize=6)
    save_figure(plt, fig, path, 100)


def plot_speedup_lines(curves, path, title="speed-up of ML-EM over EM", dpi=120):
    """S(e) against e on log axes, one line per entry of `curves` ({label: DataFrame with
    columns error and speedup, `analysis.curves.curve_table`}), written as a PNG (the
    learned section and `mlem-bench predict`; `plot_speedup_curves` draws the replicated bands)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for label, c in curves.items():
        ax.loglog(c.error, c.speedup, "o-", ms=3, label=label)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("strong error e")
    ax.set_ylabel("cost EM / cost ML-EM")
    ax.set_title(title, fontsize=9)
    ax.invert_xaxis()
    ax.legend(fontsize=7)
    save_figure(plt, fig, path, dpi)


def plot_local_exponents(local, ideal, path):
    """Per case: the local cost exponents of EM and ML-EM and the speed-up exponent by decade
    of target error (median over replicates, bootstrap interval as error bars), theory as
    horizontal lines and the ideal-ladder model's exponents as open markers."""
    cases = list(dict.fromkeys(local.case))
    plt, fig, axes = grid(len(cases))
    for ax, case in zip(axes, cases):
        g = local[local.case == case]
        for q, color, marker, label in (("em", "C0", "o", "EM"), ("mlem", "C3", "s", "ML-EM"),
                                        ("speedup-em", "C2", "D", "speed-up")):
            x = g[(g.quantity == q) & (g["n"] > 0)]
            if not len(x):
                continue
            mid = np.sqrt(x.eps_hi * x.eps_lo)
            yerr = np.vstack([x["median"] - x.lo.fillna(x["median"]), x.hi.fillna(x["median"]) - x["median"]])
            ax.errorbar(mid, x["median"], yerr=yerr, fmt=marker + "-", color=color, ms=4, lw=1, capsize=3,
                        label=f"{label} (median, 95% boot)")
            ax.axhline(float(x.theory.iloc[0]), color=color, ls="--", lw=1)
            i = ideal[ideal.case == case] if q in ("em", "mlem") else ideal.iloc[:0]
            if len(i):
                ax.plot(np.sqrt(i.eps_hi * i.eps_lo), i[q], marker, color=color, mfc="none", ms=7,
                        label=f"{label} ideal-ladder model")
        ax.set(xscale="log", xlabel="decade of target error (geometric centre)", ylabel="local exponent",
               title=f"{case} (dashed: theory)")
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(plt, fig, path, 110)
