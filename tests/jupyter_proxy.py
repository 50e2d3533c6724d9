"""A real Jupyter server with jupyter-server-proxy, as on Binder: pages are opened at /proxy/<port>/..."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import pytest

TOKEN = "course-test-token"


@pytest.fixture(scope="session")
def jupyter_proxy():
    """The base URL of a Jupyter server whose proxy forwards {base}/proxy/<port>/path to 127.0.0.1:<port>/path.

    Use ``f"{base}/proxy/{server.port}/static/page.html?token={TOKEN}"``: the token logs the browser
    in (Jupyter sets a cookie), and the page's websockets and streams then pass through the proxy.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tempfile.mkdtemp(prefix="course-jupyter-")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=home, JUPYTER_DATA_DIR=home, JUPYTER_RUNTIME_DIR=home)
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={home}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/api", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Jupyter server did not start")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)
