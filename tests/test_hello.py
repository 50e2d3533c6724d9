"""apps/hello.py: Hello, World! and the JSON notes API (the contract other chapters rely on)."""

from __future__ import annotations

import httpx
import pytest

from apps import hello
from apps.hello import app
from course import serve
from cli_server import cli_server

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client():
    hello.notes.clear()
    return app.test_client()


async def test_index_says_hello(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert await response.get_json() == {"message": "Hello, World!"}


async def test_create_then_get_then_list(client):
    created = await client.post("/notes", json={"text": "buy milk"})
    assert created.status_code == 201
    note = await created.get_json()
    assert note["text"] == "buy milk" and isinstance(note["id"], int)

    fetched = await client.get(f"/notes/{note['id']}")
    assert fetched.status_code == 200
    assert await fetched.get_json() == note

    listed = await client.get("/notes")
    assert await listed.get_json() == [note]


BAD_REQUESTS = [
    # (method, path, keyword arguments, expected status, words in the error)
    ("post", "/notes", {"data": "{not json", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/notes", {"data": b"\xff\xfe\xfa", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/notes", {"data": "", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/notes", {"form": {"text": "hi"}}, 415, "application/json"),
    ("post", "/notes", {"data": "text", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
    ("post", "/notes", {"json": {}}, 422, '"text"'),
    ("post", "/notes", {"json": {"text": ""}}, 422, '"text"'),
    ("post", "/notes", {"json": {"text": 42}}, 422, '"text"'),
    ("post", "/notes", {"json": {"text": ["a"]}}, 422, '"text"'),
    ("post", "/notes", {"json": ["text"]}, 422, '"text"'),
    ("post", "/notes", {"json": None}, 422, '"text"'),
    ("post", "/notes", {"data": b'"' + b"x" * (1024 * 1024) + b'"', "headers": JSON}, 413, "capacity"),
    ("get", "/notes/999", {}, 404, "no note 999"),
    ("get", "/notes/abc", {}, 404, "not found"),
    ("get", "/nowhere", {}, 404, "not found"),
    ("delete", "/notes", {}, 405, "not allowed"),
    ("put", "/", {}, 405, "not allowed"),
]


@pytest.mark.parametrize("method, path, kwargs, status, words", BAD_REQUESTS)
async def test_bad_requests_get_clear_json_errors(client, method, path, kwargs, status, words):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = await response.get_json()
    assert words.lower() in body["error"].lower()


async def test_405_says_which_methods_are_allowed(client):
    response = await client.put("/notes")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_served_for_real_by_the_kit():
    with serve(app) as server:
        created = httpx.post(server.url + "/notes", json={"text": "served"})
        assert created.status_code == 201
        assert httpx.get(f"{server.url}/notes/{created.json()['id']}").json()["text"] == "served"
        oversize = httpx.post(server.url + "/notes", content=b"x" * (2 * 1024 * 1024), headers=JSON)
        assert oversize.status_code == 413


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
def test_runs_under_real_servers(kind):
    with cli_server(kind, "apps.hello:app") as server:
        assert httpx.get(server.url + "/").json() == {"message": "Hello, World!"}
        created = httpx.post(server.url + "/notes", json={"text": "hi"})
        assert created.status_code == 201
        assert httpx.post(server.url + "/notes", content="{", headers=JSON).status_code == 400
        assert httpx.post(server.url + "/notes", content=b"x" * (2 * 1024 * 1024), headers=JSON).status_code == 413
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output
