"""Run an app under the real ``hypercorn`` or ``uvicorn`` command, on a port the OS picks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx

from conftest import ROOT


@dataclass
class CLIServer:
    url: str
    pid: int
    output: str = ""  # everything the server printed, filled in once it has stopped


@contextlib.contextmanager
def cli_server(kind: str, target: str, env: dict | None = None, ready_path: str = "/"):
    """Yield a ``CLIServer`` serving ``target`` ("apps.x:app") with ``kind`` ("hypercorn"/"uvicorn").

    The test binds port 0 itself and hands the listening socket over as a file
    descriptor, so no port is ever guessed. The server runs in its own process
    group: Hypercorn's CLI forks a worker, and both must go. It is stopped with
    SIGTERM, as a deployment would, so ``output`` shows whether it shut down cleanly.
    """
    sock = socket.create_server(("127.0.0.1", 0))
    fd = sock.fileno()
    if kind == "hypercorn":
        command = [sys.executable, "-m", "hypercorn", "--bind", f"fd://{fd}", target]
    else:
        command = [sys.executable, "-m", "uvicorn", "--fd", str(fd), "--log-level", "warning", target]
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, pass_fds=[fd], start_new_session=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                               stdout=log, stderr=subprocess.STDOUT)
    server = CLIServer(f"http://127.0.0.1:{sock.getsockname()[1]}", process.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(server.url + ready_path, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{kind} did not start: {log.read().decode()}") from None
                time.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the worker too, if it lingers
        process.wait()
        log.seek(0)
        server.output = log.read().decode(errors="replace")
        log.close()
        sock.close()
