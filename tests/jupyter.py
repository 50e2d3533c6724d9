"""A real Jupyter server for the tests, started the way a hub or a learner starts one.

``jupyter_server(tmp, base_url)`` runs ``jupyter server`` (or ``jupyter lab``) with
jupyter-server-proxy on loopback, token auth and a hub-like base URL, in a temporary
home, and stops it and its kernels afterwards. ``Kernel`` is a kernel started through
its REST API and driven over its websocket, like a notebook's cells.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psutil
import pytest
import websockets.sync.client

from conftest import ROOT

BASE_URL = "/user/learner/"
TOKEN = "course-test-token"
AUTH = {"Authorization": f"token {TOKEN}"}


class Jupyter:
    """A Jupyter server subprocess: its origin (``http://127.0.0.1:PORT``) and its base URL."""

    def __init__(self, process: subprocess.Popen, port: int, base_url: str = BASE_URL) -> None:
        self.process, self.port, self.base_url = process, port, base_url
        self.origin = f"http://127.0.0.1:{port}"
        self.url = self.origin + base_url

    def proxy(self, port: int, path: str = "/", scheme: str = "http") -> str:
        """The address a browser uses for ``path`` on the kernel's ``port``."""
        return f"{scheme}://{self.origin.split('://')[1]}{self.base_url}proxy/{port}{path}"


class Kernel:
    """A kernel started through the server's REST API, driven over its websocket."""

    def __init__(self, jupyter: Jupyter) -> None:
        response = httpx.post(jupyter.url + "api/kernels", json={"name": "python3"},
                              headers=AUTH, trust_env=False, timeout=30)
        response.raise_for_status()
        self.id = response.json()["id"]
        self.jupyter = jupyter
        self.session = uuid.uuid4().hex
        channels = jupyter.url.replace("http", "ws", 1) + f"api/kernels/{self.id}/channels"
        self.socket = websockets.sync.client.connect(
            f"{channels}?session_id={self.session}", additional_headers=AUTH, proxy=None,
            max_size=None, open_timeout=30, legacy=True)

    def execute(self, code: str, timeout: float = 30) -> str:
        """Run ``code`` in the kernel like a notebook cell; return its stdout, raise on error."""
        msg_id = uuid.uuid4().hex
        self.socket.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "learner",
                       "session": self.session, "version": "5.3",
                       "date": datetime.now(timezone.utc).isoformat()},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        stdout, deadline = [], time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                raise AssertionError("the cell failed:\n" + "\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(stdout)

    def shutdown(self) -> None:
        try:
            self.execute("from course import stop_all; stop_all()", timeout=10)
        finally:
            self.socket.close()
            httpx.delete(self.jupyter.url + f"api/kernels/{self.id}", headers=AUTH,
                         trust_env=False, timeout=30)


def _stop(process: subprocess.Popen) -> None:
    """Stop the server, then anything it left behind (its kernels), by process id."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def _wait_for_port(process: subprocess.Popen, runtime: Path, log: Path) -> int:
    """The server writes jpserver-PID.json (with its port) once it listens."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("jupyter server did not start:\n" + log.read_text()[-3000:])
        for found in glob.glob(str(runtime / "jpserver-*.json")):
            try:
                return json.loads(Path(found).read_text())["port"]
            except (json.JSONDecodeError, KeyError):  # caught while being written
                pass
        time.sleep(0.1)
    pytest.fail("jupyter server took over 60 s to start")


@contextlib.contextmanager
def jupyter_server(home: Path, base_url: str = BASE_URL, lab: bool = False, hub_prefix: bool = True,
                   remote_access: bool = False):
    """``jupyter server`` (or ``jupyter lab``) with jupyter-server-proxy, as a hub starts it for "learner".

    ``hub_prefix`` sets ``JUPYTERHUB_SERVICE_PREFIX`` for the kernels, as Binder and hubs do;
    ``remote_access`` lets browsers in that call the server by another name than localhost
    (a lab server or hub does; otherwise Jupyter answers 403 to protect against DNS rebinding).
    """
    runtime = home / "runtime"
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(runtime),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    if hub_prefix:
        env["JUPYTERHUB_SERVICE_PREFIX"] = base_url  # what Binder and JupyterHub set for kernels
    env.pop("COURSE_PROXY_PREFIX", None)
    log = open(home / "server.log", "wb")  # a file, not a pipe: a full pipe would stall the server
    app = ["jupyterlab", "--LabApp.expose_app_in_browser=True", f"--LabApp.workspaces_dir={home / 'ws'}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"] \
        if lab else ["jupyter_server"]
    process = subprocess.Popen(
        [sys.executable, "-m", *app, "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
         "--ServerApp.port_retries=0", f"--ServerApp.base_url={base_url}",
         f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False",
         "--ServerApp.allow_root=True", f"--ServerApp.root_dir={ROOT}",
         '--ServerApp.jpserver_extensions=jupyter_server_proxy=True',
         f"--ServerApp.allow_remote_access={remote_access}"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield Jupyter(process, _wait_for_port(process, runtime, home / "server.log"), base_url)
    finally:
        _stop(process)
        log.close()
