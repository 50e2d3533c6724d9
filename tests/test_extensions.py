"""apps/extensions.py: quart-schema validation and OpenAPI, quart-cors, JSON errors."""

from __future__ import annotations

import httpx
import pytest

from apps import extensions
from apps.extensions import app
from course import serve
from cli_server import cli_server

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client():
    extensions.todos.clear()
    return app.test_client()


async def test_create_list_and_get(client):
    created = await client.post("/todos", json={"task": "write tests", "due": "2026-12-24"})
    assert created.status_code == 201
    todo = await created.get_json()
    assert todo == {"id": 1, "task": "write tests", "due": "2026-12-24"}
    assert await (await client.get("/todos/1")).get_json() == todo
    assert await (await client.get("/todos")).get_json() == [todo]


@pytest.mark.parametrize("method, path, kwargs, status, words", [
    ("post", "/todos", {"json": {"task": ""}}, 422, "schema"),
    ("post", "/todos", {"json": {"task": "x" * 201}}, 422, "schema"),
    ("post", "/todos", {"json": {}}, 422, "schema"),
    ("post", "/todos", {"json": {"task": 5}}, 422, "schema"),
    ("post", "/todos", {"json": {"task": "x", "due": "someday"}}, 422, "schema"),
    ("post", "/todos", {"json": ["task"]}, 422, "schema"),
    ("post", "/todos", {"json": None}, 422, "schema"),
    ("post", "/todos", {"data": "{task", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/todos", {"data": b"\xff\xfe", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/todos", {"data": "", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/todos", {"form": {"task": "x"}}, 415, "application/json"),
    ("post", "/todos", {"data": "task", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
    ("post", "/todos", {"data": b"x" * 70_000, "headers": JSON}, 413, "capacity"),
    ("get", "/todos/99", {}, 404, "no todo 99"),
    ("get", "/todos/x", {}, 404, "not found"),
    ("delete", "/todos", {}, 405, "not allowed"),
])
async def test_bad_requests_get_clear_json_errors(client, method, path, kwargs, status, words):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert words.lower() in (await response.get_json())["error"].lower()


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


@pytest.mark.parametrize("origin, allowed", [("https://todo.example", True), ("https://evil.example", False)])
async def test_cors_allows_only_the_listed_origin(client, origin, allowed):
    response = await client.get("/todos", headers={"Origin": origin})
    assert (response.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    preflight = await client.options("/todos", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert ("Access-Control-Allow-Origin" in preflight.headers) is allowed


def test_served_for_real_by_the_kit():
    extensions.todos.clear()
    with serve(app) as server:
        assert httpx.post(server.url + "/todos", json={"task": "served"}).status_code == 201
        assert httpx.post(server.url + "/todos", content=b"\xff", headers=JSON).status_code == 400
        assert httpx.get(server.url + "/docs").status_code == 200


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
def test_runs_under_real_servers(kind):
    with cli_server(kind, "apps.extensions:app") as server:
        assert httpx.post(server.url + "/todos", json={"task": "t"}).status_code == 201
        assert httpx.post(server.url + "/todos", json={"task": ""}).status_code == 422
        assert httpx.get(server.url + "/todos", headers={"Origin": "https://todo.example"}).headers[
            "access-control-allow-origin"] == "https://todo.example"
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output
