"""The sweep's tables: their columns (the results schema, written once here), how they
are stored (CSV beside Parquet, every write atomic) and read back.

Per-batch arrays (`sq_batches`, `cost_batches`) and per-level lists (`evals_per_level`,
`probs`) are list columns: Parquet stores them as list<double>; CSV shows them as
"[a, b, ...]" and `read_table` parses them back.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DamagedFileError, SpecError
from ..files import atomic_write

RESULT_COLUMNS = ["case", "family", "gamma", "method", "config", "solver", "knob", "eps_target", "level", "n_steps",
                  "n_paths", "seed", "replicate", "cost", "error", "error_se", "top_evals", "wall_s", "pred_cost",
                  "pred_error",
                  "ref_error", "ref_steps", "share", "switch_step", "evals_per_level", "probs", "sq_batches",
                  "cost_batches", "mean_err", "cov_err", "sw2"]
LIST_COLUMNS = ["evals_per_level", "probs", "sq_batches", "cost_batches"]
# The type of every results column as a cell stores it (JSON): cells are checked against it on read.
TEXT_COLUMNS = ["case", "family", "method", "solver", "knob"]
INT_COLUMNS = ["config", "level", "n_steps", "n_paths", "seed", "replicate", "ref_steps", "share", "switch_step"]
FLOOR_COLUMNS = ["case", "mean_err", "cov_err", "sw2"]
LEARNED_COLUMNS = ["case", "level", "width", "depth", "params", "macs", "eval_ns", "train_steps", "train_s",
                   "heldout_loss", "eps", "gamma_train", "gamma_train_lo", "gamma_train_hi", "target", "weight",
                   "budget", "steps", "train_macs"]
SKIPPED_COLUMNS = ["case", "replicate", "method", "eps_target", "why"]
FAILED_COLUMNS = ["case", "stage", "reason"]      # cases that failed (sweep.failures), none in the other tables
# one row per replicate of a case: its seeds, its pilot (kind, counted cost over all pilot
# paths, levels measured, wall time), the counted cost of its runs (sum over its cells of mean
# cost x paths) and of ML-EM's configurations at its smallest target, and what its errors are
# measured against ([sweep].reference)
REPLICATE_COLUMNS = ["case", "replicate", "ladder_seed", "sweep_seed", "pilot", "pilot_cost", "pilot_paths",
                     "pilot_levels", "pilot_wall_s", "run_cost", "mlem_smallest_cost", "paths", "reference"]
# stem -> columns (None: columns follow the rows, as for the per-level table)
TABLES = {"results": RESULT_COLUMNS, "levels": None, "floors": FLOOR_COLUMNS, "learned": LEARNED_COLUMNS,
          "skipped": SKIPPED_COLUMNS, "replicates": REPLICATE_COLUMNS, "failed": FAILED_COLUMNS}


def row_problem(row):
    """None when `row` is a complete results row (every column of RESULT_COLUMNS, of its
    type), else what is wrong with it (one line)."""
    if not isinstance(row, dict):
        return f"a results row must be a JSON object (got {type(row).__name__})"
    missing = [c for c in RESULT_COLUMNS if c not in row]
    if missing:
        return f"missing column {missing[0]!r} ({len(missing)} of {len(RESULT_COLUMNS)} missing)"
    extra = sorted(set(row) - set(RESULT_COLUMNS))
    if extra:
        return f"unknown column {extra[0]!r}"
    for col in RESULT_COLUMNS:
        v = row[col]
        if col in TEXT_COLUMNS:
            ok = isinstance(v, str)
        elif col in INT_COLUMNS:
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif col in LIST_COLUMNS:
            ok = isinstance(v, list) and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v)
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            return f"column {col!r} has the wrong type ({type(v).__name__} {str(v)[:40]})"
    return None


def save_table(df, out, stem):
    """Write df as out/stem.csv and out/stem.parquet, atomically."""
    out = Path(out)
    atomic_write(out / f"{stem}.csv", lambda p: df.to_csv(p, index=False))
    atomic_write(out / f"{stem}.parquet", lambda p: df.to_parquet(p, index=False))


def sweep_tables(rows, plans, cases, failed=()):
    """{stem: DataFrame} of a finished sweep from its cell rows and plans ({(case name,
    replicate): plan}) of the cases that finished, and the failure records {"case",
    "stage", "reason"} of the others. Levels and skipped targets are per replicate; the
    weak-error floors and the learned ladder's rows are replicate 0's (the same law and
    networks)."""
    levels, floors, learned, skipped, reps = [], [], [], [], []
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    spent = (results.cost * results.n_paths).groupby([results.case, results.replicate]).sum()
    paths = results.groupby(["case", "replicate", "config"]).n_paths.sum().groupby(["case", "replicate"]).max()
    # ML-EM's counted cost at the replicate's smallest target, every configuration run there
    ml = results[results.method == "mlem"]
    ml = ml[ml.eps_target == ml.groupby(["case", "replicate"]).eps_target.transform("min")]
    ml_smallest = (ml.cost * ml.n_paths).groupby([ml.case, ml.replicate]).sum()
    for c in cases:
        for r in range(c.sweep.replicates):
            p = plans[(c.name, r)]
            pilot = p["model"]["pilot"]
            levels += [{"case": c.name, "replicate": r, "family": c.problem.family, "gamma": float(c.ladder.gamma),
                        **row} for row in p["levels"]]
            skipped += [{"case": c.name, "replicate": r, **row} for row in p.get("skipped", [])]
            reps.append({"case": c.name, "replicate": r, "ladder_seed": p["ladder_seed"],
                         "sweep_seed": p["sweep_seed"], "pilot": pilot["kind"], "pilot_cost": p["pilot_cost"],
                         "pilot_paths": int(pilot["n_paths"]),
                         "pilot_levels": int(pilot["measured_levels"]), "pilot_wall_s": float(pilot["wall_s"]),
                         "run_cost": float(spent.get((c.name, r), 0.0)),
                         "mlem_smallest_cost": float(ml_smallest.get((c.name, r), np.nan)),
                         "paths": int(paths.get((c.name, r), 0)),
                         "reference": c.sweep.reference})
        p = plans[(c.name, 0)]
        if p["floors"]:
            floors.append({"case": c.name, **p["floors"]})
        learned += [{"case": c.name, **row} for row in p.get("learned", [])]
    return {"results": results, "levels": pd.DataFrame(levels),
            "floors": pd.DataFrame(floors, columns=FLOOR_COLUMNS),
            "learned": pd.DataFrame(learned, columns=LEARNED_COLUMNS),
            "skipped": pd.DataFrame(skipped, columns=SKIPPED_COLUMNS),
            "replicates": pd.DataFrame(reps, columns=REPLICATE_COLUMNS),
            "failed": pd.DataFrame(list(failed), columns=FAILED_COLUMNS)}


def write_tables(out, tables):
    """Store every table of `sweep_tables` in folder out (no rendering: see report.render)."""
    for stem, df in tables.items():
        save_table(df, out, stem)


def read_table(out, stem):
    """Table `stem` of a sweep folder: Parquet when present, else CSV (list columns parsed)."""
    out = Path(out)
    for path, read, parse in ((out / f"{stem}.parquet", pd.read_parquet, list),
                              (out / f"{stem}.csv", pd.read_csv, json.loads)):
        if not path.exists():
            continue
        try:
            df = read(path)
            for col in LIST_COLUMNS:
                if col in df:
                    df[col] = [parse(v) for v in df[col]]
        except Exception as e:      # pyarrow, pandas and json each raise their own kind
            why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise DamagedFileError(path, f"cannot be read as a table ({why}); rewrite the tables with "
                                         f"`mlem-bench run SPEC... --out {out} --resume` (finished cells are kept)") from None
        if TABLES.get(stem) and not set(TABLES[stem]) <= set(df.columns):
            raise DamagedFileError(path, f"lacks columns of the {stem} table; rewrite the tables with "
                                         f"`mlem-bench run SPEC... --out {out} --resume`")
        return df
    raise SpecError(f"{out}: no {stem}.parquet or {stem}.csv; run `mlem-bench run --out {out}` first")


def read_optional(out, stem):
    """An optional table (learned, skipped): empty, with its columns, when absent."""
    out = Path(out)
    if not any((out / f"{stem}.{ext}").exists() for ext in ("parquet", "csv")):
        return pd.DataFrame(columns=TABLES[stem])
    return read_table(out, stem)


def fit_windows(out):
    """{case: [largest, smallest] fit eps or None} from the folder's sweep.json."""
    path = Path(out) / "sweep.json"
    try:
        m = json.loads(path.read_bytes().decode("utf-8"))
        return {d["name"]: d.get("sweep", {}).get("fit_eps") for d in m["cases"]}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise DamagedFileError(path, f"not a sweep manifest ({type(e).__name__}); rerun `mlem-bench run SPEC... "
                                     f"--out {out} --resume` to rewrite it") from None
