"""Every notebook runs top to bottom in a fresh kernel, leaves nothing behind, and is committed clean.

The learner's servers stay up after "Run all" (so the pages they look at stay alive); the
harness then stops them the way a kernel shutdown does (``stop_all()``) and proves that no
server thread and no child process is left.
"""

from __future__ import annotations

import json
import os
import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import NOTEBOOKS, ROOT, notebook_paths

NOTEBOOKS_FOUND = notebook_paths()
CELL_TIMEOUT = 120

STOP_AND_CHECK = """
import threading, time, psutil
from course import stop_all
stop_all()
deadline = time.monotonic() + 10
while True:
    servers = [t.name for t in threading.enumerate() if t.name.startswith("serve:")]
    children = [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
    if not (servers or children) or time.monotonic() > deadline:
        break
    time.sleep(0.05)
assert not servers, f"servers still running after stop_all(): {servers}"
assert not children, f"subprocesses still running after stop_all(): {[p.cmdline() for p in children]}"
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
def test_notebook_runs_top_to_bottom(path, record_property):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(STOP_AND_CHECK))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # An error in any cell raises CellExecutionError here, naming the cell and its traceback.
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}, record_timing=True)
    started = time.perf_counter()
    client.execute(env=env)
    record_property("seconds", round(time.perf_counter() - started, 1))
    record_property("slowest_cell", max((_seconds(cell), index) for index, cell in enumerate(notebook.cells)))
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            assert not (output.get("name") == "stderr" and "Traceback" in text), \
                f"cell {index} printed a traceback:\n{text}"


def _seconds(cell) -> float:
    """How long a cell ran, from the timing nbclient records in its metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    from datetime import datetime

    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return round((parse(end) - parse(start)).total_seconds(), 2)
