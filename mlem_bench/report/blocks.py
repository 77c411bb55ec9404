"""The report as a list of blocks, ("h1"/"h2"/"p", text), ("table", DataFrame) or
("img", file), computed from a sweep's tables; `render` turns them into Markdown and HTML."""
import numpy as np
import pandas as pd

from ..analysis.diagnostics import measured_gamma
from ..analysis.rates import fit_rates, pooled, speedups
from ..sweep.tables import SKIPPED_COLUMNS
from .learned import break_even, knob_grids, speedup_table

def ladder_gammas(levels):
    """Measured gamma per case from (cost, measured eps_l) over the ladder's levels."""
    out = []
    for case, g in levels.groupby("case", sort=False):
        gm, lo, hi = measured_gamma(g.eps_measured, g.cost)
        out.append({"case": case, "nominal_gamma": float(g.gamma.iloc[0]), "measured_gamma": gm,
                    "gamma_lo": lo, "gamma_hi": hi, "levels": len(g)})
    return pd.DataFrame(out)


def fmt(v):
    """A table cell: floats to 3 significant digits, NaN as blank."""
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{v:.3g}"
    return str(v)


def md_table(df):
    """df as a Markdown table."""
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines)


def interval(v, lo, hi, digits=2, suffix=""):
    if not np.isfinite(v):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{v:.{digits}f}{suffix}"
    return f"{v:.{digits}f}{suffix} [{lo:.{digits}f}, {hi:.{digits}f}]"


def overlap(lo, hi, a, b):
    return bool(np.isfinite(lo) and np.isfinite(hi) and max(lo, a) <= min(hi, b))


def learned_blocks(learned, rates, speed, gammas, results=None):
    """Report section of the learned ladders: sizes, costs, errors, gamma, whether the
    theory at the measured gamma predicts the fitted exponents, the speed-up curve in
    multiply-adds and in time beside the tuner's and the twin's prediction, and the
    training-cost break-even. Returns (blocks, {case: speed-up curve table})."""
    blocks = [("h2", "Learned ladders"),
              ("p", "Each level is a time-conditioned MLP trained on the CPU with the target (dsm: denoising "
                    "score matching; exact: regression on the closed-form noise) and step budget (fixed: the "
                    "same Adam steps for every size; scaled: steps grown with parameters) named per case. "
                    "macs = multiply-adds per evaluation (the counted cost of the sweep); "
                    "eval_ns = measured time of one evaluation in the sampler's Numba path (batched); eps = RMS "
                    "of |f^l - f| against the closed-form drift along exact-drift trajectories, measured after "
                    "training; gamma fitted from (cost, eps) with a 95% interval; train_macs = 3 x macs x batch x "
                    "steps (forward and backward)."),
              ("p", "Speed-up curve S(e) = cost of the cheapest EM configuration with error <= e over that of the "
                    "cheapest ML-EM configuration with error <= e, on a geometric grid of errors both reach. "
                    "'S macs' counts multiply-adds; 'S time' prices each configuration's mean evaluations per "
                    "level with that level's measured eval_ns (same configurations); 'S predicted' applies the "
                    "rule to the tuner's predicted (error, cost) of the same configurations (the error model "
                    "`mlem-bench predict` uses); 'twin' columns are the synthetic twin's, on the same grid. "
                    "Break-even: training of the levels ML-EM uses beyond EM's one network, over ML-EM's saving "
                    "per sample at the smallest common error.")]
    curves = {}
    for case, g in learned.groupby("case", sort=False):
        first = g.iloc[0]
        gm, glo, ghi = float(first.gamma_train), float(first.gamma_train_lo), float(first.gamma_train_hi)
        regime = ("lies above 2: the ladder is in the HTMC regime" if glo > 2 else
                  "lies below 2: the ladder is not in the HTMC regime" if ghi < 2 else
                  "straddles 2: the regime is not resolved")
        pilot = gammas[gammas.case == case]
        text = f"{case}: measured gamma {interval(gm, glo, ghi)}, whose interval {regime}"
        if len(pilot):
            text += f" (pilot trajectories of the sweep: {interval(*pilot.iloc[0][['measured_gamma', 'gamma_lo', 'gamma_hi']])})"
        text += "."
        r = rates[rates.case == case].set_index("method")
        # theory at every gamma of the interval: EM gamma + 1, ML-EM max(gamma, 1 + gamma/2) (both increasing)
        theory = {"em": (glo + 1, ghi + 1), "mlem": (max(glo, 1 + glo / 2), max(ghi, 1 + ghi / 2))}
        for m, name in (("em", "EM"), ("mlem", "ML-EM")):
            if m in r.index and np.isfinite(r.loc[m, "slope"]):
                lo, hi = -r.loc[m, "slope_hi"], -r.loc[m, "slope_lo"]
                ok = overlap(lo, hi, *theory[m])
                text += (f" {name} exponent {interval(-r.loc[m, 'slope'], lo, hi)} against theory "
                         f"{theory[m][0]:.2f}..{theory[m][1]:.2f} over the gamma interval: "
                         f"{'consistent' if ok else 'not predicted'}.")
        sp = speed[(speed.case == case) & (speed.method == "em")]
        if len(sp) and np.isfinite(sp.speedup.iloc[0]):
            v = sp.iloc[0]
            text += (f" Speed-up of ML-EM over EM at error {v.common_error:.3g}: "
                     f"{interval(v.speedup, v.speedup_lo, v.speedup_hi, 1, 'x')}.")
        twin = f"{case}-twin"
        tr = rates[rates.case == twin].set_index("method")
        ts = speed[(speed.case == twin) & (speed.method == "em")]
        if len(ts) and "mlem" in tr.index:
            v = ts.iloc[0]
            text += (f" Its synthetic twin (a gamma-ladder with the measured gamma, eps_1 and c_1, same problem and "
                     f"sweep) has ML-EM exponent {interval(-tr.loc['mlem', 'slope'], -tr.loc['mlem', 'slope_hi'], -tr.loc['mlem', 'slope_lo'])} "
                     f"and speed-up {interval(v.speedup, v.speedup_lo, v.speedup_hi, 1, 'x')} at error {v.common_error:.3g}")
            if len(sp):
                agree = overlap(sp.speedup_lo.iloc[0], sp.speedup_hi.iloc[0], v.speedup_lo, v.speedup_hi)
                text += (": the twin's speed-up interval " + ("overlaps" if agree else "does not overlap")
                         + " the learned ladder's, so the gamma-ladder theory "
                         + ("predicts" if agree else "does not predict") + " the learned result at these errors")
            text += "."
        first = g.iloc[0]
        if "target" in g and isinstance(first.get("target"), str):
            text += f" Training: target {first.target}, weight {first.weight}, budget {first.budget}."
        cols = [c for c in ["level", "width", "params", "macs", "eval_ns", "steps", "train_macs", "train_s",
                            "heldout_loss", "eps"] if c in g]
        blocks += [("p", text), ("table", g[cols])]
        if results is None:
            continue
        blocks.append(("p", f"Knob values run (bias split shared by EM and ML-EM; values that give the same "
                            f"configuration as an earlier one are run once, under the first): "
                            f"{knob_grids(results, case)}."))
        st = speedup_table(results, case, g)
        if len(st):
            curves[case] = st
            be = break_even(results, case, g, float(st.error.iloc[-1]))
            blocks.append(("table", st))
            if be is not None:
                blocks.append(("table", be))
    if curves:
        blocks.append(("img", "learned_speedup.png"))
    return blocks, curves


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
    r["fitted"] = [interval(-s, -h, -lo) for s, lo, h in zip(r.slope, r.slope_lo, r.slope_hi)]
    r["theory"] = [fmt(-t) if np.isfinite(t) else "" for t in r.theory_slope]
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
    s["speed-up of ML-EM"] = [interval(v, lo, hi, 1, "x") for v, lo, hi in zip(s.speedup, s.speedup_lo, s.speedup_hi)]
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
    g["measured"] = [interval(v, lo, hi) for v, lo, hi in zip(g.measured_gamma, g.gamma_lo, g.gamma_hi)]
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
    curves = {}
    if learned is not None and len(learned):
        more, curves = learned_blocks(learned, rates, speed, gammas, results)
        blocks += more
    if skipped is not None and len(skipped):
        blocks += [("h2", "Targets not configured"),
                   ("p", "Target errors a method could not be tuned for (the ladder's finest level is too "
                         "biased); its frontier stops above them."),
                   ("table", skipped[SKIPPED_COLUMNS])]
    blocks += [("h2", "Files"),
               ("p", "results.csv/.parquet (one row per run), levels.csv/.parquet, floors.csv/.parquet, "
                     "learned.csv/.parquet (learned ladders), skipped.csv/.parquet, "
                     "rates.csv, speedup.csv, gamma.csv; plans/ and cells/ hold every task's output.")]
    return blocks, {"points": points, "rates": rates, "speed": speed, "gammas": gammas, "learned_curves": curves}
