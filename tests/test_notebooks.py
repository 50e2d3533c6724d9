"""Every notebook runs top to bottom in a fresh kernel, and is committed clean."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import NOTEBOOKS, ROOT, notebook_paths

NOTEBOOKS_FOUND = notebook_paths()
CELL_TIMEOUT = 180

# Appended to every notebook under test: "Run all" must leave nothing running.
LEFTOVERS = """
import threading, psutil
servers = [t.name for t in threading.enumerate() if t.name.startswith("serve:")]
children = [p.cmdline() for p in psutil.Process().children(recursive=True)]
assert not servers, f"servers still running after the last cell: {servers}"
assert not children, f"subprocesses still running after the last cell: {children}"
"""


def test_there_are_notebooks():
    assert NOTEBOOKS_FOUND, f"no NN_topic.ipynb notebooks found in {NOTEBOOKS}"
    assert NOTEBOOKS_FOUND[0].name == "00_start_here.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS_FOUND, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"cell {index} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS_FOUND, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(LEFTOVERS))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                raise AssertionError(f"cell {index} raised {output['ename']}: {output['evalue']}")
            text = output.get("text", "")
            if output.get("name") == "stderr" and "Traceback" in text:
                raise AssertionError(f"cell {index} printed a traceback:\n{text}")
