"""The kit inside a real Jupyter kernel: interrupts, re-run cells, sync and await cells."""

from __future__ import annotations

import os
import time

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import ROOT

APP = """
import asyncio, threading, httpx
from quart import Quart
from course import serve

app = Quart("in-kernel")

@app.get("/")
async def index():
    return {"ok": True}
"""


@pytest.fixture
def kernel():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT))
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run(client, code: str, timeout: float = 60) -> dict:
    """Execute a cell; return its text output, error (if any) and status."""
    msg_id = client.execute(code)
    result = {"stdout": "", "error": None}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            result["stdout"] += content["text"]
        elif kind == "error":
            result["error"] = content["ename"]
        elif kind == "status" and content["execution_state"] == "idle":
            return result
    raise TimeoutError(code)


def test_interrupting_the_kernel_does_not_stop_the_server(kernel):
    manager, client = kernel
    assert run(client, APP + "server = serve(app)")["error"] is None
    msg_id = client.execute("import time; time.sleep(30)")
    time.sleep(1)
    manager.interrupt_kernel()
    reply = client.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:  # replies to earlier cells
        reply = client.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    out = run(client, "print(httpx.get(server.url + '/').json())")
    assert out["stdout"].strip() == "{'ok': True}"


def test_rerunning_the_serving_cell_replaces_the_server(kernel):
    _, client = kernel
    for _ in range(3):
        assert run(client, APP + "server = serve(app)")["error"] is None
    out = run(client, "print(len([t for t in threading.enumerate() if t.name.startswith('serve:')]))")
    assert out["stdout"].strip() == "1"


def test_sync_and_await_cells_both_reach_the_server(kernel):
    _, client = kernel
    run(client, APP + "server = serve(app)")
    assert run(client, "print(httpx.get(server.url + '/').status_code)")["stdout"].strip() == "200"
    code = "async with httpx.AsyncClient() as c:\n    print((await c.get(server.url + '/')).status_code)"
    assert run(client, code)["stdout"].strip() == "200"
    assert run(client, "server.stop(); print(server.running)")["stdout"].strip() == "False"
