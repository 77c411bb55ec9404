"""The report's blocks and their Markdown/HTML rendering, from the tiny sweep's tables."""
import numpy as np
import pandas as pd

from mlem_bench.report.blocks import fmt, interval, md_table, report_blocks
from mlem_bench.report.render import to_html, to_markdown
from mlem_bench.sweep.tables import fit_windows, read_optional, read_table


def test_cell_formatting():
    assert fmt(0.012345) == "0.0123" and fmt(float("nan")) == "" and fmt("em") == "em"
    assert interval(2.5, 2.1, 2.9) == "2.50 [2.10, 2.90]"
    assert interval(3.0, np.nan, 4.0, 1, "x") == "3.0x"
    assert interval(np.nan, 1, 2) == "n/a"
    table = md_table(pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}))
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.5 |", "| 2 |  |"]


def test_report_blocks_of_the_tiny_sweep(tiny_sweep):
    results, levels, floors = (read_table(tiny_sweep, s) for s in ("results", "levels", "floors"))
    blocks, derived = report_blocks(results, levels, floors, fit_windows(tiny_sweep),
                                    read_optional(tiny_sweep, "learned"), read_optional(tiny_sweep, "skipped"),
                                    read_optional(tiny_sweep, "replicates"))
    heads = [v for k, v in blocks if k == "h2"]
    for h in ("Results at a glance", "Speed-up curves", "Replicate 0 in detail", "Ladder diagnostics",
              "Weak errors", "Files"):
        assert h in heads
    # the replicated tables: one exponent row per (case, method) over both replicates, and the pilot line
    ex = derived["exponents"]
    assert set(ex.method) == set(results.method) and (ex.n <= 2).all()
    assert set(derived["rates"].replicate) == {0, 1}
    assert any(k == "p" and "pilot (levels 1-" in v and "of ML-EM's cost at the smallest target" in v for k, v in blocks)
    summary = (tiny_sweep / "summary.md").read_text()
    assert summary.startswith("## Results at a glance") and "tiny-sweep" in summary
    # every method of the sweep has a rate row, and the derived tables match the blocks
    assert set(derived["rates"].method) == set(results.method)
    assert set(derived["speed"].method) == set(results.method) - {"mlem"}
    md = to_markdown(blocks)
    assert md.startswith("# mlem_bench report") and "| case |" in md
    page = to_html(blocks, tiny_sweep)
    assert page.count("<img") == sum(k == "img" for k, _ in blocks) and "data:image/png;base64," in page
