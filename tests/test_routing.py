"""apps/routing.py: converters, methods, JSON and forms, errors, cookies, sessions, templates."""

from __future__ import annotations

import copy
from urllib.parse import quote

import httpx
import pytest

from apps import routing
from apps.routing import app
from course import serve
from cli_server import cli_server

JSON = {"Content-Type": "application/json"}
ITEMS = copy.deepcopy(routing.items)


@pytest.fixture
def client():
    routing.items.clear()
    routing.items.update(copy.deepcopy(ITEMS))
    return app.test_client()


@pytest.mark.parametrize("path, status, expected", [
    ("/items/1", 200, {"id": 1, "name": "teapot", "price": 18.5}),
    ("/files/a/b/c.txt", 200, {"path": "a/b/c.txt", "parts": ["a", "b", "c.txt"]}),
    ("/orders/7c9e6679-7425-40de-944b-e07fc1f90ae7", 200,
     {"order": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "hex": "7c9e6679742540de944be07fc1f90ae7"}),
])
async def test_converters(client, path, status, expected):
    response = await client.get(path)
    assert response.status_code == status
    assert await response.get_json() == expected


async def test_items_accept_json_and_forms(client):
    created = await client.post("/items", json={"name": "saucer", "price": 3.5})
    assert created.status_code == 201
    formed = await client.post("/items", form={"name": "spoon", "price": "1.20"})
    assert formed.status_code == 201
    assert (await formed.get_json())["price"] == 1.2
    names = [item["name"] for item in await (await client.get("/items")).get_json()]
    assert names == ["teapot", "cup", "saucer", "spoon"]


BAD_REQUESTS = [
    ("post", "/items", {"data": "{oops", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/items", {"data": b"\xff\xff", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/items", {"data": "x", "headers": {"Content-Type": "text/plain"}}, 415, "JSON or a form"),
    ("post", "/items", {"data": "x"}, 415, "JSON or a form"),
    ("post", "/items", {"json": {"name": "x"}}, 422, "price"),
    ("post", "/items", {"json": {"price": 1}}, 422, "name"),
    ("post", "/items", {"json": {"name": "x", "price": "lots"}}, 422, "price"),
    ("post", "/items", {"json": {"name": "x", "price": True}}, 422, "price"),
    ("post", "/items", {"json": {"name": "x", "price": -1}}, 422, "price"),
    ("post", "/items", {"form": {"name": "x", "price": "nan"}}, 422, "price"),
    ("post", "/items", {"form": {"name": "x", "price": "inf"}}, 422, "price"),
    ("post", "/items", {"json": ["name"]}, 422, "name"),
    ("post", "/items", {"data": b"x" * 100_000, "headers": JSON}, 413, "capacity"),
    ("get", "/items/99", {}, 404, "no item 99"),
    ("get", "/items/abc", {}, 404, "not found"),
    ("get", "/orders/nope", {}, 404, "not found"),
    ("post", "/theme/purple", {}, 404, "not found"),
    ("post", "/cart/99", {}, 404, "no item 99"),
    ("delete", "/items", {}, 405, "not allowed"),
    ("get", "/theme/dark", {}, 405, "not allowed"),
    ("get", "/report?rows=many", {}, 400, "integer"),
    ("get", "/report?rows=0", {}, 422, "between"),
    ("get", "/report?rows=100000", {}, 422, "between"),
    ("get", "/report?delay=nan", {}, 400, "number"),
    ("get", "/report?delay=5", {}, 422, "between"),
]


@pytest.mark.parametrize("method, path, kwargs, status, words", BAD_REQUESTS)
async def test_bad_requests_get_clear_json_errors(client, method, path, kwargs, status, words):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert words.lower() in (await response.get_json())["error"].lower()


async def test_theme_cookie_changes_the_page(client):
    assert 'data-theme="light"' in await (await client.get("/")).get_data(as_text=True)
    response = await client.post("/theme/dark")
    assert "theme=dark" in response.headers["Set-Cookie"]
    assert 'data-theme="dark"' in await (await client.get("/")).get_data(as_text=True)


async def test_session_cart_is_per_client(client):
    await client.post("/cart/1")
    await client.post("/cart/2")
    assert await (await client.get("/cart")).get_json() == {"cart": [1, 2]}
    assert await (await app.test_client().get("/cart")).get_json() == {"cart": []}


async def test_session_cookie_cannot_be_forged(client):
    await client.post("/cart/1")
    forged = app.test_client()
    forged.set_cookie("localhost", "session", "eyJjYXJ0IjpbMSwyLDNdfQ.forged.signature")
    assert await (await forged.get("/cart")).get_json() == {"cart": []}


async def test_template_string_escapes(client):
    response = await client.get("/hello/" + quote("<img src=x onerror=alert(1)>"))
    assert await response.get_data(as_text=True) == "<p>Hello, &lt;img src=x onerror=alert(1)&gt;!</p>"


async def test_report_streams_every_row(client):
    response = await client.get("/report?rows=20&delay=0")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count("<tr><td>") == 20 and page.rstrip().endswith("</html>")


def test_report_streams_over_a_real_connection():
    with serve(app) as server, httpx.stream("GET", server.url + "/report?rows=30&delay=0.01") as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        chunks = list(response.iter_bytes())
    assert len(chunks) > 1
    assert b"".join(chunks).count(b"<tr><td>") == 30


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
def test_runs_under_real_servers(kind):
    with cli_server(kind, "apps.routing:app") as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/items/1").json()["name"] == "teapot"
        assert http.post("/items", content="{", headers=JSON).status_code == 400
        assert http.post("/cart/1").json() == {"cart": [1]}
        assert http.get("/cart").json() == {"cart": [1]}  # the client kept the session cookie
        assert http.get("/report?rows=5&delay=0").text.count("<tr><td>") == 5
        # A client that hangs up in the middle of a streamed page: no traceback in the server's
        # log (checked below), and the server carries on.
        with http.stream("GET", "/report?rows=500&delay=0.01") as response:
            assert next(response.iter_bytes())
        assert http.get("/items/2").json()["name"] == "cup"
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output
