"""``serve_command([...])``: run a real server command (hypercorn, uvicorn, quart run) and always stop it.

A server started from a notebook is a child process of the kernel. If a cell fails
between starting and stopping it, it would keep running and hold its port. So:

- the listening socket is made here and handed over as a file descriptor
  (``{fd}`` in the command), so no port is ever guessed or raced for; commands
  that cannot take one get ``{port}``, a port that was free a moment ago;
- the server runs in a process group of its own: Hypercorn forks workers, and
  ``stop()`` must reach them too, even when the main process already died;
- ``stop()`` sends SIGTERM to the group (servers run ``after_serving``; Hypercorn's
  workers end at once, open requests with them), waits ``grace`` seconds, then
  SIGKILLs whatever is left of the group;
- its output goes to a file, not a pipe: nobody reads a pipe while the server runs,
  and a full pipe would block the server at its next log line;
- the kernel's exit stops it (and on Linux, so does the kernel being killed).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._base import BaseServer, ServerError, bind, replace

ROOT = Path(__file__).resolve().parent.parent
# Exec the command through a one-line launcher that asks Linux to SIGTERM it if the kernel dies.
# Linux sends that signal when the *thread* that started the process ends: so every process is
# started from one thread that lives as long as the kernel, never from a short-lived one.
_SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="course-spawn")
_TIE_TO_PARENT = ("import ctypes, os, sys\n"
                  "try: ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM\n"
                  "except (OSError, AttributeError): pass\n"
                  "os.execvp(sys.argv[1], sys.argv[1:])")


class ServerProcess(BaseServer):
    """A server command running in the background; made by ``serve_command()``."""

    def __init__(self, command: list[str], name: str, sock: socket.socket | None, port: int,
                 tls: bool, env: dict | None, cwd: Path) -> None:
        self.command, self.name, self._sock = command, name, sock
        self.returncode: int | None = None
        self._log = tempfile.TemporaryFile()
        self._set_address(sock or _Address(port), tls)
        launcher = [sys.executable, "-c", _TIE_TO_PARENT] if sys.platform == "linux" else []
        # "apps.hello:app" is imported from cwd, whichever copy of the course is installed.
        path = os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process = _SPAWNER.submit(
            subprocess.Popen, launcher + command, cwd=cwd, env=env,
            pass_fds=[sock.fileno()] if sock else [], start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT).result()
        self.pid = self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def output(self) -> str:
        """Everything the server printed so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    @property
    def tracebacks(self) -> list[str]:
        """Every Python traceback in the output: a server that answers errors cleanly prints none."""
        # Quart 0.23 handles requests in a TaskGroup: its tracebacks start "  + Exception Group".
        pattern = r"^(?:  \+ Exception Group )?Traceback \(most recent call last\):\n(?:[ \t].*\n)*.*"
        return re.findall(pattern, self.output, re.M)

    def stop(self, grace: float = 5.0) -> int:
        """SIGTERM the server, wait up to ``grace`` seconds, then SIGKILL its whole group."""
        self._unregister()
        if self.process.poll() is None:
            # SIGTERM to the whole group, as systemd's default KillMode=control-group does: it ends
            # Hypercorn's workers at once, even with a stream open (on Python 3.12+ its graceful
            # shutdown waits for every open connection). To let a request in flight finish,
            # signal the main process yourself first: os.kill(server.pid, SIGTERM) (chapter 19).
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.pid, signal.SIGKILL)  # workers left behind, or a server that hung
        self.returncode = self.process.wait()
        if self._sock is not None:
            self._sock.close()
        return self.returncode

    def _wait_until_ready(self, path: str | None, timeout: float) -> None:
        import httpx

        from ._setup import client_context

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited with code {self.process.returncode}:\n"
                                  f"{self.output[-3000:]}")
            try:
                if path is None:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                else:
                    verify = client_context() if self.url.startswith("https") else True
                    httpx.get(self.url + path, verify=verify, timeout=2, trust_env=False)
                return
            except (OSError, httpx.TransportError):
                if time.monotonic() > deadline:
                    raise ServerError(f"{self.name} did not answer within {timeout} s:\n"
                                      f"{self.output[-3000:]}") from None
                time.sleep(0.05)


class _Address:
    """Stands in for a socket when the command binds the port itself."""

    def __init__(self, port: int) -> None:
        self.port = port

    def getsockname(self) -> tuple[str, int]:
        return "127.0.0.1", self.port


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def serve_command(command: list[str], *, name: str | None = None, ready: str | None = "/",
                  tls: bool = False, env: dict | None = None, cwd: str | Path = ROOT,
                  timeout: float = 30) -> ServerProcess:
    """Run a server command from the repo root; return once ``ready`` answers over HTTP.

    Example::

        with serve_command(["hypercorn", "--bind", "fd://{fd}", "apps.hello:app"]) as server:
            httpx.get(server.url + "/")
        print(server.returncode, server.output)

    ``{fd}`` becomes the number of a listening socket made here (Hypercorn:
    ``--bind fd://{fd}``, uvicorn: ``--fd {fd}``); ``{port}`` a free port, for
    commands that bind it themselves (``quart run --port {port}``). A program name
    is taken from the kernel's own environment first. ``ready=None`` waits for the
    port alone; ``tls=True`` makes ``url`` https and trusts the course CA.
    Re-running a cell replaces the process of the same ``name``.
    """
    template = " ".join(command)
    name = name or next((part for part in reversed(command) if ":" in part), command[0])
    replace(name, 0)
    sock = bind("127.0.0.1", 0) if "{fd}" in template else None
    port = sock.getsockname()[1] if sock else _free_port()
    argv = [part.replace("{fd}", str(sock.fileno()) if sock else "").replace("{port}", str(port))
            for part in command]
    local = Path(sys.executable).parent / argv[0]
    argv[0] = str(local) if local.exists() else shutil.which(argv[0]) or argv[0]
    server = ServerProcess(argv, name, sock, port, tls, env, Path(cwd))
    try:
        server._wait_until_ready(ready, timeout)
    except BaseException:
        server.stop(grace=1)
        raise
    server._register()
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
