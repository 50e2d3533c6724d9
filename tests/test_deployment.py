"""14_deployment: the notebook's `running()` helper serves real servers and always stops them.

The helper is taken from the notebook's cell tagged ``helpers``, so these tests check the very
code learners run. After each test no child process may remain and no port may still listen.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import nbformat
import psutil
import pytest

from conftest import NOTEBOOKS, ROOT

NOTEBOOK = NOTEBOOKS / "14_deployment.ipynb"


def _helper_cells() -> list[str]:
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    return [cell.source for cell in cells if "helpers" in cell.get("metadata", {}).get("tags", [])]


@pytest.fixture(scope="module")
def helpers():
    """The notebook's helper functions (free_port, running, stop, output), as learners run them."""
    sources = _helper_cells()
    assert sources, f"no cell tagged 'helpers' in {NOTEBOOK}"
    namespace = {"ROOT": ROOT, "__name__": "deployment_helpers"}
    for source in sources:
        exec(compile(source, str(NOTEBOOK), "exec"), namespace)
    return namespace


@pytest.fixture(autouse=True)
def no_orphans():
    """Every test ends with no new child process of this one left (the session's browser may run)."""
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    yield
    children = [c for c in psutil.Process().children(recursive=True) if c.pid not in before]
    assert not children, f"child processes left behind: {[c.cmdline() for c in children]}"


def _listening(port: int, wait: float = 5.0) -> bool:
    """True if something still accepts connections on ``port`` after up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:  # a zombie has exited
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _gone(pids: list[int], wait: float = 5.0) -> bool:
    """True once none of ``pids`` runs; a SIGKILL sent to an orphan lands a moment later."""
    deadline = time.monotonic() + wait
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pids)


def _hypercorn(port: int, *options: str, app: str = "apps.lifespan:app") -> list[str]:
    return [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}", *options, app]


def test_running_serves_then_stops_cleanly(helpers):
    port = helpers["free_port"]()
    with helpers["running"](_hypercorn(port), f"http://127.0.0.1:{port}/") as process:
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        pids = [process.pid] + [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    assert process.returncode == 0  # SIGTERM was enough: a graceful shutdown
    assert _gone(pids)
    assert not _listening(port)
    assert "Running on" in helpers["output"](process)


def test_running_stops_the_server_when_the_block_fails(helpers):
    port = helpers["free_port"]()
    with pytest.raises(ZeroDivisionError):
        with helpers["running"](_hypercorn(port), f"http://127.0.0.1:{port}/") as process:
            pids = [process.pid] + [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
            1 / 0
    assert process.returncode is not None
    assert _gone(pids)
    assert not _listening(port)


def test_workers_are_killed_even_when_the_main_process_died(helpers, certs):
    """A crashed main process leaves its workers orphaned; the process group still reaches them."""
    port = helpers["free_port"]()
    options = ["--workers", "2", "--certfile", "certs/server.pem", "--keyfile", "certs/server-key.pem"]
    url = f"https://127.0.0.1:{port}/"
    with helpers["running"](_hypercorn(port, *options), url) as process:
        from course import tls_context

        with httpx.Client(verify=tls_context(), http2=True) as client:
            assert client.get(url).http_version == "HTTP/2"
        workers = [c.pid for c in psutil.Process(process.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 2
        os.kill(process.pid, signal.SIGKILL)  # the main process crashes; the workers live on
        process.wait()
        assert _alive(workers) == workers
    assert _gone(workers)
    assert not _listening(port)


def test_running_reports_a_server_that_cannot_start(helpers):
    port = helpers["free_port"]()
    command = [sys.executable, "-m", "uvicorn", "--port", str(port), "apps/lifespan.py"]
    with pytest.raises(RuntimeError, match="must be in format"):
        with helpers["running"](command, f"http://127.0.0.1:{port}/", timeout=30):
            pass


def test_uvicorn_with_the_module_path(helpers):
    port = helpers["free_port"]()
    command = [sys.executable, "-m", "uvicorn", "--port", str(port), "apps.middleware:app"]
    with helpers["running"](command, f"http://127.0.0.1:{port}/") as process:
        assert "x-request-id" in httpx.get(f"http://127.0.0.1:{port}/").headers
    assert "Application shutdown complete" in helpers["output"](process)
    assert not _listening(port)


def test_stop_kills_a_process_that_ignores_sigterm(helpers):
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        process.stdout.readline()
        assert helpers["stop"](process, grace=0.5) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()


def test_hypercorn_config_file_with_workers(helpers, tmp_path, certs):
    port = helpers["free_port"]()
    config = tmp_path / "hypercorn.toml"
    config.write_text(f'bind = ["127.0.0.1:{port}"]\nworkers = 2\ncertfile = "certs/server.pem"\n'
                      f'keyfile = "certs/server-key.pem"\ngraceful_timeout = 5\naccesslog = "-"\n')
    url = f"https://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "hypercorn", "--config", str(config), "apps.lifespan:app"]
    with helpers["running"](command, url) as process:
        assert httpx.get(url + "lifespan", verify=__import__("course").tls_context()).status_code == 200
    assert process.returncode == 0
    assert helpers["output"](process).count("Running on") == 2  # one line per worker
    assert not _listening(port)
