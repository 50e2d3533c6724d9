"""apps/errors.py: every error as JSON, and one way to read a JSON body (415 / 400, never a 500)."""

from __future__ import annotations

import json

import httpx
import pytest
from quart import Quart, abort, request
from quart.testing import WebsocketResponseError

from apps.errors import MAX_DEPTH, json_body, json_errors, limit_body

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def app():
    """A tiny app that uses the helpers, as the apps of the course do."""
    app = Quart(__name__)
    json_errors(app)
    limit_body(app)
    app.config["MAX_CONTENT_LENGTH"] = 1024
    app.bodies = []  # the sizes of the bodies the view read in full

    @app.get("/only-get")
    async def only_get():
        return {"ok": True}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("secret detail from deep inside")

    @app.get("/teapot")
    async def teapot():
        abort(418, "short and stout")

    @app.post("/echo")
    async def echo():
        return {"got": await json_body()}

    @app.post("/size")
    async def size():
        app.bodies.append(len(await request.get_data()))
        return {"size": app.bodies[-1]}

    @app.post("/shallow")
    async def shallow():
        return {"got": await json_body(max_depth=2)}

    @app.websocket("/ws")
    async def refuse():
        abort(403, "not from this origin")

    return app


# --- json_errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, kwargs, status, words", [
    ("get", "/nowhere", {}, 404, "not found"),
    ("post", "/only-get", {}, 405, "not allowed"),
    ("get", "/teapot", {}, 418, "short and stout"),           # abort(code, description)
    ("post", "/echo", {"data": b"x" * 2048, "headers": JSON}, 413, "capacity"),  # MAX_CONTENT_LENGTH
])
async def test_http_errors_are_json(client, method, path, kwargs, status, words):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert words in (await response.get_json())["error"].lower()


async def test_405_keeps_its_allow_header(client):
    response = await client.delete("/only-get")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


async def test_a_bug_is_a_plain_json_500_and_logged(client, caplog):
    response = await client.get("/boom")
    assert response.status_code == 500
    assert await response.get_json() == {"error": "internal server error"}
    body = await response.get_data(as_text=True)
    assert "secret detail" not in body and "Traceback" not in body  # nothing leaks to the client
    assert "secret detail from deep inside" in caplog.text  # but the log has it


async def test_a_refused_websocket_handshake_is_json(client):
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket("/ws") as ws:
            await ws.receive()
    assert refused.value.response.status_code == 403
    assert await refused.value.response.get_json() == {"error": "not from this origin"}


# --- json_body --------------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


GOOD_BODIES = [
    # (body, content type, what json_body returns)
    (b'{"text": "hi"}', "application/json", {"text": "hi"}),
    (b'{"text": "hi"}', "application/json; charset=utf-8", {"text": "hi"}),
    (b'{"text": "hi"}', "application/merge-patch+json", {"text": "hi"}),     # any +json type
    ('{"text": "caf\u00e9 \u2615"}'.encode(), "application/json", {"text": "caf\u00e9 \u2615"}),
    (b"[1, 2.5, null, true]", "application/json", [1, 2.5, None, True]),
    (nested(MAX_DEPTH), "application/json", json.loads(nested(MAX_DEPTH))),  # as deep as allowed
    # Brackets inside strings are text, not nesting (escaped quotes do not end a string).
    (json.dumps({"text": "[" * 100 + '\\"{' * 50}).encode(), "application/json",
     {"text": "[" * 100 + '\\"{' * 50}),
]


@pytest.mark.parametrize("body, content_type, expected", GOOD_BODIES)
async def test_json_body_returns_the_parsed_json(client, body, content_type, expected):
    response = await client.post("/echo", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert await response.get_json() == {"got": expected}


BAD_BODIES = [
    # (body, content type or None, status, words in the error)
    (b'{"text": "hi"}', None, 415, "application/json"),
    (b'{"text": "hi"}', "text/plain", 415, "application/json"),
    (b"text=hi", "application/x-www-form-urlencoded", 415, "application/json"),
    (b"", "application/json", 400, "not valid json"),
    (b"{oops", "application/json", 400, "not valid json"),
    (b'{"text": "hi"} trailing', "application/json", 400, "not valid json"),
    (b"\xff\xfe\xfa", "application/json", 400, "utf-8"),
    ('{"text": "hi"}'.encode("latin-1") + b"\xe9", "application/json", 400, "utf-8"),
    ('{"text": "hi"}'.encode("utf-16"), "application/json", 400, "utf-8"),    # json.loads(bytes) would take it
    ('{"text": "hi"}'.encode("utf-32"), "application/json", 400, "utf-8"),
    (b"\xef\xbb\xbf{}", "application/json", 400, "not valid json"),           # a UTF-8 BOM
    (b"[NaN]", "application/json", 400, "not valid json"),                   # Python's json extension, not JSON
    (b"[-Infinity]", "application/json", 400, "not valid json"),
    (b"1" * 5000, "application/json", 400, "not valid json"),                # int() refuses 4,300+ digits
    (nested(MAX_DEPTH + 1), "application/json", 400, "nested deeper"),
    (b"[" * 30_000, "application/json", 400, "nested deeper"),               # RecursionError in json.loads
    (b'{"a":' * 30_000, "application/json", 400, "nested deeper"),
    (b'["]' + b"[" * 30_000, "application/json", 400, "nested deeper"),      # an unclosed string hides nothing
]


@pytest.mark.parametrize("body, content_type, status, words", BAD_BODIES)
async def test_json_body_refuses_with_a_clear_4xx(client, body, content_type, status, words):
    headers = {"Content-Type": content_type} if content_type else {}
    client.app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = await client.post("/echo", data=body, headers=headers)
    assert response.status_code == status
    assert words in (await response.get_json())["error"].lower()


async def test_max_depth_is_a_parameter(client):
    assert (await client.post("/shallow", json=[[1]])).status_code == 200
    response = await client.post("/shallow", json=[[[1]]])
    assert response.status_code == 400
    assert "nested deeper than 2" in (await response.get_json())["error"]


# --- limit_body -------------------------------------------------------------------------------


def _chunks(total: int, size: int = 256):
    """A body without Content-Length: httpx sends it chunked."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


@pytest.mark.parametrize("total, status", [(1024, 200), (1025, 413), (10 * 1024 * 1024, 413)])
def test_limit_body_applies_max_content_length_while_a_chunked_body_arrives(app, served, total, status):
    """Quart 0.23 queues a chunked body whole before it compares its size with MAX_CONTENT_LENGTH."""
    response = httpx.post(served.url + "/size", content=_chunks(total), trust_env=False)
    assert response.status_code == status
    assert "error" in response.json() or response.json() == {"size": total}
    assert app.bodies == ([total] if status == 200 else [])  # the view never saw a cut-off body


async def test_limit_body_answers_413_in_the_test_client_too(client):
    response = await client.post("/size", data=b"x" * 2048)
    assert response.status_code == 413
    assert "capacity" in (await response.get_json())["error"]
    assert client.app.bodies == []
