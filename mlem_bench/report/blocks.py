"""The report as a list of blocks, ("h1"/"h2"/"p", text), ("table", DataFrame) or
("img", file), computed from a sweep's tables; `render` turns them into Markdown and HTML."""
import numpy as np
import pandas as pd

from ..analysis.curves import (EXPONENT_TOL, SPEEDUP_EXPONENT_TOL, curve_bands, exponent_table,
                               local_exponent_table, local_exponents, regularity, speedup_curves, speedup_exponents,
                               speedup_table)
from ..analysis.predict import ideal_local_exponents
from ..analysis.diagnostics import measured_gamma
from ..analysis.rates import fit_rates, pooled, predicted_points, relative_error_se, speedups
from ..sweep.tables import SKIPPED_COLUMNS
from .learned import break_even, knob_grids, learned_speedups


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


def learned_blocks(learned, rates, speed, gammas, results=None, replicates=None):
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
        st = learned_speedups(results, case, g)
        if len(st):
            curves[case] = st
            rp = replicates[replicates.case == case] if replicates is not None else []
            pilot = (float(rp.pilot_cost.median()), float(rp.pilot_wall_s.median())) if len(rp) else None
            be = break_even(results, case, g, float(st.error.iloc[-1]), pilot)
            blocks.append(("table", st))
            if be is not None:
                blocks.append(("table", be))
    if curves:
        blocks.append(("img", "learned_speedup.png"))
    return blocks, curves


def independent_draws(replicates):
    """One line: how many independent ladder draws and path sets stand behind the per-case
    counts (cases whose replicates share every ladder seed, or every path seed, are one
    experiment, whatever their cost labels), naming the cases that share them."""
    per_case = replicates.groupby("case", sort=False)
    ladders = per_case.ladder_seed.apply(lambda s: tuple(sorted(s)))
    paths = per_case.sweep_seed.apply(lambda s: tuple(sorted(s)))
    line = (f"Independence: the {len(ladders)} cases rest on {ladders.nunique()} independent sets of ladder draws "
            f"and {paths.nunique()} of paths ({int(replicates.ladder_seed.nunique())} distinct ladder seeds over "
            f"{len(replicates)} replicates)")
    shared = [" = ".join(g.index) for _, g in ladders.groupby(ladders, sort=False) if len(g) > 1]
    if shared:
        line += "; cases sharing their ladder draws (one learned family, or specs with equal seeds): " + "; ".join(shared)
    return line + "."


def replicated(results, levels, windows, replicates=None):
    """The replicated analysis of a sweep's tables: {points, rates, speed, curves, bands,
    spx, exponents, speedup, regularity, pilot, draws, warnings}."""
    points = pooled(results)
    rates = fit_rates(points, windows)
    model_rates = fit_rates(predicted_points(points), windows)
    curves = speedup_curves(points)
    n_rep = points.groupby("case").replicate.nunique().to_dict()
    bands = curve_bands(curves, n_rep)
    spx = speedup_exponents(curves)
    t = {"points": points, "rates": rates, "speed": speedups(points), "curves": curves, "bands": bands, "spx": spx,
         "exponents": exponent_table(points, rates, model_rates), "speedup": speedup_table(curves, bands, spx),
         "regularity": regularity(levels), "n_rep": n_rep}
    have = replicates is not None and len(replicates)
    t["pilot"] = pilot_table(replicates, t["speedup"], curves) if have else None
    t["draws"] = independent_draws(replicates) if have else None
    t["warnings"] = stability_warnings(t["exponents"], t["speedup"], points)
    t["local"] = local_exponent_table(local_exponents(points))
    t["ideal"] = ideal_table(points)
    return t


def ideal_table(points):
    """Per case and decade of its targets: the ideal-ladder model's local exponents of EM and
    ML-EM (`analysis.predict.ideal_local_exponents`, the case's nominal gamma)."""
    out = []
    for case, g in points.groupby("case", sort=False):
        eps = g.eps_target.unique()
        if len(eps) < 2 or eps.max() < 10 * eps.min():
            continue
        x = ideal_local_exponents(float(g.gamma.iloc[0]), eps)
        out.append(x.assign(case=case))
    cols = ["case", "eps_hi", "eps_lo", "em", "mlem"]
    return pd.concat(out)[cols] if out else pd.DataFrame(columns=cols)


def local_blocks(t):
    """The local exponents by decade: a table per case and the figure (none when no case's
    targets span a decade)."""
    loc, ideal = t["local"], t["ideal"]
    if loc is None or not len(loc) or not loc["n"].gt(0).any():
        return []
    rows = []
    for (case, hi, lo), g in loc.groupby(["case", "eps_hi", "eps_lo"], sort=False):
        q = g.set_index("quantity")
        row = {"case": case, "decade": f"{lo:.3g}-{hi:.3g}", "R": int(q["n"].max())}
        i = ideal[(ideal.case == case) & np.isclose(ideal.eps_lo, lo)]
        for m, name in (("mlem", "ML-EM"), ("em", "EM"), ("speedup-em", "speed-up")):
            if m in q.index:
                v = q.loc[m]
                row[f"{name} [boot]"] = interval(v["median"], v.lo, v.hi) if v["n"] else "no fit"
                row[f"{name} theory"] = fmt(v.theory)
            if m in ("mlem", "em") and len(i):
                row[f"{name} ideal"] = fmt(float(i[m].iloc[0]))
        rows.append(row)
    rel = np.array([relative_error_se(r) for r in t["points"].itertuples()])
    return [("h2", "Local exponents by decade"),
            ("p", "Per decade of target error (anchored at the smallest target): each method's cost exponent on "
                  "every replicate's own frontier within the decade, and the speed-up exponent d log S / d log(1/e) "
                  "as the difference of the two (S(e) on a decade's few configurations is a step function too "
                  "coarse to fit); medians over replicates with 95% bootstrap intervals. 'ideal': the "
                  "tuner's error model on an ideal geometric ladder of the same gamma over the same decade (its "
                  "finite level sums included; theory is its limit). The rates are asymptotic: read the smallest "
                  f"decade. Relative standard error of the measured errors (from their path batches): median "
                  f"{np.median(rel):.1%}, largest {rel.max():.1%} over {rel.size} configurations."),
            ("table", pd.DataFrame(rows)), ("img", "local_exponents.png")]


def pilot_table(replicates, speedup, curves):
    """Per case: the pilot (kind, levels measured, counted cost per replicate), its share of
    the run's total and of ML-EM's cost at the smallest target, and at the smallest common
    grid error the median speed-up over EM uncharged and charged (the pilot's cost per path
    of the replicate added to both methods, which both tune from it), and the break-even
    sample count: the samples after which ML-EM with its pilot is cheaper than EM without
    one, P / (C_EM - C_ML) per replicate (inf where ML-EM saves nothing), median."""
    out = []
    for case, g in replicates.groupby("case", sort=False):
        row = {"case": case, "pilot": g.pilot.iloc[0], "levels": int(g.pilot_levels.median()),
               "pilot_cost": float(g.pilot_cost.median()), "pilot_paths": int(g.pilot_paths.iloc[0]),
               "reference": g.reference.iloc[0],
               "share": float(g.pilot_cost.sum() / (g.pilot_cost.sum() + g.run_cost.sum())),
               "share_mlem_smallest": float(np.median(g.pilot_cost / g.mlem_smallest_cost))}
        s = speedup[(speedup.case == case) & (speedup.method == "em")]
        if len(s) and np.isfinite(s.error.iloc[0]):
            at = curves[(curves.case == case) & (curves.method == "em") & np.isclose(curves.error, s.error.iloc[0])]
            by = g.set_index("replicate")
            pilot, per = by.pilot_cost, by.pilot_cost / by.paths
            charged = [(r.cost_other + per[r.replicate]) / (r.cost_mlem + per[r.replicate]) for r in at.itertuples()]
            even = [pilot[r.replicate] / (r.cost_other - r.cost_mlem) if r.cost_other > r.cost_mlem else np.inf
                    for r in at.itertuples()]
            row.update(speedup=float(s.s_median.iloc[0]), speedup_charged=float(np.median(charged)),
                       break_even=float(np.median(even)))
        out.append(row)
    return pd.DataFrame(out)


def stability_warnings(exponents, speedup, points):
    """Pre-asymptotic warnings: per case, each exponent whose median fit over the smaller half
    of the errors differs from the larger half by more than its tolerance, and what to extend."""
    out = []
    checks = [(r.case, f"{r.method} exponent", r.median_large, r.median_small, EXPONENT_TOL)
              for r in exponents.itertuples() if r.method in ("em", "mlem")]
    checks += [(r.case, "speed-up exponent over EM", r.x_median_large, r.x_median_small, SPEEDUP_EXPONENT_TOL)
               for r in speedup.itertuples() if r.method == "em"]
    for case, what, big, small, tol in checks:
        if not (np.isfinite(big) and np.isfinite(small)) or abs(big - small) <= tol:
            continue
        out.append({"case": case, "what": what, "larger_half": big, "smaller_half": small, "tol": tol,
                    "extend": extend_hint(points[points.case == case])})
    return pd.DataFrame(out, columns=["case", "what", "larger_half", "smaller_half", "tol", "extend"])


def extend_hint(p):
    """What would resolve an unstable fit of a case: more paths when its smallest errors are
    not resolved by the paths (standard error over 5% of the error), more levels when ML-EM's
    finest configuration already uses the ladder's top level, else smaller target eps."""
    ml = p[p.method == "mlem"]
    smallest = ml.loc[ml.error.idxmin()] if len(ml) else None
    if smallest is not None:
        rel = relative_error_se(smallest)
        if rel > 0.05:
            return f"more paths (the smallest ML-EM error has a {rel:.0%} standard error)"
    top = int(p.level.max()) if len(p) else 0
    if smallest is not None and int(smallest.level) >= top:
        return "more levels (ML-EM's finest configuration uses the top level) and smaller eps"
    return "smaller target eps (a decade more)"


def report_blocks(results, levels, floors, windows, learned=None, skipped=None, replicates=None):
    """The report as a list of blocks: ("h", text), ("p", text), ("table", df), ("img", file);
    and the derived tables (`replicated`)."""
    t = replicated(results, levels, windows, replicates)
    points, rates, speed = t["points"], t["rates"], t["speed"]
    gammas = ladder_gammas(levels[levels.replicate == 0] if "replicate" in levels else levels)
    t["gammas"] = gammas
    n_seeds = int(results.groupby(["case", "replicate", "config"]).seed.nunique().max())
    n_rep = max(t["n_rep"].values())
    blocks = [("h1", "mlem_bench report"),
              ("p", f"{results.case.nunique()} cases, {n_rep} replicate(s) per case (each its own ladder draw, pilot "
                    f"and paths), {len(points)} configurations, {len(results)} runs ({n_seeds} seed(s) per "
                    f"replicate, {int(results.n_paths.iloc[0])} paths per run in the first case). Error: strong L2 "
                    "error at T against the exact or reference solution on the same Brownian paths. Cost: mean "
                    "counted cost per path. Speed-up S(e): cost of the cheapest configuration of the other method "
                    "with error <= e over the cheapest ML-EM configuration with error <= e, on a fixed geometric "
                    "grid of e (8 per decade) inside the range both reach; no interpolation, no extrapolation. "
                    "Intervals are over replicates: the median with a 95% percentile bootstrap interval "
                    "(resampling replicates) and the 10-90% band.")]
    blocks += summary_blocks(t)
    blocks += local_blocks(t)
    blocks += [("h2", "Speed-up curves"), ("img", "speedup_curves.png"),
               ("p", "Per case: median S(e) over replicates (line), 10-90% band (shaded), and a guide of the theory "
                     "slope through the median at the largest grid error.")]
    base = t["speedup"][t["speedup"].method != "em"]
    if len(base):
        b = base.reindex(columns=["case", "method", "error", "s_median", "s_lo", "s_hi", "x_n"]).copy()
        b["S over the baseline"] = [interval(v, lo, hi, 1, "x") if np.isfinite(v) else "no grid error every replicate reaches"
                                    for v, lo, hi in zip(b.s_median, b.s_lo, b.s_hi)]
        blocks += [("p", "Baselines: S(e) of ML-EM over each baseline at the smallest grid error every replicate of "
                         "both reaches (a baseline has no value below its plateau: it does not reach e there); "
                         "x_n: replicates with a curve."),
                   ("table", b[["case", "method", "error", "S over the baseline", "x_n"]])]
    r0 = rates[rates.replicate == 0].copy()
    r0["fitted (OLS, lack of fit)"] = [interval(-s, -h, -lo) for s, lo, h in zip(r0.slope, r0.slope_lo, r0.slope_hi)]
    blocks += [("h2", "Replicate 0 in detail"),
               ("p", "The fits of replicate 0 alone with the regression's 95% t-interval: it measures how far one "
                     "frontier's steps are from a line (lack of fit), not the spread over ladder draws and seeds."),
               ("table", r0[r0.method.isin(["em", "mlem"])][["case", "gamma", "method", "fitted (OLS, lack of fit)",
                                                           "n_points"]]),
               ("img", "regimes.png")]
    s = speed[speed.replicate == 0].copy()
    s["speed-up (jackknife over batches)"] = [interval(v, lo, hi, 1, "x")
                                               for v, lo, hi in zip(s.speedup, s.speedup_lo, s.speedup_hi)]
    blocks += [("p", "Replicate 0: speed-up at the smallest error both reach by log-log interpolation (the earlier "
                     "reading, kept for comparison; its interval covers path batches of one replicate only)."),
               ("table", s[["case", "method", "common_error", "speed-up (jackknife over batches)"]])]
    blocks += [("h2", "Work-precision frontiers"), ("img", "work_precision.png")]
    base = r0[~r0.method.isin(["em", "mlem"])]
    if len(base):
        blocks += [("p", "Fitted slopes of the baselines in replicate 0 (no rate claim):"),
                   ("table", base[["case", "method", "fitted (OLS, lack of fit)", "n_points"]])]
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
    lv0 = levels[levels.replicate == 0] if "replicate" in levels else levels
    blocks += [("table", lv0[lv0.case == c][cols]) for c in dict.fromkeys(lv0.case)]
    if results.sw2.notna().any():
        blocks += [("h2", "Weak errors"),
                   ("p", "Sliced Wasserstein-2 distance of the terminal samples to independent exact samples of "
                         "the same size, against cost; the dotted line is the same distance for exact samples, averaged "
                         "over 8 replicates (the Monte Carlo floor: near it the measurement does not resolve). Mean and "
                         "covariance errors are in results.csv with their floors in floors.csv."),
                   ("img", "weak.png"), ("table", floors)]
    curves = {}
    if learned is not None and len(learned):
        # replicate 0 (a learned case's replicates share its networks; its configurations are per replicate)
        more, curves = learned_blocks(learned, r0, speed[speed.replicate == 0], gammas,
                                      results[results.replicate == 0],
                                      None if replicates is None else replicates[replicates.replicate == 0])
        blocks += more
    if skipped is not None and len(skipped):
        blocks += [("h2", "Targets not configured"),
                   ("p", "Target errors a method could not be tuned for (the ladder's finest level is too "
                         "biased); its frontier stops above them."),
                   ("table", skipped[SKIPPED_COLUMNS])]
    blocks += [("h2", "Files"),
               ("p", "results.csv/.parquet (one row per run), levels.csv/.parquet, floors.csv/.parquet, "
                     "learned.csv/.parquet (learned ladders), skipped.csv/.parquet, "
                     "replicates.csv/.parquet (seeds, pilot and run cost per replicate), failed.csv/.parquet (cases "
                     "that failed), rates.csv (per replicate), "
                     "speedup.csv (replicate-level matched-error reading), speedup_curves.csv (S(e) per replicate), "
                     "speedup_bands.csv, exponents.csv, speedup_summary.csv, regularity.csv, gamma.csv, summary.md; "
                     "plans/ and cells/ hold every task's output.")]
    t["learned_curves"] = curves
    return blocks, t


def nested_lines(t):
    """For each case X with a twin X-nested (same case, nested ladder): the spread over
    replicates of log S at the twins' common grid error and of the ML-EM exponent, and the
    share of the independent ladder's spread that the nested one removes."""
    out = []
    curves, rates = t["curves"], t["rates"]
    for case in dict.fromkeys(curves.case):
        twin = f"{case}-nested"
        if twin not in set(curves.case):
            continue
        a, b = (curves[(curves.case == c) & (curves.method == "em")] for c in (case, twin))
        n = {c: t["n_rep"][c] for c in (case, twin)}
        common = [e for e in sorted(set(a.error) & set(b.error))
                  if (np.isclose(a.error, e).sum() == n[case]) and (np.isclose(b.error, e).sum() == n[twin])]
        parts = []
        if common:
            e = common[0]
            sa, sb = (np.std(np.log(x[np.isclose(x.error, e)].speedup), ddof=1) for x in (a, b))
            parts.append(f"the standard deviation of log S at error {e:.3g} is {sa:.2f} with independent levels and "
                         f"{sb:.2f} nested ({1 - sb ** 2 / sa ** 2:.0%} of the variance is the ladder draw's)")
        xa, xb = (-rates[(rates.case == c) & (rates.method == "mlem")].slope for c in (case, twin))
        if xa.notna().sum() > 1 and xb.notna().sum() > 1:
            va, vb = np.nanstd(xa, ddof=1), np.nanstd(xb, ddof=1)
            parts.append(f"the ML-EM exponent's standard deviation is {va:.2f} against {vb:.2f} nested")
        if parts:
            out.append(f"Nested twin of {case}: " + "; ".join(parts) + ".")
    return out


def samples(n):
    """A break-even sample count in words."""
    return "never (ML-EM saves nothing there)" if not np.isfinite(n) else f"{n:.3g} samples"


def pct(v):
    return f"{100 * v:.3g}%" if np.isfinite(v) else "n/a"


def summary_blocks(t):
    """The headline blocks (report and summary.md): every sentence with a number generated
    from the replicated tables."""
    ex, sp, reg, warn, pilot = t["exponents"], t["speedup"], t["regularity"], t["warnings"], t["pilot"]
    n_rep = t["n_rep"]
    em_sp = sp[sp.method == "em"].set_index("case")
    rows = []
    for case in dict.fromkeys(ex.case):
        e = ex[ex.case == case].set_index("method")
        row = {"case": case, "gamma": float(e.gamma.iloc[0]), "R": n_rep[case]}
        if case in em_sp.index:
            v = em_sp.loc[case]
            row["error"] = v.get("error", np.nan)
            row["S(e) median [boot] (10-90%)"] = (
                f"{interval(v.s_median, v.s_lo, v.s_hi, 1, 'x')} ({v.s_q10:.1f}-{v.s_q90:.1f})"
                if np.isfinite(v.get("s_median", np.nan)) else "not reached by all")
            row["speed-up exp. [boot]"] = interval(v.x_median, v.x_lo, v.x_hi)
            row["theory"] = fmt(v.x_theory)
        pr = pilot[pilot.case == case] if pilot is not None and len(pilot) else []
        if len(pr) and np.isfinite(pr.iloc[0].get("speedup", np.nan)):
            row["S(e) pilot charged"] = f"{pr.iloc[0].speedup_charged:.2f}x"
            row["break-even samples"] = fmt(pr.iloc[0].break_even) if np.isfinite(pr.iloc[0].break_even) else "never"
            row["within"] = f"{v.x_within}/{v.x_n}" if np.isfinite(v.x_theory) else ""
        else:
            row["S(e) median [boot] (10-90%)"] = "EM and ML-EM reach no common grid error"
        for m, name in (("mlem", "ML-EM"), ("em", "EM")):
            if m in e.index:
                v = e.loc[m]
                row[f"{name} exp. [boot]"] = interval(v["median"], v.lo, v.hi)
                row[f"{name} theory"] = fmt(v.theory)
                row[f"{name} within"] = f"{v.within}/{v.n}"
                row[f"{name} model"] = fmt(v["model"])
        rows.append(row)
    table = pd.DataFrame(rows)
    text = []
    if len(em_sp):
        have = em_sp[em_sp.x_n > 0]
        ok = have[np.abs(have.x_median - have.x_theory) <= SPEEDUP_EXPONENT_TOL]
        above = em_sp[em_sp.s_median > 1] if "s_median" in em_sp else em_sp.iloc[:0]
        text.append(f"Over {len(em_sp)} cases, the median speed-up of ML-EM over EM at the smallest grid error "
                    f"every replicate reaches is above 1 in {len(above)}; the median speed-up exponent lies within "
                    f"{SPEEDUP_EXPONENT_TOL} of theory in {len(ok)} of {len(have)}.")
    for m, name in (("mlem", "ML-EM"), ("em", "EM")):
        x = ex[(ex.method == m) & (ex.n > 0)]
        if len(x):
            close = x[np.abs(x["median"] - x.theory) <= EXPONENT_TOL]
            line = (f"{name}: the median cost exponent lies within {EXPONENT_TOL} of theory in {len(close)} of "
                    f"{len(x)} cases; {int(x.within.sum())} of {int(x.n.sum())} replicate fits do")
            xm = x[x.model_n > 0]
            if len(xm):
                near = xm[np.abs(xm["median"] - xm.model) <= EXPONENT_TOL]
                line += (f". Against the exponent the tuner's error model predicts for the same configurations "
                         f"(finite level sums and integer steps included; the theory is its limit as e -> 0): "
                         f"within {EXPONENT_TOL} in {len(near)} of {len(xm)} cases, "
                         f"{int(xm.model_within.sum())} of {int(xm.model_n.sum())} replicate fits")
            text.append(line + ".")
    if t.get("draws"):
        text.append(t["draws"])
    if pilot is not None and len(pilot):
        for r in pilot.itertuples():
            line = (f"{r.case}: the {r.pilot} pilot (levels 1-{r.levels} measured, {int(r.pilot_paths)} paths) costs "
                    f"{r.pilot_cost:.3g} units per replicate, {pct(r.share)} of the run's total and "
                    f"{pct(r.share_mlem_smallest)} of ML-EM's cost at the smallest target")
            if np.isfinite(getattr(r, "speedup", np.nan)):
                line += (f"; charged to both methods and amortised over the replicate's paths it turns the median "
                         f"speed-up {r.speedup:.1f}x into {r.speedup_charged:.2f}x, and ML-EM charged alone repays "
                         f"it after {samples(r.break_even)}")
            text.append(line + ".")
        for r in pilot[pilot.reference == "finest"].itertuples():
            text.append(f"{r.case}: errors are measured against the finest level's own SDE (fine-grid EM with the "
                        f"top level, the paper's protocol), not the exact solution; the ladder's bias floor does not "
                        f"limit either method there.")
    if len(reg):
        per = reg.groupby("case").agg(max_ratio=("max_ratio", "median"), out=("out_of_order", "sum"),
                                      reps=("replicate", "nunique"))
        bad = per[per.out > 0]
        text.append(f"Ladder regularity: terminal biases b_l out of order in {len(bad)} of {len(per)} cases "
                    f"({int(per.out.sum())} level pairs over all replicates); median largest b_(l+1)/b_l per case "
                    f"from {per.max_ratio.min():.2f} to {per.max_ratio.max():.2f}.")
    text += nested_lines(t)
    if len(warn):
        text += [f"Warning, {w.case}: the {w.what} over the smaller half of the errors ({w.smaller_half:.2f}) "
                 f"differs from the larger half ({w.larger_half:.2f}) by more than {w.tol}; pre-asymptotic or "
                 f"unresolved: extend with {w.extend}." for w in warn.itertuples()]
    else:
        text.append("No pre-asymptotic warning: in every case the fits over the two halves of the errors agree "
                    "within tolerance.")
    blocks = [("h2", "Results at a glance"),
              ("p", f"Medians over replicates with 95% bootstrap intervals; 'within': replicates within "
                    f"{EXPONENT_TOL} (cost exponents) or {SPEEDUP_EXPONENT_TOL} (speed-up exponent) of theory. "
                    "Theory: EM exponent gamma + 1, ML-EM max(gamma, 1 + gamma/2), speed-up exponent their "
                    "difference (1 for gamma >= 2, gamma/2 below). 'model': the median exponent the tuner's error "
                    "model predicts over the same targets (docs/method.md, pre-asymptotic exponents)."),
              ("table", table)]
    blocks += [("p", x) for x in text]
    return blocks
