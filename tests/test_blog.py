"""apps/blog: the app factory, blueprints (nested), serving hooks and JSON errors."""

from __future__ import annotations

import httpx
import pytest

from apps.blog import create_app
from apps.blog.store import posts

JSON = {"Content-Type": "application/json"}
NESTED = b"[" * 30_000


@pytest.fixture
def app():
    return create_app({"SEED_POSTS": False})



def test_routes_and_endpoint_names():
    pairs = {(rule.rule, rule.endpoint) for rule in create_app().url_map.iter_rules()}
    assert pairs == {("/static/<path:filename>", "static"), ("/", "pages.index"), ("/about", "pages.about"),
                     ("/api/v1/posts", "api.v1.list_posts"), ("/api/v1/posts", "api.v1.create_post"),
                     ("/api/v1/posts/<int:post_id>", "api.v1.get_post")}


async def test_factory_builds_independent_apps():
    first, second = create_app({"SEED_POSTS": False}), create_app()
    async with first.test_app() as a, second.test_app() as b:
        await a.test_client().post("/api/v1/posts", json={"title": "t", "body": "b"})
        assert [p["title"] for p in await (await a.test_client().get("/api/v1/posts")).get_json()] == ["t"]
        assert [p["title"] for p in await (await b.test_client().get("/api/v1/posts")).get_json()] == ["Hello, blueprints"]


async def test_serving_hooks_open_and_close_the_store(app):
    async with app.app_context():
        with pytest.raises(RuntimeError, match="not open"):
            posts()
    async with app.test_app():
        assert app.extensions["posts"].open
    assert not app.extensions["posts"].open


async def test_posts_api(client):
    created = await client.post("/api/v1/posts", json={"title": "Hi", "body": "There"})
    assert created.status_code == 201
    assert created.headers["X-API"] == "blog"  # the parent blueprint's hook ran for v1
    post = await created.get_json()
    assert await (await client.get(f"/api/v1/posts/{post['id']}")).get_json() == post
    assert await (await client.get("/")).get_json() == {"posts": 1, "api": "/api/v1/posts"}


@pytest.mark.parametrize("method, path, kwargs, status, words", [
    # (method, path, keyword arguments, expected status, words in the error)
    ("post", "/api/v1/posts", {"data": "{", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/api/v1/posts", {"data": b"\xff", "headers": JSON}, 400, "not UTF-8"),
    ("post", "/api/v1/posts", {"data": NESTED, "headers": JSON}, 400, "nested deeper"),
    ("post", "/api/v1/posts", {"data": b'{"title": {"body": ' * 3_000, "headers": JSON}, 400, "nested deeper"),
    ("post", "/api/v1/posts", {"form": {"title": "t", "body": "b"}}, 415, "application/json"),
    ("post", "/api/v1/posts", {"json": {"title": "t"}}, 422, "body"),
    ("post", "/api/v1/posts", {"json": {"title": "", "body": "b"}}, 422, "title"),
    ("post", "/api/v1/posts", {"json": {"title": " ", "body": "b"}}, 422, "title"),
    ("post", "/api/v1/posts", {"json": {"title": 1, "body": "b"}}, 422, "title"),
    ("post", "/api/v1/posts", {"json": "title"}, 422, "title"),
    ("post", "/api/v1/posts", {"data": b"x" * 70_000, "headers": JSON}, 413, "capacity"),
    ("get", "/api/v1/posts/7", {}, 404, "no post 7"),
    ("get", "/api/v1/posts/99999999999999999999", {}, 404, "no post 99999999999999999999"),
    ("get", "/api/v1/posts/" + "9" * 5000, {}, 404, "not found"),
    ("get", "/api/v1/posts/-1", {}, 404, "not found"),
    ("get", "/api/v2/posts", {}, 404, "not found"),
    ("delete", "/api/v1/posts", {}, 405, "not allowed"),
])
async def test_bad_requests_get_clear_json_errors(client, method, path, kwargs, status, words):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert words.lower() in (await response.get_json())["error"].lower()
    assert await (await client.get("/api/v1/posts")).get_json() == []  # nothing was stored


def test_served_by_the_kit_runs_the_serving_hooks(app, served):
    assert httpx.post(served.url + "/api/v1/posts", json={"title": "t", "body": "b"}).status_code == 201
    served.stop()
    assert not app.extensions["posts"].open  # after_app_serving ran at stop


HOSTILE = {
    # (method, path, body, content type): expected status
    ("GET", "/", b"", None): 200,
    ("POST", "/api/v1/posts", b'{"title": "t", "body": "b"}', "application/json"): 201,
    ("POST", "/api/v1/posts", NESTED, "application/json"): 400,
    ("POST", "/api/v1/posts", b"\xff", "application/json"): 400,
    ("POST", "/api/v1/posts", b"{}", "application/json"): 422,
    ("GET", "/api/v1/posts/99999999999999999999", b"", None): 404,
    ("DELETE", "/api/v1/posts", b"", None): 405,
}


def test_hostile_requests_through_real_servers(run_app):
    server = run_app("apps.blog:app")
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        answers = {case: http.request(case[0], case[1], content=case[2],
                                      headers={"Content-Type": case[3]} if case[3] else {}).status_code
                   for case in HOSTILE}
        assert answers == HOSTILE
        assert http.get("/").json() == {"posts": 2, "api": "/api/v1/posts"}  # the seeded post and ours
