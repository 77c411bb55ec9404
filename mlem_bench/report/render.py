"""Rendering a sweep folder's report (Markdown, self-contained HTML, figures and derived
tables) from its stored tables alone: `mlem-bench report DIR`."""
import base64
import html
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis.rates import fit_rates, pooled, speedups
from ..files import atomic_write
from ..sweep.tables import fit_windows, read_optional, read_table
from .blocks import fmt, ladder_gammas, md_table, report_blocks, summary_blocks
from .figures import (plot_frontiers, plot_ladders, plot_local_exponents, plot_regimes, plot_speedup_curves,
                      plot_speedup_lines, plot_top_evals)


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
            out += [md_table(v), ""]
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
            parts.append(v.map(fmt).to_html(index=False, escape=True))
        elif kind == "img":
            data = base64.b64encode((Path(folder) / v).read_bytes()).decode()
            parts.append(f"<img alt='{html.escape(v)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_report(out):
    """Render every derived table, figure, the report and summary.md of sweep folder `out`
    from its stored tables; returns the derived tables (`blocks.replicated`, with gammas)."""
    out = Path(out)
    results, levels, floors = (read_table(out, stem) for stem in ("results", "levels", "floors"))
    blocks, t = report_blocks(results, levels, floors, fit_windows(out), read_optional(out, "learned"),
                              read_optional(out, "skipped"), read_optional(out, "replicates"))
    # figures of single frontiers show replicate 0; the curves figure shows every replicate
    points, rates = (t[k][t[k].replicate == 0] for k in ("points", "rates"))
    lv0 = levels[levels.replicate == 0] if "replicate" in levels else levels
    atomic_write(out / "work_precision.png", lambda p: plot_frontiers(points, rates, p))
    atomic_write(out / "regimes.png", lambda p: plot_regimes(rates, p))
    atomic_write(out / "top_evals.png", lambda p: plot_top_evals(points, p))
    atomic_write(out / "ladder.png", lambda p: plot_ladders(lv0, t["gammas"], p))
    atomic_write(out / "speedup_curves.png", lambda p: plot_speedup_curves(t["bands"], t["spx"], p))
    if t["local"]["n"].gt(0).any():
        atomic_write(out / "local_exponents.png", lambda p: plot_local_exponents(t["local"], t["ideal"], p))
    if results.sw2.notna().any():
        atomic_write(out / "weak.png", lambda p: plot_frontiers(points, rates, p, y="sw2", ylabel="sliced W2 to exact",
                                                                 floors=floors))
    if t["learned_curves"]:
        curves = {f"{case} {col}": c.rename(columns={col: "speedup"})
                  for case, c in t["learned_curves"].items() for col in ("S macs", "S time", "S predicted", "twin S")
                  if col in c}
        atomic_write(out / "learned_speedup.png", lambda p: plot_speedup_lines(curves, p))
    derived = {"rates": t["rates"].drop(columns="intercept"), "speedup": t["speed"], "gamma": t["gammas"],
               "speedup_curves": t["curves"], "speedup_bands": t["bands"], "exponents": t["exponents"],
               "speedup_summary": t["speedup"], "regularity": t["regularity"], "local_exponents": t["local"],
               "ideal_exponents": t["ideal"]}
    for stem, df in derived.items():
        atomic_write(out / f"{stem}.csv", lambda p, df=df: df.to_csv(p, index=False))
    atomic_write(out / "report.md", lambda p: Path(p).write_text(to_markdown(blocks)))
    atomic_write(out / "report.html", lambda p: Path(p).write_text(to_html(blocks, out)))
    atomic_write(out / "summary.md", lambda p: Path(p).write_text(to_markdown(summary_blocks(t))))
    return t


@dataclass
class NotebookTables:
    """What the notebooks plot: a sweep folder's tables and the analysis derived from them."""

    folder: Path
    results: pd.DataFrame
    points: pd.DataFrame
    rates: pd.DataFrame
    speedups: pd.DataFrame
    levels: pd.DataFrame
    gammas: pd.DataFrame
    floors: pd.DataFrame


def notebook_tables(folder=None, small_spec=None):
    """Tables of replicate 0 of sweep folder `folder` (default: $MLEM_RESULTS). Without either, the
    small sweep `small_spec` (a spec path the notebook names) is run into a temporary folder."""
    folder = folder or os.environ.get("MLEM_RESULTS")
    if not folder:
        from ..sweep.driver import run_sweep
        from ..sweep.spec import load_case
        if small_spec is None:
            raise ValueError("notebook_tables needs a sweep folder, $MLEM_RESULTS, or a small spec to run")
        folder = Path(tempfile.mkdtemp(prefix="mlem-nb-")) / "results"
        print(f"MLEM_RESULTS not set: running the small sweep {Path(small_spec).name} into {folder}")
        run_sweep([load_case(small_spec)], folder, progress=False)
    results, levels, floors = (read_table(folder, stem) for stem in ("results", "levels", "floors"))
    # the notebooks draw single frontiers: replicate 0 (the report's curves show every replicate)
    if "replicate" in results:
        results = results[results.replicate == 0]
    if "replicate" in levels:
        levels = levels[levels.replicate == 0]
    points = pooled(results)
    return NotebookTables(Path(folder), results, points, fit_rates(points, fit_windows(folder)), speedups(points),
                          levels, ladder_gammas(levels), floors)
