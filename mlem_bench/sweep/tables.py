"""The sweep's tables: their columns (the results schema, written once here), how they
are stored (CSV beside Parquet, every write atomic) and read back.

Per-batch arrays (`sq_batches`, `cost_batches`) and per-level lists (`evals_per_level`,
`probs`) are list columns: Parquet stores them as list<double>; CSV shows them as
"[a, b, ...]" and `read_table` parses them back.
"""
import json
from pathlib import Path

import pandas as pd

from ..errors import SpecError
from ..files import atomic_write

RESULT_COLUMNS = ["case", "family", "gamma", "method", "config", "solver", "knob", "eps_target", "level", "n_steps",
                  "n_paths", "seed", "replicate", "cost", "error", "error_se", "top_evals", "wall_s", "pred_cost", "pred_error",
                  "ref_error", "ref_steps", "share", "switch_step", "evals_per_level", "probs", "sq_batches",
                  "cost_batches", "mean_err", "cov_err", "sw2"]
LIST_COLUMNS = ["evals_per_level", "probs", "sq_batches", "cost_batches"]
FLOOR_COLUMNS = ["case", "mean_err", "cov_err", "sw2"]
LEARNED_COLUMNS = ["case", "level", "width", "depth", "params", "macs", "eval_ns", "train_steps", "train_s",
                   "heldout_loss", "eps", "gamma_train", "gamma_train_lo", "gamma_train_hi"]
SKIPPED_COLUMNS = ["case", "replicate", "method", "eps_target", "why"]
# one row per replicate of a case: its seeds, its pilot's counted cost (all pilot paths) and
# the counted cost of its runs (sum over its cells of mean cost x paths)
REPLICATE_COLUMNS = ["case", "replicate", "ladder_seed", "sweep_seed", "pilot_cost", "pilot_paths", "run_cost",
                     "paths"]
# stem -> columns (None: columns follow the rows, as for the per-level table)
TABLES = {"results": RESULT_COLUMNS, "levels": None, "floors": FLOOR_COLUMNS, "learned": LEARNED_COLUMNS,
          "skipped": SKIPPED_COLUMNS, "replicates": REPLICATE_COLUMNS}


def save_table(df, out, stem):
    """Write df as out/stem.csv and out/stem.parquet, atomically."""
    out = Path(out)
    atomic_write(out / f"{stem}.csv", lambda p: df.to_csv(p, index=False))
    atomic_write(out / f"{stem}.parquet", lambda p: df.to_parquet(p, index=False))


def sweep_tables(rows, plans, cases):
    """{stem: DataFrame} of a finished sweep from its cell rows and plans ({(case name,
    replicate): plan}). Levels and skipped targets are per replicate; the weak-error
    floors and the learned ladder's rows are replicate 0's (the same law and networks)."""
    levels, floors, learned, skipped, reps = [], [], [], [], []
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    spent = (results.cost * results.n_paths).groupby([results.case, results.replicate]).sum()
    paths = results.groupby(["case", "replicate", "config"]).n_paths.sum().groupby(["case", "replicate"]).max()
    for c in cases:
        for r in range(c.sweep.replicates):
            p = plans[(c.name, r)]
            levels += [{"case": c.name, "replicate": r, "family": c.problem.family, "gamma": float(c.ladder.gamma),
                        **row} for row in p["levels"]]
            skipped += [{"case": c.name, "replicate": r, **row} for row in p.get("skipped", [])]
            reps.append({"case": c.name, "replicate": r, "ladder_seed": p["ladder_seed"],
                         "sweep_seed": p["sweep_seed"], "pilot_cost": p["pilot_cost"],
                         "pilot_paths": int(p["model"]["pilot"]["n_paths"]),
                         "run_cost": float(spent.get((c.name, r), 0.0)), "paths": int(paths.get((c.name, r), 0))})
        p = plans[(c.name, 0)]
        if p["floors"]:
            floors.append({"case": c.name, **p["floors"]})
        learned += [{"case": c.name, **row} for row in p.get("learned", [])]
    return {"results": results, "levels": pd.DataFrame(levels),
            "floors": pd.DataFrame(floors, columns=FLOOR_COLUMNS),
            "learned": pd.DataFrame(learned, columns=LEARNED_COLUMNS),
            "skipped": pd.DataFrame(skipped, columns=SKIPPED_COLUMNS),
            "replicates": pd.DataFrame(reps, columns=REPLICATE_COLUMNS)}


def write_tables(out, tables):
    """Store every table of `sweep_tables` in folder out (no rendering: see report.render)."""
    for stem, df in tables.items():
        save_table(df, out, stem)


def read_table(out, stem):
    """Table `stem` of a sweep folder: Parquet when present, else CSV (list columns parsed)."""
    out = Path(out)
    if (out / f"{stem}.parquet").exists():
        df = pd.read_parquet(out / f"{stem}.parquet")
        for col in LIST_COLUMNS:
            if col in df:
                df[col] = [list(v) for v in df[col]]
        return df
    if (out / f"{stem}.csv").exists():
        df = pd.read_csv(out / f"{stem}.csv")
        for col in LIST_COLUMNS:
            if col in df:
                df[col] = [json.loads(v) for v in df[col]]
        return df
    raise SpecError(f"{out}: no {stem}.parquet or {stem}.csv; run `mlem-bench run --out {out}` first")


def read_optional(out, stem):
    """An optional table (learned, skipped): empty, with its columns, when absent."""
    try:
        return read_table(out, stem)
    except SpecError:
        return pd.DataFrame(columns=TABLES[stem])


def fit_windows(out):
    """{case: [largest, smallest] fit eps or None} from the folder's sweep.json."""
    m = json.loads((Path(out) / "sweep.json").read_text())
    return {d["name"]: d.get("sweep", {}).get("fit_eps") for d in m["cases"]}
