"""serve_command(): real server processes that start on a socket handed over, and always stop."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import sys
import time

import httpx
import psutil
import pytest

from course import ServerError, serve_command, stop_all, tls_context


@pytest.fixture(autouse=True)
def no_orphans():
    """Every test ends with no new child process of this one left (the session's browser may run)."""
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    yield
    children = [c for c in psutil.Process().children(recursive=True) if c.pid not in before]
    assert not children, f"child processes left behind: {[c.cmdline() for c in children]}"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _gone(pids: list[int], wait: float = 5.0) -> bool:
    """True once none of ``pids`` runs; a SIGKILL sent to an orphan lands a moment later."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.05)
    return False


HYPERCORN = ["hypercorn", "--bind", "fd://{fd}", "apps.hello:app"]
UVICORN = ["uvicorn", "--fd", "{fd}", "apps.hello:app"]


@pytest.mark.parametrize("command", [HYPERCORN, UVICORN], ids=["hypercorn", "uvicorn"])
def test_a_command_serves_on_the_socket_it_is_handed_then_stops_cleanly(command):
    with serve_command(command) as server:
        assert server.running and server.name == "apps.hello:app"
        assert httpx.get(server.url + "/").json() == {"message": "Hello, World!"}
        pids = [server.pid] + [c.pid for c in psutil.Process(server.pid).children(recursive=True)]
    assert server.returncode in (0, -signal.SIGTERM)  # SIGTERM was enough (uvicorn re-raises it)
    assert not server.tracebacks
    assert _gone(pids)
    assert not _listening(server.port)


def test_the_block_failing_still_stops_the_server():
    with pytest.raises(ZeroDivisionError):
        with serve_command(HYPERCORN) as server:
            pids = [server.pid] + [c.pid for c in psutil.Process(server.pid).children(recursive=True)]
            1 / 0
    assert _gone(pids)
    assert not _listening(server.port)


def test_workers_are_stopped_even_when_the_main_process_died(certs):
    command = ["hypercorn", "--bind", "fd://{fd}", "--workers", "2", "--certfile", "certs/server.pem",
               "--keyfile", "certs/server-key.pem", "apps.hello:app"]
    with serve_command(command, tls=True) as server:
        with httpx.Client(verify=tls_context(), http2=True) as client:
            assert client.get(server.url + "/").http_version == "HTTP/2"
        workers = [c.pid for c in psutil.Process(server.pid).children(recursive=True)
                   if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 2
        os.kill(server.pid, signal.SIGKILL)  # the main process crashes; the workers live on
        server.process.wait()
        assert not _gone(workers, wait=0.2)
    assert _gone(workers)
    assert not _listening(server.port)


def test_a_config_file_with_two_workers_serves_https_and_stops_cleanly(tmp_path, certs):
    """From the old tests/test_deployment.py: chapter 19's config file, one "Running on" per worker."""
    config = tmp_path / "hypercorn.toml"
    config.write_text('workers = 2\ncertfile = "certs/server.pem"\nkeyfile = "certs/server-key.pem"\n'
                      'graceful_timeout = 5\naccesslog = "-"\n')
    command = ["hypercorn", "--config", str(config), "--bind", "fd://{fd}", "apps.why_async:app"]
    with serve_command(command, tls=True) as server:
        assert httpx.get(server.url + "/ping", verify=tls_context()).status_code == 200
        deadline = time.monotonic() + 10  # the first worker answered; the second may still be starting
        while server.output.count("Running on") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.output.count("Running on") == 2  # one line per worker: each imported the app
    assert server.returncode == 0
    assert not server.tracebacks
    assert not _listening(server.port)


def test_uvicorn_runs_the_lifespan_shutdown_on_stop():
    with serve_command(UVICORN) as server:
        assert httpx.get(server.url + "/").status_code == 200
    assert "Application shutdown complete" in server.output


# The course installs Granian; the kit's own environments (tests/test_kit_pythons.py) do not.
NEEDS_GRANIAN = pytest.mark.skipif(importlib.util.find_spec("granian") is None, reason="Granian is not installed")


@pytest.mark.parametrize("command", [
    ["hypercorn", "--bind", "fd://{fd}", "apps.why_async:app"],
    pytest.param(["hypercorn", "--bind", "fd://{fd}", "--workers", "2", "apps.why_async:app"],
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "Hypercorn 0.18 (run.py): once one worker has exited, the master SIGTERMs the others, "
                     "and a worker still answering a request dies with it"))),
    ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "apps.why_async:app"],
    ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--workers", "2", "apps.why_async:app"],
    pytest.param(["granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}", "apps.why_async:app"],
                 marks=NEEDS_GRANIAN),
    pytest.param(["granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}", "--workers", "2",
                  "apps.why_async:app"], marks=NEEDS_GRANIAN),
], ids=["hypercorn", "hypercorn-2-workers", "uvicorn", "uvicorn-2-workers", "granian", "granian-2-workers"])
def test_sigterm_to_the_main_process_lets_a_request_in_flight_finish(command):
    """What chapter 19 teaches: signal the server's main process (Docker, systemd's KillMode=mixed).
    Hypercorn's workers leave SIGTERM to their master; a SIGTERM of their own (the kit's stop(),
    systemd's default KillMode) ends them mid-request."""
    from concurrent.futures import ThreadPoolExecutor

    server = serve_command(command)
    workers = int(command[command.index("--workers") + 1]) if "--workers" in command else 1
    deadline = time.monotonic() + 10  # every Hypercorn worker up: one that is still starting drops it
    while command[0] == "hypercorn" and server.output.count("Running on") < workers < 10 ** 6:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.05)
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(httpx.get, server.url + "/io?delay=1", timeout=10)
        time.sleep(0.3)  # the request is in the view, waiting
        os.kill(server.pid, signal.SIGTERM)
        try:
            assert answer.result().json() == {"waited": 1.0}
            assert server.process.wait(10) in (0, -signal.SIGTERM)  # uvicorn exits -15 (FACTS)
        finally:
            server.stop()


def test_a_server_that_cannot_start_is_a_clear_error_with_its_output():
    with pytest.raises(ServerError, match="must be in format"):
        serve_command(["uvicorn", "--fd", "{fd}", "apps/hello.py"], timeout=30)


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period():
    code = ("import signal, socket, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "s = socket.create_server(('127.0.0.1', int(sys.argv[1]))); time.sleep(60)")
    server = serve_command([sys.executable, "-c", code, "{port}"], ready=None)
    assert server.stop(grace=0.5) == -signal.SIGKILL


def test_commands_that_bind_their_own_port_get_a_free_one():
    command = ["hypercorn", "--bind", "127.0.0.1:{port}", "apps.hello:app"]
    with serve_command(command) as server:
        assert str(server.port) in " ".join(server.process.args)
        assert httpx.get(server.url + "/").status_code == 200


def test_rerunning_replaces_the_process_of_the_same_name_and_stop_all_stops_the_rest():
    first = serve_command(HYPERCORN)
    second = serve_command(HYPERCORN)
    assert not first.running and second.running
    other = serve_command(UVICORN, name="other")
    stop_all()
    assert not second.running and not other.running


def test_the_server_dies_with_the_kernel_that_started_it(tmp_path):
    """A kernel killed outright (no atexit) still takes its server along, on Linux."""
    if sys.platform != "linux":
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    script = tmp_path / "kernel.py"
    script.write_text(
        "import sys, time\nfrom course import serve_command\n"
        "server = serve_command(['hypercorn', '--bind', 'fd://{fd}', 'apps.hello:app'])\n"
        "print(server.pid, server.port, flush=True)\ntime.sleep(60)\n")
    import subprocess

    kernel = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(__file__)),
                              env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))})
    try:
        pid, port = map(int, kernel.stdout.readline().split())
        assert _listening(port)
        kernel.kill()
        kernel.wait()
        assert _gone([pid], wait=10)
        deadline = time.monotonic() + 10
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _listening(port)
    finally:
        kernel.kill()
        kernel.stdout.close()
