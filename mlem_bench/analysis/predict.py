"""`mlem-bench predict`: will ML-EM pay on a ladder of one's own models, before building it?

From a small table of per-level facts, the error model of `tuning.calibrate` is filled in
and the tuner itself (`tuning.methods`, hence `tuning.configure`) configures EM and ML-EM for
a geometric grid of target errors; the predicted speed-up curve S(e) is read from the
predicted (error, cost) of those configurations by the cheapest-configuration rule
(`analysis.curves.curve_table`). Nothing of the error model is re-implemented here.

Table (CSV or TOML; docs/learned.md), one row per level l = 1..L, coarsest first:

* cost:  cost of one evaluation of f^l (any unit: multiply-adds, FLOPs, seconds)
* error: b_l, RMS terminal difference of EM with f^l against EM with the exact drift (or the
  finest model's) on the same Brownian path and grid
* delta: delta_l, RMS |f^l - f^{l-1}| along trajectories (ignored for l = 1)

and the scalars T (time horizon), c_h (EM's step-error constant: error c_h h with the exact
or finest drift; or a pilot measurement `pilot_h`, `pilot_error` giving c_h = error / h),
optionally c_v (the randomisation constant, 1 when not measured) and min_steps (8).
A CSV carries the scalars as command-line options; a TOML file as top-level keys with the
levels in [[level]] tables.
"""
import csv
import math
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ..errors import SpecError, TuningError
from ..tuning.calibrate import ErrorModel
from ..tuning.methods import METHODS
from .curves import curve_table, decades
from .rates import fit_slope, fit_window, frontier, predicted_points

LEVEL_FIELDS = ("cost", "error", "delta")
SCALARS = {"T": None, "c_h": None, "pilot_h": None, "pilot_error": None, "c_v": 1.0, "min_steps": 8}


def read_levels(path):
    """(levels [{cost, error, delta}], scalars {name: value}) of a CSV or TOML table."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such table; give a CSV or TOML file (docs/learned.md, `predict`)")
    if path.suffix == ".toml":
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"{path}: not valid TOML ({e})") from None
        rows = doc.pop("level", None)
        if not isinstance(rows, list):
            raise SpecError(f"{path}: missing [[level]] tables (one per level with cost, error, delta)")
        unknown = sorted(set(doc) - set(SCALARS))
        if unknown:
            raise SpecError(f"{path}: unknown key {unknown[0]!r}; known: {', '.join(SCALARS)} and [[level]]")
        scalars = doc
    else:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        scalars = {}
    levels = []
    for i, r in enumerate(rows, start=1):
        row = {}
        for k in LEVEL_FIELDS:
            try:
                row[k] = float(r[k])
            except (KeyError, TypeError, ValueError):
                raise SpecError(f"{path}: level {i} needs a number in column {k!r} "
                                f"(columns: {', '.join(LEVEL_FIELDS)})") from None
            if not math.isfinite(row[k]) or row[k] < 0:
                raise SpecError(f"{path}: level {i} {k} must be a finite number >= 0 (got {r[k]!r})")
        levels.append(row)
    if len(levels) < 2:
        raise SpecError(f"{path}: a ladder needs at least 2 levels (got {len(levels)})")
    cost = [r["cost"] for r in levels]
    if any(c <= 0 for c in cost) or any(a >= b for a, b in zip(cost, cost[1:])):
        raise SpecError(f"{path}: cost must be > 0 and increase with the level (got {cost})")
    return levels, scalars


def write_levels(path, levels, scalars, comments=()):
    """Write the table `read_levels` reads back unchanged: TOML (scalars as top-level keys,
    one [[level]] table per level, `comments` as leading # lines) or CSV (the levels only;
    a CSV carries no scalars: pass them to `mlem-bench predict` as options, `predict_options`).
    Floats are written by repr, so they round-trip exactly."""
    path = Path(path)
    unknown = sorted(set(scalars) - set(SCALARS))
    if unknown:
        raise ValueError(f"unknown scalar {unknown[0]!r}; known: {', '.join(SCALARS)}")
    if path.suffix == ".toml":
        lines = [f"# {c}" for c in comments]
        lines += [f"{k} = {scalars[k]!r}" for k in SCALARS if scalars.get(k) is not None]
        for r in levels:
            lines += ["", "[[level]]"] + [f"{k} = {float(r[k])!r}" for k in LEVEL_FIELDS]
        path.write_text("\n".join(lines) + "\n")
    else:
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(LEVEL_FIELDS)
            w.writerows([[repr(float(r[k])) for k in LEVEL_FIELDS] for r in levels])


def predict_options(scalars):
    """The `mlem-bench predict` options that carry `scalars` beside a CSV table."""
    flag = {"T": "--T", "c_h": "--c_h", "pilot_h": "--pilot-h", "pilot_error": "--pilot-error", "c_v": "--c_v",
            "min_steps": "--min-steps"}
    return " ".join(f"{flag[k]} {scalars[k]!r}" for k in SCALARS if scalars.get(k) is not None)


def error_model(levels, T, c_h=None, pilot_h=None, pilot_error=None, c_v=1.0, min_steps=8):
    """(ErrorModel, ladder stand-in with .levels and .cost) from per-level rows and scalars."""
    if T is None or not T > 0:
        raise SpecError(f"T (the time horizon) must be given and > 0 (got {T!r})")
    if c_h is None:
        if pilot_h is None or pilot_error is None:
            raise SpecError("give c_h (EM's step-error constant), or pilot_h and pilot_error "
                            "(a pilot's EM error at step h, c_h = error / h)")
        if not (pilot_h > 0 and pilot_error > 0):
            raise SpecError(f"pilot_h and pilot_error must be > 0 (got {pilot_h!r}, {pilot_error!r})")
        c_h = pilot_error / pilot_h
    if not c_h > 0 or not c_v > 0:
        raise SpecError(f"c_h and c_v must be > 0 (got {c_h!r}, {c_v!r})")
    bias = np.array([0.0] + [r["error"] for r in levels])
    delta = np.array([0.0, 0.0] + [r["delta"] for r in levels[1:]])
    model = ErrorModel(float(c_h), bias, float(c_v), delta, float(T), int(min_steps))
    ladder = SimpleNamespace(levels=len(levels), cost=np.array([0.0] + [r["cost"] for r in levels]))
    return model, ladder


def tuned(model, ladder, method, eps, sw):
    """[(knob, Config)] of `method` at target eps, [] when it cannot reach it."""
    try:
        return METHODS[method].configs(model, ladder, eps, sw)
    except TuningError:
        return []


def cheapest_config(model, ladder, method, eps, splits=(0.3, 0.5, 0.7), var_shares=(0.3, 0.5, 0.7), max_refine=6):
    """(knob, Config) of the cheapest configuration of `method` ("em" or "mlem") the tuner
    finds for target error eps over the knobs `predict` tries; TuningError when none reaches it."""
    sw = SimpleNamespace(em_splits=list(splits), var_shares=list(var_shares), max_refine=max_refine)
    found = tuned(model, ladder, method, eps, sw)
    if not found:
        raise TuningError(f"no {method} configuration reaches the target error {eps:g}: the finest level's error "
                          f"{model.bias[-1]:.3g} or the grid floor is too large; give a larger target")
    return min(found, key=lambda kc: kc[1].predicted_cost)


def default_grid(model, splits, n=16):
    """Target errors from twice the coarsest level's error (or the step error of the coarsest
    stable grid) down to just above what the finest level's bias allows."""
    hi = 2 * max(model.bias[1], model.c_h * model.T / model.min_steps)
    lo = 1.01 * model.bias[-1] / math.sqrt(1 - max(splits))
    lo = max(lo, hi / 100)
    return np.geomspace(hi, lo, n)


def predict(model, ladder, splits=(0.3, 0.5, 0.7), var_shares=(0.3, 0.5, 0.7), max_refine=6, eps=None):
    """Predicted configurations and speed-up curve.

    Returns (configs, curve): configs one row per (method, target eps, knob) with predicted
    error and cost, level, steps, probabilities and expected top-level evaluations per path;
    curve the `curve_table` of the predicted (error, cost) of EM and ML-EM on the targets.
    """
    sw = SimpleNamespace(em_splits=list(splits), var_shares=list(var_shares), max_refine=max_refine)
    grid = default_grid(model, splits) if eps is None else np.asarray(eps, float)
    rows = []
    for e in grid:
        for method in ("em", "mlem"):
            for knob, c in tuned(model, ladder, method, e, sw):
                p = np.asarray(c.probs)
                rows.append({"method": method, "eps_target": float(e), "knob": knob, "level": c.level,
                             "n_steps": c.n_steps, "pred_error": c.predicted_error, "pred_cost": c.predicted_cost,
                             "probs": [float(v) for v in p[1:c.level + 1]],
                             "top_evals": float(c.n_steps * (p[c.level] if method == "mlem" else 1.0))})
    configs = pd.DataFrame(rows)
    if configs.empty or set(configs.method) != {"em", "mlem"}:
        raise SpecError("no target error in the grid is reachable by both EM and ML-EM; "
                        "the finest level's error is too large for the targets (give --eps-min/--eps-max)")
    em, ml = configs[configs.method == "em"], configs[configs.method == "mlem"]
    curve = curve_table(em.pred_error, em.pred_cost, ml.pred_error, ml.pred_cost, grid=grid)
    return configs, curve.dropna(subset=["speedup"]).reset_index(drop=True)


def best_at(configs, curve):
    """Per error of the curve, the cheapest ML-EM configuration that reaches it (the one S(e) uses)."""
    ml = configs[configs.method == "mlem"]
    out = []
    for e in curve.error:
        ok = ml[ml.pred_error <= e * (1 + 1e-12)]
        if len(ok):
            c = ok.loc[ok.pred_cost.idxmin()]
            out.append({"error": e, "level": int(c.level), "n_steps": int(c.n_steps), "knob": c.knob,
                        "probs": " ".join(f"{p:.3g}" for p in c.probs), "top_evals": c.top_evals})
    return pd.DataFrame(out)


def geometric_levels(gamma, levels, eps1=0.5, delta_factor=1.5):
    """Per-level rows of an ideal ladder of `levels` levels: b_l = eps1 2^-(l-1), delta_l =
    delta_factor b_l, c_l = 2^(gamma (l-1)) — the assumptions of the rate table, exactly."""
    return [{"cost": 2.0 ** (gamma * (l - 1)), "error": eps1 * 2.0 ** -(l - 1),
             "delta": delta_factor * eps1 * 2.0 ** -(l - 1)} for l in range(1, levels + 1)]


def window_exponents(configs, windows):
    """Predicted cost exponent (-slope of log cost on log error on the frontier of the
    predicted points) of each method over each window (largest, smallest target eps).
    Returns a frame: one row per window, one column per method."""
    rows = []
    for hi, lo in windows:
        row = {"eps_hi": hi, "eps_lo": lo}
        for method, g in configs.groupby("method", sort=False):
            f = frontier(fit_window(predicted_points(g), (hi, lo)))
            row[method] = -fit_slope(f.error, f.cost)[0] if len(f) >= 3 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def ideal_exponents(gamma, eps, windows, levels=40):
    """The tuner's predicted cost exponents of EM and ML-EM at the targets `eps`, fitted over
    each window (largest, smallest target error), on the ideal geometric ladder
    (`geometric_levels`, T = 1, c_h = 1, knobs 0.5 / 0.5): what the error model itself gives
    over those targets, its finite level sums and integer steps included (the pre-asymptotic
    theory; its limit as the errors shrink is the rate table). Returns `window_exponents`'
    frame: eps_hi, eps_lo, em, mlem."""
    model, ladder = error_model(geometric_levels(gamma, levels), T=1.0, c_h=1.0)
    configs, _ = predict(model, ladder, splits=(0.5,), var_shares=(0.5,), eps=np.sort(np.asarray(eps, float))[::-1])
    return window_exponents(configs, windows)


def ideal_local_exponents(gamma, eps, levels=40):
    """`ideal_exponents` at the targets `eps` over each of their decades (`curves.decades`)."""
    return ideal_exponents(gamma, eps, decades(eps), levels)
