"""apps/middleware.py: request ids, timing, proxy headers, prefixes, CORS, every scope type, /ws limits."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from quart.testing import WebsocketResponseError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from apps.middleware import FRONTEND, create_app
from course import serve

PROXY_HEADERS = {"X-Forwarded-For": "10.9.9.9, 203.0.113.9", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "shop.example", "X-Forwarded-Prefix": "/user/ada/proxy/8000"}


@pytest.fixture
def app():
    return create_app()


@pytest.fixture
def behind_proxy():
    """The app as deployed behind one proxy that also strips a prefix (the settings are opt-in)."""
    return create_app({"TRUSTED_PROXY_HOPS": 1, "FORWARDED_PREFIX": True}).test_client()


# --- request ids ------------------------------------------------------------------------------


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


MALFORMED_IDS = ["", "has space", "x" * 65, "semi;colon", "new\tline", "caf\xe9", "<script>", "a,b"]


@pytest.mark.parametrize("request_id", MALFORMED_IDS)
async def test_a_malformed_id_is_refused_before_the_app_runs(client, request_id):
    response = await client.get("/", headers={"X-Request-Id": request_id})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert "X-Request-Id" in (await response.get_json())["error"]


def test_two_ids_are_refused(served):
    response = httpx.get(served.url + "/", headers=[("X-Request-Id", "a"), ("X-Request-Id", "b")])
    assert response.status_code == 400
    assert "at most one" in response.json()["error"]


# --- proxy headers and prefixes ---------------------------------------------------------------


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


async def test_a_websocket_behind_an_https_proxy_is_still_a_websocket(behind_proxy):
    """Hypercorn's ProxyFixMiddleware copies X-Forwarded-Proto (https) into a websocket's scope,
    where ASGI wants wss: Quart then refused the websocket with a 400."""
    async with behind_proxy.websocket("/ws", headers={"X-Forwarded-Proto": "https"}) as ws:
        assert "request_id" in json.loads(await asyncio.wait_for(ws.receive(), 5))


async def test_a_forwarded_prefix_goes_into_root_path_and_url_for(behind_proxy):
    response = await behind_proxy.get("/whoami", headers={"X-Forwarded-Prefix": "/user/ada/proxy/8000/"})
    who = await response.get_json()
    assert who["root_path"] == "/user/ada/proxy/8000"
    assert who["url_for"] == "/user/ada/proxy/8000/whoami"


@pytest.mark.parametrize("prefix", ["no-slash", "/a b", "/../etc", "/ok/..", "/./x", "/x?y=1", "//evil.example",
                                    "/%2e%2e", "/" + "x" * 5000 + "/\u00e9"])
async def test_a_malformed_prefix_is_refused(behind_proxy, prefix):
    response = await behind_proxy.get("/whoami", headers={"X-Forwarded-Prefix": prefix})
    assert response.status_code == 400
    assert "X-Forwarded-Prefix" in (await response.get_json())["error"]


# --- CORS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin, allowed", [
    (FRONTEND, True), ("https://evil.example", False), (FRONTEND + ".evil.example", False), ("null", False)])
async def test_cors_allows_only_the_frontend_origin(client, origin, allowed):
    response = await client.get("/api/time", headers={"Origin": origin})
    assert response.status_code == 200
    assert (response.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    if allowed:
        assert "X-Request-Id" in response.headers["Access-Control-Expose-Headers"]


async def test_cors_answers_a_preflight(client):
    """Was a 500 on Quart 0.23: quart-cors 0.8's route_cors calls make_default_options_response()
    without the ``ctx`` argument 0.23 added."""
    response = await client.options("/api/time", headers={
        "Origin": FRONTEND, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert response.headers["Access-Control-Allow-Methods"] == "GET"  # what the route answers, no more


async def test_a_preflight_from_another_origin_gets_no_permission(client):
    response = await client.options("/api/time", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


# --- scopes and websockets --------------------------------------------------------------------


async def test_scope_log_sees_lifespan_http_and_websocket(app):
    async with app.test_app() as test_app:  # the lifespan scope passes through every middleware
        client = test_app.test_client()
        await client.get("/")
        async with client.websocket("/ws") as ws:
            await ws.receive()
    seen = list(app.extensions["scope_log"].seen)
    assert seen[0] == "lifespan.startup"
    assert "http /" in seen and "websocket /ws" in seen
    assert seen[-1] == "lifespan.shutdown"


async def test_each_app_has_its_own_scope_log():
    first, second = create_app(), create_app()
    await first.test_client().get("/")
    assert list(first.extensions["scope_log"].seen) == ["http /"]
    assert list(second.extensions["scope_log"].seen) == []


async def test_the_websocket_gets_an_id_and_echoes(client):
    async with client.websocket("/ws", headers={"X-Request-Id": "ws-1", "Origin": FRONTEND}) as ws:
        assert await ws.receive_json() == {"request_id": "ws-1"}
        await ws.send("hi")
        assert await ws.receive() == "You said: hi"


@pytest.mark.parametrize("headers, status, words", [
    ({"X-Request-Id": "no way"}, 400, "X-Request-Id"),
    ({"Origin": "https://evil.example"}, 403, "origin"),
    ({"Origin": "null"}, 403, "origin"),
])
async def test_a_websocket_handshake_can_be_refused_with_json(client, headers, status, words):
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket("/ws", headers=headers) as ws:
            await ws.receive()
    assert refused.value.response.status_code == status
    assert words in (await refused.value.response.get_json())["error"]


def test_served_under_a_root_path_with_real_websockets(app):
    with serve(app, root_path="/shop") as server:
        who = httpx.get(server.url + "/shop/whoami").json()
        assert who["url_for"] == "/shop/whoami"
        assert httpx.get(server.url + "/whoami").status_code == 404
        with connect(server.ws_url + "/shop/ws", proxy=None) as ws:
            assert "request_id" in ws.recv()
        with pytest.raises(InvalidStatus) as refused:
            connect(server.ws_url + "/shop/ws", proxy=None, additional_headers={"X-Request-Id": "a b"})
        assert refused.value.response.status_code == 400


def _websocket_outcome(url: str, origin: str | None, frame: str | bytes) -> tuple:
    """What a client sees: ("echo", text), ("closed", code) or ("refused", status)."""
    try:
        with connect(url, proxy=None, origin=origin, open_timeout=10) as ws:
            ws.recv(timeout=10)  # the greeting with the request id
            ws.send(frame)
            try:
                return "echo", ws.recv(timeout=10)
            except ConnectionClosed as closed:
                return "closed", closed.rcvd.code if closed.rcvd else None
    except InvalidStatus as refused:
        return "refused", refused.response.status_code


WEBSOCKET_CASES = {
    # (Origin, frame): what the client sees
    (None, "hi"): ("echo", "You said: hi"),                # no Origin: not a browser, nothing to protect
    (FRONTEND, "hi"): ("echo", "You said: hi"),
    (FRONTEND, "x" * 4096): ("echo", "You said: " + "x" * 4096),  # exactly the limit
    (FRONTEND, "x" * 4097): ("closed", 1009),              # message too big
    (FRONTEND, b"binary"): ("closed", 1003),               # /ws speaks text
    (FRONTEND, b""): ("closed", 1003),                     # was a KeyError inside Quart under uvicorn
    ("https://evil.example", "hi"): ("refused", 403),     # a page on another site
    (FRONTEND + ".evil.example", "hi"): ("refused", 403),
    ("null", "hi"): ("refused", 403),                      # a sandboxed page or a file:// URL
}


def test_websocket_limits_under_real_servers(run_app):
    server = run_app("apps.middleware:app")
    outcomes = {case: _websocket_outcome(server.ws_url + "/ws", *case) for case in WEBSOCKET_CASES}
    assert outcomes == WEBSOCKET_CASES
    server.stop()
    # run_app checks for tracebacks too; on Quart 0.23 an ExceptionGroup's starts with "  + Exception Group"
    assert "Traceback" not in server.output, server.output


def test_websocket_settings_come_from_the_config():
    app = create_app({"WS_ALLOWED_ORIGINS": ["https://other.example"], "WS_MAX_MESSAGE": 3})
    with serve(app) as server:
        url = server.ws_url + "/ws"
        assert _websocket_outcome(url, "https://other.example", "abc") == ("echo", "You said: abc")
        assert _websocket_outcome(url, "https://other.example", "abcd") == ("closed", 1009)
        assert _websocket_outcome(url, FRONTEND, "abc") == ("refused", 403)


# --- real servers -----------------------------------------------------------------------------


def test_runs_under_a_real_server(run_app, server_kind):
    url = run_app("apps.middleware:app").url
    response = httpx.get(url + "/", headers={"X-Request-Id": "abc"})
    assert response.headers["x-request-id"] == "abc"
    assert "server-timing" in response.headers
    refused = httpx.get(url + "/", headers={"X-Request-Id": "a b"})
    assert refused.status_code == 400 and "error" in refused.json()
    preflight = httpx.options(url + "/api/time", headers={"Origin": FRONTEND, "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == FRONTEND
    who = httpx.get(url + "/whoami", headers=PROXY_HEADERS).json()
    assert who["root_path"] == ""  # the app trusts no proxy header by default
    if server_kind == "hypercorn":  # uvicorn itself trusts X-Forwarded-For from 127.0.0.1 by default
        assert who["client"] == "127.0.0.1" and who["scheme"] == "http"


def test_proxy_settings_come_from_the_environment(run_app):
    env = {"QUART_TRUSTED_PROXY_HOPS": "1", "QUART_FORWARDED_PREFIX": "true"}
    who = httpx.get(run_app("apps.middleware:app", env=env).url + "/whoami", headers=PROXY_HEADERS).json()
    assert who["client"] == "203.0.113.9" and who["scheme"] == "https"
    assert who["url_for"] == "/user/ada/proxy/8000/whoami"
