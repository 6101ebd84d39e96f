"""DEMO_InterpBench.ipynb runs headlessly from top to bottom on a small setting."""

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_demo_notebook_executes(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("DEMO_EXAMPLES", "8")
    monkeypatch.setenv("DEMO_OUT", str(tmp_path))
    notebook = nbformat.read(ROOT / "DEMO_InterpBench.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "AUROC" in outputs and "true circuit" in outputs and "passed" in outputs
    assert (tmp_path / "roc.png").exists() and (tmp_path / "true_circuit.png").exists()


def test_committed_notebook_holds_its_outputs():
    # a reader sees the results without running it: every code cell ran, and the ROC picture is in it
    notebook = nbformat.read(ROOT / "DEMO_InterpBench.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
