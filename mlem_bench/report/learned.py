"""The learned ladders' section of the report: per-level table, gamma, speed-up curves of
ML-EM over EM in two currencies (counted multiply-adds and measured time), the tuner's
prediction and the synthetic twin's beside them, and the training-cost break-even.

Time cost of a configuration: its mean evaluations of each level per path (results'
`evals_per_level`) times that level's measured time per evaluation (`eval_ns` of
family.json, batched as the sampler calls it); so both currencies are read from the same
configurations (the same frontiers). The predicted curve is the same cheapest-configuration
rule applied to the tuner's predicted (error, cost) of those configurations, i.e. what
`mlem-bench predict` prints for the ladder's pilot table.
"""
import numpy as np
import pandas as pd

from ..analysis.curves import curve_table, time_cost


def config_table(results, case, learned=None):
    """One row per (method, config) of `case` (EM and ML-EM): pooled error and counted cost,
    predicted error and cost, level, and (for a learned case) the measured-time cost in ns."""
    r = results[(results.case == case) & results.method.isin(["em", "mlem"])]
    if learned is not None and len(learned):
        ns = learned.sort_values("level").eval_ns.to_numpy(float)
        r = r.assign(time_ns=[time_cost(ev, ns) for ev in r.evals_per_level])
    else:
        r = r.assign(time_ns=np.nan)
    rows = []
    for (method, config), g in r.groupby(["method", "config"], sort=False):
        rows.append({"method": method, "config": config, "level": int(g.level.iloc[0]), "knob": g.knob.iloc[0],
                     "error": float(np.sqrt(np.mean(g.error ** 2))), "cost": float(g.cost.mean()),
                     "time_ns": float(g.time_ns.mean()), "pred_error": float(g.pred_error.iloc[0]),
                     "pred_cost": float(g.pred_cost.iloc[0])})
    return pd.DataFrame(rows)


def curve_of(t, err="error", cost="cost", grid=None):
    em, ml = t[t.method == "em"], t[t.method == "mlem"]
    if em.empty or ml.empty:
        return None
    return curve_table(em[err], em[cost], ml[err], ml[cost], grid=grid)


def learned_speedups(results, case, learned):
    """S(e) of a learned case on one grid of errors: measured in multiply-adds and in time,
    predicted by the tuner's error model, and the synthetic twin's (measured, predicted)."""
    t = config_table(results, case, learned)
    base = curve_of(t)
    if base is None or base.empty:
        return pd.DataFrame()
    grid = base.error.to_numpy()
    out = pd.DataFrame({"error": grid, "EM macs": base.cost_em, "ML-EM macs": base.cost_mlem,
                        "S macs": base.speedup,
                        "S time": curve_of(t, cost="time_ns", grid=grid).speedup,
                        "S predicted": curve_of(t, err="pred_error", cost="pred_cost", grid=grid).speedup})
    tw = config_table(results, f"{case}-twin")
    if len(tw):
        out["twin S"] = curve_of(tw, grid=grid).speedup
        out["twin S predicted"] = curve_of(tw, err="pred_error", cost="pred_cost", grid=grid).speedup
    return out


def break_even(results, case, learned, at, pilot=None):
    """Training and pilot cost against ML-EM's saving at error `at`: the extra levels'
    training (multiply-adds, or seconds) that ML-EM needs beyond EM's single network, the
    saving per sample (multiply-adds, or seconds), and the number of samples after which the
    saving repays the training ("never" when ML-EM saves nothing there); with `pilot`
    ((counted cost, seconds) of one pilot), also the samples that repay the pilot alone and
    the training and the pilot together (ML-EM charged for its pilot, EM not)."""
    t = config_table(results, case, learned)
    lv = learned.sort_values("level")
    tm = dict(zip(lv.level, lv.train_macs.astype(float)))
    ts = dict(zip(lv.level, lv.train_s.astype(float)))
    rows = []
    pick = {}
    for m in ("em", "mlem"):
        ok = t[(t.method == m) & (t.error <= at * (1 + 1e-12))]
        if ok.empty:
            return None
        pick[m] = ok.loc[ok.cost.idxmin()], ok.loc[ok.time_ns.idxmin()]
    for currency, col, train, unit in (("multiply-adds", "cost", tm, 1.0), ("time", "time_ns", ts, 1e-9)):
        em, ml = (pick["em"][0], pick["mlem"][0]) if col == "cost" else (pick["em"][1], pick["mlem"][1])
        extra = sum(train[l] for l in range(1, int(ml.level) + 1)) - train[int(em.level)]
        saving = (em[col] - ml[col]) * unit
        # "never": ML-EM saves nothing per sample at this error in this currency
        n = f"{max(extra, 0.0) / saving:.3g}" if saving > 0 else "never"
        row = {"currency": currency, "error": at, "EM level": int(em.level), "ML-EM top level": int(ml.level),
               "extra training": extra, "saving per sample": saving, "break-even samples": n}
        if pilot is not None:
            p = pilot[0] if col == "cost" else pilot[1]
            row.update({"pilot": p, "break-even, pilot": f"{p / saving:.3g}" if saving > 0 else "never",
                        "break-even, training + pilot": f"{(max(extra, 0.0) + p) / saving:.3g}" if saving > 0
                        else "never"})
        rows.append(row)
    return pd.DataFrame(rows)


def knob_grids(results, case):
    """Each method's knob values in the case, as run (one line)."""
    r = results[results.case == case]
    parts = []
    for m, name in (("em", "EM"), ("mlem", "ML-EM")):
        knobs = sorted(set(r[r.method == m].knob))
        if knobs:
            parts.append(f"{name}: {'; '.join(knobs)}")
    return ". ".join(parts)
