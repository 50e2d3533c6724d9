"""apps/extensions.py: quart-schema validation and OpenAPI, quart-cors, JSON errors."""

from __future__ import annotations

import httpx
import pytest

from apps.extensions import create_app

JSON = {"Content-Type": "application/json"}
NESTED = b"[" * 30_000


@pytest.fixture
def app():
    return create_app()


async def test_create_list_and_get(client):
    created = await client.post("/todos", json={"task": "write tests", "due": "2026-12-24"})
    assert created.status_code == 201
    todo = await created.get_json()
    assert todo == {"id": 1, "task": "write tests", "due": "2026-12-24"}
    assert await (await client.get("/todos/1")).get_json() == todo
    assert await (await client.get("/todos")).get_json() == [todo]


async def test_each_app_has_its_own_todos():
    first, second = create_app(), create_app()
    await first.test_client().post("/todos", json={"task": "only in the first"})
    assert len(await (await first.test_client().get("/todos")).get_json()) == 1
    assert await (await second.test_client().get("/todos")).get_json() == []


@pytest.mark.parametrize("method, path, kwargs, status, words", [
    # (method, path, keyword arguments, expected status, words in the error)
    ("post", "/todos", {"json": {"task": ""}}, 422, "schema"),
    ("post", "/todos", {"json": {"task": "x" * 201}}, 422, "schema"),
    ("post", "/todos", {"json": {}}, 422, "schema"),
    ("post", "/todos", {"json": {"task": 5}}, 422, "schema"),
    ("post", "/todos", {"json": {"task": "x", "due": "someday"}}, 422, "schema"),
    ("post", "/todos", {"json": {"task": "x", "due": "9" * 5000}}, 422, "schema"),
    ("post", "/todos", {"json": ["task"]}, 422, "schema"),
    ("post", "/todos", {"json": None}, 422, "schema"),
    ("post", "/todos", {"data": "{task", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/todos", {"data": b"\xff\xfe", "headers": JSON}, 400, "not UTF-8"),
    ("post", "/todos", {"data": "", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/todos", {"data": NESTED, "headers": JSON}, 400, "nested deeper"),
    ("post", "/todos", {"data": b'{"task": ' * 5_000, "headers": JSON}, 400, "nested deeper"),
    ("post", "/todos", {"data": b'{"task": NaN}', "headers": JSON}, 400, "not valid JSON"),
    ("post", "/todos", {"form": {"task": "x"}}, 415, "application/json"),
    ("post", "/todos", {"data": "task", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
    ("post", "/todos", {"data": b"x" * 70_000, "headers": JSON}, 413, "capacity"),
    ("get", "/todos/99", {}, 404, "no todo 99"),
    ("get", "/todos/99999999999999999999", {}, 404, "no todo 99999999999999999999"),
    ("get", "/todos/" + "9" * 5000, {}, 404, "not found"),
    ("get", "/todos/x", {}, 404, "not found"),
    ("delete", "/todos", {}, 405, "not allowed"),
])
async def test_bad_requests_get_clear_json_errors(client, method, path, kwargs, status, words):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert words.lower() in (await response.get_json())["error"].lower()
    assert await (await client.get("/todos")).get_json() == []  # nothing was stored


async def test_422_lists_the_problems(client):
    response = await client.post("/todos", json={"due": "someday"})
    detail = (await response.get_json())["detail"]
    assert {tuple(problem["loc"]) for problem in detail} == {("task",), ("due",)}


async def test_openapi_describes_the_routes(client):
    spec = await (await client.get("/openapi.json")).get_json()
    assert spec["info"]["title"] == "Todo API"
    assert set(spec["paths"]) == {"/todos", "/todos/{todo_id}"}
    body = spec["paths"]["/todos"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["task"]


@pytest.mark.parametrize("origin, allowed", [
    ("https://todo.example", True),
    ("https://evil.example", False),
    ("https://todo.example.evil.example", False),
    ("null", False),
])
async def test_cors_allows_only_the_listed_origin(client, origin, allowed):
    response = await client.get("/todos", headers={"Origin": origin})
    assert (response.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    preflight = await client.options("/todos", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert ("Access-Control-Allow-Origin" in preflight.headers) is allowed
    if allowed:
        assert set(preflight.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST"}


HOSTILE = {
    # (method, path, body, content type): expected status
    ("POST", "/todos", b'{"task": "t"}', "application/json"): 201,
    ("POST", "/todos", b'{"task": ""}', "application/json"): 422,
    ("POST", "/todos", NESTED, "application/json"): 400,
    ("POST", "/todos", b"\xff", "application/json"): 400,
    ("GET", "/todos/99999999999999999999", b"", None): 404,
    ("GET", "/docs", b"", None): 200,
}


def test_hostile_requests_through_real_servers(run_app):
    server = run_app("apps.extensions:app")
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        answers = {case: http.request(case[0], case[1], content=case[2],
                                      headers={"Content-Type": case[3]} if case[3] else {}).status_code
                   for case in HOSTILE}
        assert answers == HOSTILE
        allowed = http.get("/todos", headers={"Origin": "https://todo.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://todo.example"
