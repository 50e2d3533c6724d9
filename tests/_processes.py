"""A real ASGI server (hypercorn or uvicorn) in a subprocess, for tests; always stopped.

The test binds the listening socket itself on port 0 and hands its file
descriptor to the server (``--bind fd://N`` / ``--fd N``): no port guessing.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def command(server: str, app: str, fd: int, *options: str) -> list[str]:
    if server == "hypercorn":
        return [sys.executable, "-m", "hypercorn", "--bind", f"fd://{fd}", *options, app]
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--fd", str(fd), *options, app]
    raise ValueError(server)


def stop(process: subprocess.Popen, grace: float = 5.0) -> int:
    """SIGTERM, wait, then SIGKILL the whole process group (workers included)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return process.wait()


@contextmanager
def served(server: str, app: str, *options: str, env: dict | None = None, scheme: str = "http",
           verify=True, timeout: float = 30):
    """Serve ``app`` (``apps.x:app``) with ``server``; yield (base_url, process)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    base_url = f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        command(server, app, sock.fileno(), *options), cwd=ROOT, pass_fds=[sock.fileno()],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    sock.close()  # the server holds its own copy now
    process.log = log
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, f"{server} exited {process.returncode}:\n{output(process)}"
            try:
                httpx.get(base_url + "/", verify=verify, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"{server} did not answer:\n{output(process)}"
                time.sleep(0.1)
        yield base_url, process
    finally:
        stop(process)
        log.close()


def output(process: subprocess.Popen) -> str:
    process.log.seek(0)
    return process.log.read().decode(errors="replace")
