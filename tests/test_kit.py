"""The background-server kit: serve(), Server, stop_all().

These tests also run under Python 3.12 and 3.13 (tests/test_kit_pythons.py), so
they only need the kit's own dependencies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading

import httpx
import pytest
import websockets
from quart import Quart, make_response, websocket

import course
from course.exercises import Exercise
from course import ServerError, serve, stop_all, tls_context


def make_app(name: str = "kit-test", events: list | None = None) -> Quart:
    """A small app with a JSON view, an endless SSE stream and an echo websocket."""
    app = Quart(name)
    events = events if events is not None else []

    @app.before_serving
    async def startup():
        events.append("before_serving")

    @app.after_serving
    async def shutdown():
        events.append("after_serving")

    @app.get("/")
    async def index():
        return {"app": name}

    @app.get("/stream")
    async def stream():
        async def counter():
            try:
                n = 0
                while True:
                    yield f"data: {n}\n\n".encode()
                    n += 1
                    await asyncio.sleep(0.05)
            finally:
                events.append("stream closed")

        response = await make_response(counter(), {"Content-Type": "text/event-stream"})
        response.timeout = None
        return response

    @app.websocket("/ws")
    async def echo():
        try:
            while True:
                await websocket.send(f"You said: {await websocket.receive()}")
        finally:
            events.append("websocket closed")

    return app


def serving_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("serve:")]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_public_names_are_exactly_all():
    public = {name for name in vars(course) if not name.startswith("_") or name == "____"}
    public -= {"annotations"}
    assert set(course.__all__) == {n for n in public if not isinstance(getattr(course, n), type(os))}


def test_serve_returns_after_before_serving_and_answers():
    events: list = []
    with serve(make_app(events=events)) as server:
        assert events == ["before_serving"]  # startup finished before serve() returned
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url + "/").json() == {"app": "kit-test"}
    assert events[-1] == "after_serving"
    assert not server.running


def test_startup_error_is_raised_in_the_caller_with_the_apps_traceback():
    app = Quart("broken")

    @app.before_serving
    async def connect_to_database():
        raise ConnectionError("database is down")

    app.logger.disabled = True  # Quart logs it too; the test wants the raise
    with pytest.raises(ConnectionError, match="database is down") as caught:
        serve(app)
    frames = [entry.name for entry in caught.traceback]
    assert "connect_to_database" in frames
    assert serving_threads() == []


def test_a_failed_startup_is_reported_once(caplog):
    app = Quart("fails-to-start")

    @app.before_serving
    async def boom():
        raise RuntimeError("no")

    app.logger.disabled = True
    with pytest.raises(RuntimeError, match="no"):
        serve(app)
    assert not [r for r in caplog.records if r.name == "course"], "the kit logged it a second time"


def test_port_in_use_is_a_one_line_error_naming_the_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerError) as caught:
            serve(make_app(), port=port)
    message = str(caught.value)
    assert str(port) in message and "in use" in message and "\n" not in message
    assert caught.value._render_traceback_() == [f"\x1b[31mServerError\x1b[0m: {message}"]


def test_serving_the_same_app_again_replaces_the_old_server():
    first = serve(make_app("again"))
    second = serve(make_app("again"))  # what re-running a notebook cell does
    assert not first.running and second.running
    assert serving_threads() == [f"serve:again:{second.port}"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(first.url + "/")
    second.stop()


def test_a_fixed_port_can_be_served_again():
    first = serve(make_app("fixed"))
    port = first.port
    first.stop()
    for _ in range(3):
        server = serve(make_app("other-name"), port=port)
        assert httpx.get(server.url + "/").status_code == 200
    server.stop()


def test_two_apps_run_side_by_side():
    with serve(make_app("one")) as one, serve(make_app("two")) as two:
        assert httpx.get(one.url + "/").json() == {"app": "one"}
        assert httpx.get(two.url + "/").json() == {"app": "two"}


async def test_works_from_sync_and_async_code_on_a_running_loop():
    """A test coroutine stands in for a notebook: its loop runs while a sync call blocks it."""
    with serve(make_app()) as server:
        assert httpx.get(server.url + "/").status_code == 200  # blocks this loop: fine
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.url + "/")).status_code == 200


def test_call_runs_a_coroutine_on_the_servers_loop():
    async def loop_id():
        return id(asyncio.get_running_loop())

    with serve(make_app()) as server:
        assert server.call(loop_id()) == id(server._loop)
    with pytest.raises(ServerError, match="not running"):
        server.call(loop_id())


def test_no_signal_handlers_are_installed():
    before = signal.getsignal(signal.SIGINT)
    with serve(make_app()) as server:
        assert signal.getsignal(signal.SIGINT) is before
        assert not getattr(server._loop, "_signal_handlers", {})


async def test_stop_ends_open_streams_and_websockets():
    """Plain Hypercorn on Python 3.12+ would wait for these forever."""
    events: list = []
    server = serve(make_app(events=events))
    async with httpx.AsyncClient(timeout=10) as client:
        streams = [client.stream("GET", server.url + "/stream") for _ in range(10)]
        responses = [await s.__aenter__() for s in streams]
        sockets = [await websockets.connect(server.ws_url + "/ws", proxy=None) for _ in range(10)]
        for ws in sockets:
            await ws.send("hi")
            assert await ws.recv() == "You said: hi"

        await asyncio.wait_for(asyncio.to_thread(server.stop), timeout=10)  # a hang detector only

        for response, stream in zip(responses, streams):
            body = b"".join([chunk async for chunk in response.aiter_bytes()])  # ends cleanly
            assert body.startswith(b"data: 0\n\n")
            await stream.__aexit__(None, None, None)
        for ws in sockets:
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001
    assert events.count("stream closed") == 10 and events.count("websocket closed") == 10
    assert events[-1] == "after_serving"
    assert not server.running


def test_no_thread_fd_or_port_leaks_after_100_cycles():
    app = make_app("cycles")
    serve(app).stop()  # warm up imports and lazily created objects
    threads, fds = threading.active_count(), open_fds()
    port = None
    for _ in range(100):
        server = serve(app, port=port or 0)
        port = server.port
        httpx.get(server.url + "/")
        server.stop()
    assert threading.active_count() == threads
    assert open_fds() == fds
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_tls_serves_http2_to_a_client_that_trusts_the_course_ca(certs):
    with serve(make_app(), tls=True) as server:
        assert server.url.startswith("https://")
        with httpx.Client(http2=True, verify=tls_context()) as client:
            response = client.get(server.url + "/")
        assert response.http_version == "HTTP/2"
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the CA refuses
            httpx.get(server.url + "/")


def test_access_log_is_quiet_by_default_and_easy_to_turn_on(capsys):
    with serve(make_app()) as server:
        httpx.get(server.url + "/")
    assert "GET /" not in capsys.readouterr().out
    with serve(make_app(), access_log=True) as server:
        httpx.get(server.url + "/nowhere")
    assert "GET /nowhere" in capsys.readouterr().out


def test_unknown_options_are_a_clear_error():
    with pytest.raises(ServerError, match="unknown option colour="):
        serve(make_app(), colour="blue")
    assert serving_threads() == []


def test_flask_apps_are_served_by_werkzeug_with_the_same_interface(capsys):
    flask = pytest.importorskip("flask")
    app = flask.Flask("flask-kit-test")
    app.get("/")(lambda: {"framework": "flask"})
    with serve(app) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url + "/").json() == {"framework": "flask"}
        assert "GET /" not in capsys.readouterr().err  # quiet by default, as with Quart
        again = serve(app)  # replaced like a Quart app
        assert not server.running
        again.stop()
    assert serving_threads() == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::1"])
@pytest.mark.parametrize("framework", ["quart", "flask"])
def test_both_servers_give_urls_a_client_can_use(host, framework):
    """Any address: 0.0.0.0 is reached on 127.0.0.1, IPv6 goes in brackets, for Flask too."""
    flask = pytest.importorskip("flask")
    app = make_app("urls") if framework == "quart" else flask.Flask("urls")
    if framework == "flask":
        app.get("/")(lambda: {"app": "urls"})
    with serve(app, host=host) as server:
        expected = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
        assert server.url == f"http://{expected}:{server.port}"
        assert httpx.get(server.url + "/").json() == {"app": "urls"}


def test_flask_over_tls_serves_https_or_says_why_not(certs):
    flask = pytest.importorskip("flask")
    app = flask.Flask("flask-tls")
    app.get("/")(lambda: {"tls": True})
    with serve(app, tls=True) as server:
        assert server.url.startswith("https://")
        assert httpx.get(server.url + "/", verify=tls_context()).json() == {"tls": True}
    with pytest.raises(ServerError, match="werkzeug, which takes none of them: http2"):
        serve(app, http2=True)
    assert serving_threads() == []


def test_stop_all_stops_every_server():
    servers = [serve(make_app(f"app{i}")) for i in range(3)]
    stop_all()
    assert not any(s.running for s in servers)
    assert serving_threads() == []


# --- display helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "http://127.0.0.1:{port}/static/chat.html"),
        ({"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}, "/user/ada/proxy/{port}/static/chat.html"),
        ({"JUPYTERHUB_SERVICE_PREFIX": "/user/ada"}, "/user/ada/proxy/{port}/static/chat.html"),
        ({"COURSE_PROXY_PREFIX": "/", "JUPYTERHUB_SERVICE_PREFIX": "/user/x/"}, "/proxy/{port}/static/chat.html"),
        ({"COURSE_PROXY_PREFIX": "", "JUPYTERHUB_SERVICE_PREFIX": "/user/x/"}, "http://127.0.0.1:{port}/static/chat.html"),
    ],
)
def test_public_url_goes_through_the_proxy_on_jupyterhub(monkeypatch, environ, expected):
    for key in ("JUPYTERHUB_SERVICE_PREFIX", "COURSE_PROXY_PREFIX"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with serve(make_app()) as server:
        assert course.public_url(server, "static/chat.html") == expected.format(port=server.port)
        page = course.show(server, "/static/chat.html")._repr_html_()
        assert f'src="{expected.format(port=server.port)}"' in page
        assert course.link(server, "/static/chat.html")._repr_html_().startswith("<p><a href=")


# --- the exercise API --------------------------------------------------------------------------


class _Double(Exercise):
    """Write double(x)."""

    id = "kit_double"
    hints = ["Multiply.", "`return 2 * x`"]

    def _check(self, double):
        from course.exercises import expect

        expect(double(3) == 6, f"double(3) returned {double(3)!r}, not 6.")


def test_check_tells_not_attempted_from_wrong_from_right():
    exercise = _Double()

    def starter(x):
        return course.____

    assert exercise.check(starter).outcome == "not attempted"
    assert exercise.check(lambda x: x + 2).outcome == "incorrect"
    assert "returned 5" in exercise.check(lambda x: x + 2).message
    assert exercise.check(lambda x: 1 / 0).outcome == "incorrect"  # a crash is feedback too
    assert exercise.check(lambda x: 2 * x).outcome == "correct"
    assert exercise.check(course.____).outcome == "not attempted"
    assert "✅" in exercise.check(lambda x: 2 * x)._repr_markdown_()


def test_hints_count_up_and_stay_in_range():
    exercise = _Double()
    assert "Hint 1 of 2" in exercise.hint()._repr_markdown_()
    assert "`hint(2)`" in exercise.hint()._repr_markdown_()
    assert "Hint 2 of 2" in exercise.hint(5)._repr_markdown_()


def test_a_quart_app_with_a_blank_in_a_view_is_not_attempted():
    app = Quart("blank")

    @app.get("/")
    async def index():
        return course.____

    assert _Double().check(app).outcome == "not attempted"


# --- certificates ------------------------------------------------------------------------------


def test_make_certs_writes_a_ca_and_a_private_server_key(tmp_path):
    from course._setup import make_certs

    make_certs(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"ca.pem", "server.pem", "server-key.pem"}
    assert (tmp_path / "server-key.pem").stat().st_mode & 0o077 == 0
    first = (tmp_path / "ca.pem").read_bytes()
    make_certs(tmp_path)  # idempotent: an existing CA is kept, so clients keep trusting it
    assert (tmp_path / "ca.pem").read_bytes() == first


def test_generated_certificates_are_never_committed():
    import subprocess

    ignored = subprocess.run(["git", "check-ignore", "certs/server-key.pem", "certs/ca.pem"],
                             cwd=os.path.dirname(os.path.dirname(__file__)), capture_output=True, text=True)
    assert ignored.stdout.split() == ["certs/server-key.pem", "certs/ca.pem"]


def test_an_https_server_behind_the_proxy_is_a_clear_error(monkeypatch, certs):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    with serve(make_app(), tls=True) as server:
        with pytest.raises(ServerError, match="proxy speaks plain HTTP"):
            course.show(server, "/")


def test_kept_open_connections_are_not_slowed_by_nagle():
    """asyncio sets TCP_NODELAY only on sockets created with IPPROTO_TCP."""
    with serve(make_app()) as server, httpx.Client() as client:
        client.get(server.url + "/")
        sock = server._sock
        assert sock.proto == socket.IPPROTO_TCP


def test_an_app_without_lifespan_is_ready_at_once():
    async def bare(scope, receive, send):
        if scope["type"] == "lifespan":
            return  # says nothing: Hypercorn carries on without lifespan
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve(bare, name="bare", startup_timeout=5) as server:
        assert httpx.get(server.url + "/").status_code == 204


# --- the exercise API, for exercise authors ----------------------------------------------------


def test_exercise_modules_use_only_the_public_api():
    import pathlib

    for path in pathlib.Path(course.__file__).parent.joinpath("exercises").glob("*.py"):
        assert "course._" not in path.read_text(), f"{path.name} imports a private module of the kit"


def test_blanks_are_found_in_strings_classes_and_middleware():
    from course.exercises import has_blank

    class Middleware:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            return course.____

    assert has_blank("bind = ____")
    assert not has_blank("bind = 8000")
    assert has_blank(Middleware)
    assert has_blank(Middleware(None))
    assert not has_blank(make_app())


def test_checklist_reports_every_failing_behaviour():
    from course.exercises import Incorrect, checklist

    with pytest.raises(Incorrect) as failed:
        with checklist() as expect:
            expect(True, "fine")
            expect(False, "first")
            expect(False, "second")
    assert "2 behaviours" in str(failed.value) and "first" in str(failed.value) and "second" in str(failed.value)


@pytest.mark.parametrize(("blocking", "expected"), [(False, 5), (True, 1)])
def test_peak_concurrency_tells_overlap_from_queueing(blocking, expected):
    import time

    from course.exercises import peak_concurrency, run_async

    app = Quart("overlap")

    @app.get("/slow")
    async def slow():
        if blocking:
            time.sleep(0.05)
        else:
            await asyncio.sleep(0.05)
        return {}

    assert run_async(peak_concurrency(app, "/slow", 5)) == expected


# --- the kit's own shape -----------------------------------------------------------------------


def _kit_imports() -> dict[str, set[str]]:
    import ast
    import pathlib

    graph = {}
    for path in pathlib.Path(course.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {node.module.split(".")[0] for node in ast.walk(tree)
                            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}
    return graph


def test_the_kit_has_no_import_cycle():
    graph = _kit_imports()
    assert graph

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in graph.get(start, ()))

    assert not [module for module in graph if reaches(module, module)]


def test_every_kit_module_reads_in_a_sitting():
    import pathlib

    sizes = {p.name: len(p.read_text().splitlines()) for p in pathlib.Path(course.__file__).parent.glob("*.py")}
    assert sizes and max(sizes.values()) <= 250, sizes
    core = sum(sizes[name] for name in ("_base.py", "_server.py", "_gate.py", "_display.py"))
    assert core <= 450, f"the serving core is {core} lines"


def test_an_idle_client_does_not_hold_up_stopping_a_tls_server(certs):
    """asyncio waits 30 s for a TLS client's goodbye by default; an idle tab must not hold up stop()."""
    server = serve(make_app(), tls=True)
    with httpx.Client(verify=tls_context()) as idle:
        idle.get(server.url + "/")  # keeps its connection open and never reads again
        server.stop(timeout=20)  # joins for at most 20 s: with asyncio's 30 s the thread would still run
        assert not server.running


@pytest.mark.parametrize("compress", [True, False])
async def test_websocket_messages_are_capped_before_they_are_held(compress):
    """serve() refuses permessage-deflate and drops a message over 64 KiB with 1009 (chapter 18)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    with serve(make_app()) as server:
        async with connect(server.ws_url + "/ws", proxy=None,
                           compression="deflate" if compress else None) as client:
            assert client.protocol.extensions == []  # no compression negotiated
            await client.send("x" * 1000)
            assert await client.recv() == "You said: " + "x" * 1000
            await client.send("x" * (65 * 1024))
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv()
            assert closed.value.rcvd.code == 1009
