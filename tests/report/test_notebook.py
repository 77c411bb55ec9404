"""The notebooks: paired with their plain-text scripts, stored without outputs, and
executed against a real results folder (the tiny sweep)."""

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from helpers import ROOT

NOTEBOOKS = ["work_precision", "regimes", "ladder_diagnostics"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_paired_and_stripped(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    script = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    assert [c.source for c in nb.cells] == [c.source for c in script.cells], \
        f"notebooks/{name}.ipynb is out of sync with {name}.py: run jupytext --sync notebooks/{name}.py"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, tiny_sweep, monkeypatch):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    monkeypatch.setenv("MLEM_RESULTS", str(tiny_sweep))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
