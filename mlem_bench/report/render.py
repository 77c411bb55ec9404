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
from .blocks import fmt, ladder_gammas, md_table, report_blocks
from .figures import plot_frontiers, plot_ladders, plot_regimes, plot_top_evals, speedup_curves


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
    """Render every derived table, figure and the report of sweep folder `out` from its
    stored tables (results, levels, floors); returns (rates, speed, gammas)."""
    out = Path(out)
    results, levels, floors = (read_table(out, stem) for stem in ("results", "levels", "floors"))
    blocks, t = report_blocks(results, levels, floors, fit_windows(out), read_optional(out, "learned"),
                              read_optional(out, "skipped"))
    points, rates = t["points"], t["rates"]
    atomic_write(out / "work_precision.png", lambda p: plot_frontiers(points, rates, p))
    atomic_write(out / "regimes.png", lambda p: plot_regimes(rates, p))
    atomic_write(out / "top_evals.png", lambda p: plot_top_evals(points, p))
    atomic_write(out / "ladder.png", lambda p: plot_ladders(levels, t["gammas"], p))
    if results.sw2.notna().any():
        atomic_write(out / "weak.png", lambda p: plot_frontiers(points, rates, p, y="sw2", ylabel="sliced W2 to exact",
                                                                 floors=floors))
    if t["learned_curves"]:
        curves = {f"{case} {col}": c.rename(columns={col: "speedup"})
                  for case, c in t["learned_curves"].items() for col in ("S macs", "S time", "S predicted", "twin S")
                  if col in c}
        atomic_write(out / "learned_speedup.png", lambda p: speedup_curves(curves, p))
    atomic_write(out / "rates.csv", lambda p: rates.drop(columns="intercept").to_csv(p, index=False))
    atomic_write(out / "speedup.csv", lambda p: t["speed"].to_csv(p, index=False))
    atomic_write(out / "gamma.csv", lambda p: t["gammas"].to_csv(p, index=False))
    atomic_write(out / "report.md", lambda p: Path(p).write_text(to_markdown(blocks)))
    atomic_write(out / "report.html", lambda p: Path(p).write_text(to_html(blocks, out)))
    return rates, t["speed"], t["gammas"]


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
    """Tables of sweep folder `folder` (default: $MLEM_RESULTS). Without either, the
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
    points = pooled(results)
    return NotebookTables(Path(folder), results, points, fit_rates(points, fit_windows(folder)), speedups(points),
                          levels, ladder_gammas(levels), floors)
