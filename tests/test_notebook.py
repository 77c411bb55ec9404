"""The notebook executes against real results written by the CLI."""
import os
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

from conftest import ROOT


def test_work_precision_notebook_runs(tmp_path):
    out = tmp_path / "results"
    r = subprocess.run([sys.executable, "-m", "mlem_bench.cli", "run", str(ROOT / "tests" / "data" / "tiny-ou.toml"),
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    nb = nbformat.read(ROOT / "notebooks" / "work_precision.ipynb", as_version=4)
    os.environ["MLEM_RESULTS"] = str(out)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        del os.environ["MLEM_RESULTS"]
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("slope" in str(o.get("data", {})) for o in outputs)
