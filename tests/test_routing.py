"""apps/routing.py: converters, methods, JSON and forms, errors, cookies, sessions, templates."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from apps.routing import create_app

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NESTED = b"[" * 30_000


@pytest.fixture
def app():
    return create_app()


@pytest.mark.parametrize("path, expected", [
    ("/items/1", {"id": 1, "name": "teapot", "price": 18.5}),
    ("/files/a/b/c.txt", {"path": "a/b/c.txt", "parts": ["a", "b", "c.txt"]}),
    ("/orders/7c9e6679-7425-40de-944b-e07fc1f90ae7",
     {"order": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "hex": "7c9e6679742540de944be07fc1f90ae7"}),
])
async def test_converters(client, path, expected):
    response = await client.get(path)
    assert response.status_code == 200
    assert await response.get_json() == expected


async def test_items_accept_json_and_forms(client):
    created = await client.post("/items", json={"name": "saucer", "price": 3.5})
    assert created.status_code == 201
    formed = await client.post("/items", form={"name": "spoon", "price": "1.20"})
    assert formed.status_code == 201
    assert (await formed.get_json())["price"] == 1.2
    names = [item["name"] for item in await (await client.get("/items")).get_json()]
    assert names == ["teapot", "cup", "saucer", "spoon"]


async def test_each_app_has_its_own_items():
    first, second = create_app(), create_app()
    await first.test_client().post("/items", json={"name": "saucer", "price": 3.5})
    assert len(await (await first.test_client().get("/items")).get_json()) == 3
    assert len(await (await second.test_client().get("/items")).get_json()) == 2


BAD_REQUESTS = [
    # (method, path, keyword arguments, expected status, words in the error)
    ("post", "/items", {"data": "{oops", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/items", {"data": b"\xff\xff", "headers": JSON}, 400, "not UTF-8"),
    ("post", "/items", {"data": NESTED, "headers": JSON}, 400, "nested deeper"),
    ("post", "/items", {"data": b'{"name": "x", "price": NaN}', "headers": JSON}, 400, "not valid JSON"),
    ("post", "/items", {"data": "x", "headers": {"Content-Type": "text/plain"}}, 415, "JSON or a form"),
    ("post", "/items", {"data": "x"}, 415, "JSON or a form"),
    ("post", "/items", {"json": {"name": "x"}}, 422, "price"),
    ("post", "/items", {"json": {"price": 1}}, 422, "name"),
    ("post", "/items", {"json": {"name": "   ", "price": 1}}, 422, "name"),
    ("post", "/items", {"json": {"name": "x", "price": "lots"}}, 422, "price"),
    ("post", "/items", {"json": {"name": "x", "price": True}}, 422, "price"),
    ("post", "/items", {"json": {"name": "x", "price": -1}}, 422, "price"),
    ("post", "/items", {"data": b'{"name": "x", "price": 1e400}', "headers": JSON}, 422, "price"),
    ("post", "/items", {"data": b'{"name": "x", "price": ' + b"9" * 4000 + b"}", "headers": JSON}, 422, "price"),
    ("post", "/items", {"form": {"name": "x", "price": "nan"}}, 422, "price"),
    ("post", "/items", {"form": {"name": "x", "price": "inf"}}, 422, "price"),
    ("post", "/items", {"form": {"name": "x", "price": "9" * 5000}}, 422, "price"),
    ("post", "/items", {"data": b"name=\xff\xfe&price=", "headers": FORM}, 422, "price"),
    ("post", "/items", {"data": b"garbage", "headers": {"Content-Type": "multipart/form-data; boundary=zz"}}, 422, "name"),
    ("post", "/items", {"json": ["name"]}, 422, "name"),
    ("post", "/items", {"data": b"x" * 100_000, "headers": JSON}, 413, "capacity"),
    ("get", "/items/99", {}, 404, "no item 99"),
    ("get", "/items/99999999999999999999", {}, 404, "no item 99999999999999999999"),
    ("get", "/items/" + "9" * 5000, {}, 404, "not found"),
    ("get", "/items/abc", {}, 404, "not found"),
    ("get", "/items/-1", {}, 404, "not found"),
    ("get", "/orders/nope", {}, 404, "not found"),
    ("post", "/theme/purple", {}, 404, "not found"),
    ("post", "/cart/99", {}, 404, "no item 99"),
    ("post", "/cart/99999999999999999999", {}, 404, "no item 99999999999999999999"),
    ("post", "/cart/" + "9" * 5000, {}, 404, "not found"),
    ("delete", "/items", {}, 405, "not allowed"),
    ("get", "/theme/dark", {}, 405, "not allowed"),
    ("get", "/report?rows=many", {}, 400, "integer"),
    ("get", "/report?rows=" + "9" * 5000, {}, 400, "integer"),
    ("get", "/report?rows=0", {}, 422, "between"),
    ("get", "/report?rows=100000", {}, 422, "between"),
    ("get", "/report?delay=nan", {}, 400, "number"),
    ("get", "/report?delay=1e400", {}, 400, "number"),
    ("get", "/report?delay=5", {}, 422, "between"),
]


@pytest.mark.parametrize("method, path, kwargs, status, words", BAD_REQUESTS)
async def test_bad_requests_get_clear_json_errors(client, method, path, kwargs, status, words):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert words.lower() in (await response.get_json())["error"].lower()
    assert len(await (await client.get("/items")).get_json()) == 2  # nothing was stored


async def test_theme_cookie_changes_the_page(client):
    assert '<html lang="en" data-theme="light">' in await (await client.get("/")).get_data(as_text=True)
    response = await client.post("/theme/dark")
    assert "theme=dark" in response.headers["Set-Cookie"]
    assert '<html lang="en" data-theme="dark">' in await (await client.get("/")).get_data(as_text=True)


@pytest.mark.parametrize("cookie", ["purple", "x onload=alert(1)", '"><script>alert(1)</script>'])
async def test_a_theme_cookie_the_app_did_not_set_falls_back_to_light(client, cookie):
    client.set_cookie("localhost", "theme", cookie)
    page = await (await client.get("/")).get_data(as_text=True)
    assert '<html lang="en" data-theme="light">' in page


async def test_session_cart_is_per_client(app, client):
    await client.post("/cart/1")
    await client.post("/cart/2")
    assert await (await client.get("/cart")).get_json() == {"cart": [1, 2]}
    assert await (await app.test_client().get("/cart")).get_json() == {"cart": []}


async def test_session_cookie_cannot_be_forged(app, client):
    await client.post("/cart/1")
    forged = app.test_client()
    forged.set_cookie("localhost", "session", "eyJjYXJ0IjpbMSwyLDNdfQ.forged.signature")
    assert await (await forged.get("/cart")).get_json() == {"cart": []}


@pytest.mark.parametrize("name", ["<img src=x onerror=alert(1)>", "\"'&", "%ff", "\u202e"])
async def test_template_string_escapes(client, name):
    page = await (await client.get("/hello/" + quote(name))).get_data(as_text=True)
    assert "<img" not in page and "\"'" not in page
    assert page.startswith("<p>Hello, ") and page.endswith("!</p>")


async def test_report_streams_every_row(client):
    response = await client.get("/report?rows=20&delay=0")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count("<tr><td>") == 20 and page.rstrip().endswith("</html>")


def test_report_streams_over_a_real_connection(served):
    with httpx.stream("GET", served.url + "/report?rows=30&delay=0.01") as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        chunks = list(response.iter_bytes())
    assert len(chunks) > 1
    assert b"".join(chunks).count(b"<tr><td>") == 30


HOSTILE = {
    # (method, path, body, content type): expected status
    ("POST", "/items", b'{"name": "saucer", "price": 3.5}', "application/json"): 201,
    ("POST", "/items", NESTED, "application/json"): 400,
    ("POST", "/items", b"\xff", "application/json"): 400,
    ("POST", "/items", b'{"name": "x", "price": ' + b"9" * 4000 + b"}", "application/json"): 422,
    ("GET", "/items/99999999999999999999", b"", None): 404,
    ("POST", "/cart/99999999999999999999", b"", None): 404,
    ("GET", "/report?rows=" + "9" * 5000, b"", None): 400,
}


def test_hostile_requests_through_real_servers(run_app):
    server = run_app("apps.routing:app")
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        answers = {case: http.request(case[0], case[1], content=case[2],
                                      headers={"Content-Type": case[3]} if case[3] else {}).status_code
                   for case in HOSTILE}
        assert answers == HOSTILE
        assert http.post("/cart/1").json() == {"cart": [1]}
        assert http.get("/cart").json() == {"cart": [1]}  # the client kept the session cookie
        # A client that hangs up in the middle of a streamed page: the server carries on, and
        # prints no traceback (run_app checks; Quart 0.23 cancels the view, 0.22 stops sending).
        with http.stream("GET", "/report?rows=500&delay=0.01") as response:
            assert next(response.iter_bytes())
        assert http.get("/items/2").json()["name"] == "cup"
