"""course.services: Redis and nginx as subprocesses that always stop, and what the nginx it writes passes on.

nginx stands in front of a small app served by the kit, which reports what reached it:
websocket handshakes without compression, event streams event by event, Range headers,
request bodies while they arrive, X-Forwarded-* replaced. Skipped where redis-server or
nginx is missing (failed in CI).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading

import httpx
import pytest
import websockets
from quart import Quart, make_response, request, websocket

from course import ServerError, serve, stop_all, tls_context
from course.services import missing, nginx, redis_server, require


def test_missing_says_what_to_install():
    assert missing("no-such-program-here") == "no-such-program-here not found: apt-get install no-such-program-here"
    assert missing("sh") is None
    assert missing("sh", "no-such-program-here").startswith("no-such-program-here not found")  # only what is absent


def test_require_skips_a_test_fails_it_in_ci_and_elsewhere_raises(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not found"):
        require("no-such-program-here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="not found"):
        require("no-such-program-here")
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # as in a notebook
    with pytest.raises(ServerError, match="apt-get install"):
        require("no-such-program-here")


# --- Redis -------------------------------------------------------------------------------------------


def test_redis_answers_dies_and_comes_back_on_the_same_port():
    import redis

    server = redis_server()
    folder = server.folder
    try:
        client = redis.Redis.from_url(server.url, socket_timeout=5)
        assert client.ping() and server.running
        server.kill()
        assert not server.running
        with pytest.raises(redis.ConnectionError):
            client.ping()
        url = server.url
        server.start()
        assert server.url == url and client.ping()  # same port: the app's REDIS_URL still holds
    finally:
        server.stop()
    assert not server.running and not folder.exists()


def test_stop_all_stops_redis_too():
    server = redis_server()
    stop_all()
    assert not server.running and not server.folder.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="runs as the current user unless that is root")
def test_run_as_root_the_programs_run_as_nobody():
    with redis_server() as server, nginx(["http://127.0.0.1:9"]) as proxy:
        for pid in (server.process.pid, proxy.process.pid):
            user = subprocess.run(["ps", "-o", "user=", "-p", str(pid)], capture_output=True, text=True).stdout
            assert user.strip() == "nobody"


# --- nginx in front of an app that reports what reached it --------------------------------------------


def reporting_app() -> Quart:
    app = Quart("reporting")
    app.extensions["first chunk"] = threading.Event()
    app.extensions["next event"] = asyncio.Event()

    @app.get("/headers")
    async def headers():
        return {"headers": dict(request.headers), "client": request.remote_addr}

    @app.websocket("/ws")
    async def handshake():
        await websocket.accept()
        await websocket.send(json.dumps({"extensions": websocket.headers.get("Sec-WebSocket-Extensions")}))

    @app.get("/stream")
    async def stream():
        async def events():
            yield "data: first\n\n"
            await app.extensions["next event"].wait()  # set by the test once it has the first
            yield "data: second\n\n"

        response = await make_response(events(), {"Content-Type": "text/event-stream"})
        response.timeout = None
        return response

    @app.get("/range")
    async def ranged():
        return {"range": request.headers.get("Range")}, 206

    @app.put("/upload")
    async def upload():
        size = 0
        async for chunk in request.body:
            app.extensions["first chunk"].set()
            size += len(chunk)
        return {"size": size}

    return app


@pytest.fixture
def behind_nginx():
    require("nginx")
    app = reporting_app()
    with serve(app, name="reporting") as server:
        with nginx([server.url], source_address="127.0.0.2") as proxy:
            yield app, server, proxy


async def test_websockets_are_upgraded_without_compression(behind_nginx):
    app, server, proxy = behind_nginx
    for base, compressed in ((proxy.ws_url, False), (server.ws_url, True)):
        async with websockets.connect(base + "/ws", proxy=None, compression="deflate") as socket:
            offered = json.loads(await socket.recv())["extensions"]
        assert (offered is not None) is compressed  # the client offered it; nginx did not pass it on


async def test_an_event_stream_arrives_event_by_event(behind_nginx):
    app, server, proxy = behind_nginx
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        async with client.stream("GET", proxy.url + "/stream") as response:
            chunks = response.aiter_text()
            assert "first" in await anext(chunks)  # while the second does not exist yet
            server.call(_set(app.extensions["next event"]))
            assert "second" in await anext(chunks)


async def _set(event: asyncio.Event) -> None:
    event.set()


def test_range_headers_pass_through(behind_nginx):
    _, _, proxy = behind_nginx
    response = httpx.get(proxy.url + "/range", headers={"Range": "bytes=10-19"}, trust_env=False)
    assert response.status_code == 206 and response.json() == {"range": "bytes=10-19"}


def test_a_request_body_reaches_the_app_while_it_is_still_being_sent(behind_nginx):
    app, _, proxy = behind_nginx

    def body():
        yield b"x" * 65536
        assert app.extensions["first chunk"].wait(10), "nginx held the body back"
        yield b"y" * 65536

    response = httpx.put(proxy.url + "/upload", content=body(), trust_env=False)
    assert response.json() == {"size": 131072}


def test_forwarded_headers_are_replaced_and_nginx_connects_from_its_own_address(behind_nginx):
    _, _, proxy = behind_nginx
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    seen = httpx.get(proxy.url + "/headers", headers=forged, trust_env=False).json()
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == headers["host"] == f"127.0.0.1:{proxy.port}"
    assert seen["client"] == "127.0.0.2"  # source_address: the one address an app may believe
    assert "GET /headers" in proxy.log("access") and "proxy_request_buffering off" in proxy.config


def test_tls_at_nginx_with_the_course_certificate():
    require("nginx")
    with serve(reporting_app(), name="reporting") as server, nginx([server.url], tls=True) as proxy:
        assert proxy.url.startswith("https://")
        seen = httpx.get(proxy.url + "/headers", verify=tls_context(), trust_env=False).json()
        assert {k.lower(): v for k, v in seen["headers"].items()}["x-forwarded-proto"] == "https"


def test_stopping_frees_the_port_and_removes_the_folder():
    require("nginx")
    proxy = nginx(["http://127.0.0.1:9"])
    proxy.stop()
    assert not proxy.running and not proxy.folder.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy.url, trust_env=False)


def test_nginx_needs_an_upstream():
    require("nginx")
    with pytest.raises(ServerError, match="at least one upstream"):
        nginx([])
