"""apps/middleware.py: request ids, timing, proxy headers, prefixes, CORS, and every scope type."""

from __future__ import annotations

import re

import httpx
import pytest
from quart.testing import WebsocketResponseError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from cli_server import cli_server
from apps.middleware import app, scope_log
from course import serve

FRONTEND = "https://frontend.example"


@pytest.fixture
def client():
    return app.test_client()


@pytest.fixture
def behind_proxy(monkeypatch):
    """The app as deployed behind one proxy that also strips a prefix (the settings are opt-in)."""
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_HOPS", 1)
    monkeypatch.setitem(app.config, "FORWARDED_PREFIX", True)
    return app.test_client()


PROXY_HEADERS = {"X-Forwarded-For": "10.9.9.9, 203.0.113.9", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "shop.example", "X-Forwarded-Prefix": "/user/ada/proxy/8000"}


async def test_a_request_without_an_id_gets_a_fresh_one(client):
    first = await client.get("/")
    second = await client.get("/")
    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
    assert ids[0] != ids[1]
    assert (await first.get_json())["request_id"] == ids[0]  # the app saw the same id


async def test_a_well_formed_id_is_kept(client):
    response = await client.get("/", headers={"X-Request-Id": "order-42.retry_1"})
    assert response.headers["X-Request-Id"] == "order-42.retry_1"
    assert (await response.get_json())["request_id"] == "order-42.retry_1"


async def test_every_response_is_timed(client):
    for path in ["/", "/whoami", "/nowhere"]:
        response = await client.get(path)
        assert re.fullmatch(r"app;dur=\d+\.\d", response.headers["Server-Timing"]), path


MALFORMED_IDS = ["", "has space", "x" * 65, "semi;colon", "new\tline", "caf\xe9", "<script>"]


@pytest.mark.parametrize("request_id", MALFORMED_IDS)
async def test_a_malformed_id_is_refused_before_the_app_runs(client, request_id):
    response = await client.get("/", headers={"X-Request-Id": request_id})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert "X-Request-Id" in (await response.get_json())["error"]


def test_two_ids_are_refused():
    with serve(app) as server:
        response = httpx.get(server.url + "/", headers=[("X-Request-Id", "a"), ("X-Request-Id", "b")])
    assert response.status_code == 400
    assert "at most one" in response.json()["error"]


async def test_the_websocket_gets_an_id_and_echoes(client):
    async with client.websocket("/ws", headers={"X-Request-Id": "ws-1"}) as ws:
        assert await ws.receive_json() == {"request_id": "ws-1"}
        await ws.send("hi")
        assert await ws.receive() == "You said: hi"


async def test_a_websocket_with_a_malformed_id_is_refused_with_400(client):
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket("/ws", headers={"X-Request-Id": "no way"}) as ws:
            await ws.receive()
    assert refused.value.response.status_code == 400
    assert "error" in await refused.value.response.get_json()


async def test_proxy_headers_are_ignored_by_default(client):
    """Served directly, any client could send these headers: none of them may count."""
    response = await client.get("/whoami", headers={**PROXY_HEADERS, "X-Forwarded-Prefix": "/../bad"})
    assert response.status_code == 200
    who = await response.get_json()
    assert who["client"] != "203.0.113.9" and who["scheme"] == "http"
    assert who["root_path"] == "" and who["url_for"] == "/whoami"
    assert not who["external_url"].startswith("https://shop.example")


async def test_proxy_headers_from_one_trusted_hop_are_applied(behind_proxy):
    response = await behind_proxy.get("/whoami", headers={
        "X-Forwarded-For": "10.9.9.9, 203.0.113.9", "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "shop.example"})
    who = await response.get_json()
    assert who["client"] == "203.0.113.9"  # the address our proxy appended, not the client's claim
    assert who["scheme"] == "https"
    assert who["external_url"] == "https://shop.example/whoami"


async def test_a_forwarded_prefix_goes_into_root_path_and_url_for(behind_proxy):
    response = await behind_proxy.get("/whoami", headers={"X-Forwarded-Prefix": "/user/ada/proxy/8000/"})
    who = await response.get_json()
    assert who["root_path"] == "/user/ada/proxy/8000"
    assert who["url_for"] == "/user/ada/proxy/8000/whoami"


@pytest.mark.parametrize("prefix", ["no-slash", "/a b", "/../etc", "/ok/..", "/./x", "/x?y=1", "//evil.example", "/%2e%2e"])
async def test_a_malformed_prefix_is_refused(behind_proxy, prefix):
    response = await behind_proxy.get("/whoami", headers={"X-Forwarded-Prefix": prefix})
    assert response.status_code == 400
    assert "X-Forwarded-Prefix" in (await response.get_json())["error"]


async def test_cors_allows_only_the_frontend_origin(client):
    allowed = await client.get("/api/time", headers={"Origin": FRONTEND})
    assert allowed.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert "X-Request-Id" in allowed.headers["Access-Control-Expose-Headers"]
    other = await client.get("/api/time", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_cors_answers_a_preflight(client):
    response = await client.options("/api/time", headers={
        "Origin": FRONTEND, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert response.headers["Access-Control-Allow-Methods"] == "GET"  # what the route answers, no more


async def test_scope_log_sees_lifespan_http_and_websocket():
    scope_log.seen.clear()
    async with app.test_app() as test_app:  # the lifespan scope passes through every middleware
        client = test_app.test_client()
        await client.get("/")
        async with client.websocket("/ws") as ws:
            await ws.receive()
    seen = list(scope_log.seen)
    assert seen[0] == "lifespan.startup"
    assert "http /" in seen and "websocket /ws" in seen
    assert seen[-1] == "lifespan.shutdown"


def test_served_under_a_root_path_with_real_websockets():
    with serve(app, root_path="/shop") as server:
        who = httpx.get(server.url + "/shop/whoami").json()
        assert who["url_for"] == "/shop/whoami"
        assert httpx.get(server.url + "/whoami").status_code == 404
        with connect(server.ws_url + "/shop/ws", proxy=None) as ws:
            assert "request_id" in ws.recv()
        with pytest.raises(InvalidStatus) as refused:
            connect(server.ws_url + "/shop/ws", proxy=None, additional_headers={"X-Request-Id": "a b"})
        assert refused.value.response.status_code == 400


@pytest.mark.parametrize("server", ["hypercorn", "uvicorn"])
def test_runs_under_a_real_server(server):
    with cli_server(server, "apps.middleware:app") as running:
        url = running.url
        response = httpx.get(url + "/", headers={"X-Request-Id": "abc"})
        assert response.headers["x-request-id"] == "abc"
        assert "server-timing" in response.headers
        refused = httpx.get(url + "/", headers={"X-Request-Id": "a b"})
        assert refused.status_code == 400 and "error" in refused.json()
        who = httpx.get(url + "/whoami", headers=PROXY_HEADERS).json()
        assert who["root_path"] == ""  # the app trusts no proxy header by default
        if server == "hypercorn":  # uvicorn itself trusts X-Forwarded-For from 127.0.0.1 by default
            assert who["client"] == "127.0.0.1" and who["scheme"] == "http"


def test_proxy_settings_come_from_the_environment():
    env = {"QUART_TRUSTED_PROXY_HOPS": "1", "QUART_FORWARDED_PREFIX": "true"}
    with cli_server("hypercorn", "apps.middleware:app", env=env) as running:
        who = httpx.get(running.url + "/whoami", headers=PROXY_HEADERS).json()
    assert who["client"] == "203.0.113.9" and who["scheme"] == "https"
    assert who["url_for"] == "/user/ada/proxy/8000/whoami"
