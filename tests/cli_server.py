"""Run an app under the real ``hypercorn`` or ``uvicorn`` command, on a port the OS picks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from conftest import ROOT


@contextlib.contextmanager
def cli_server(kind: str, target: str, env: dict | None = None, ready_path: str = "/"):
    """Yield the base URL of ``target`` ("apps.x:app") served by ``kind`` ("hypercorn"/"uvicorn").

    The test binds port 0 itself and hands the listening socket over as a file
    descriptor, so no port is ever guessed. The server runs in its own process
    group: Hypercorn's CLI forks a worker, and both must go.
    """
    sock = socket.create_server(("127.0.0.1", 0))
    fd = sock.fileno()
    if kind == "hypercorn":
        command = [sys.executable, "-m", "hypercorn", "--bind", f"fd://{fd}", target]
    else:
        command = [sys.executable, "-m", "uvicorn", "--fd", str(fd), "--log-level", "warning", target]
    process = subprocess.Popen(command, cwd=ROOT, pass_fds=[fd], start_new_session=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + ready_path, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not start: {process.stderr.read().decode()}")
                time.sleep(0.1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stderr.close()
        sock.close()
