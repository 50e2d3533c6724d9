"""apps/lifespan.py: resources opened once, background and periodic checks, JSON errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from quart import Quart

from cli_server import cli_server
from apps.lifespan import create_app
from course import serve


@pytest.fixture
def target():
    """A site for the monitor to check, served for real (the monitor fetches it over HTTP)."""
    site = Quart("monitored-site")

    @site.get("/")
    async def ok():
        return "up"

    @site.get("/broken")
    async def broken():
        return "down", 503

    with serve(site) as server:
        yield server


@pytest.fixture
def app():
    """A fresh monitor per test: a Quart app with while_serving starts only once."""
    return create_app()


@pytest.fixture
async def client(app):
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def _site_when_checked(client, site_id: int, checks: int = 1) -> dict:
    """Poll GET /sites/<id> until it has been checked ``checks`` times (bounded wait)."""
    for _ in range(200):
        site = await (await client.get(f"/sites/{site_id}")).get_json()
        if site["checks"] >= checks:
            return site
        await asyncio.sleep(0.025)
    raise AssertionError(f"site {site_id} was not checked {checks} time(s): {site}")


async def test_lifespan_hooks_run_in_order(app):
    async with app.test_app():
        assert app.events == ["before_serving: open database and HTTP client",
                          "while_serving: start the periodic checker"]
    assert app.events[2:] == ["while_serving: periodic checker stopped",
                          "after_serving: closed HTTP client and database"]


async def test_after_serving_closes_the_database_and_client(app):
    async with app.test_app():
        db, http = app.extensions["db"], app.extensions["http"]
    with pytest.raises(ValueError, match="connection"):  # aiosqlite refuses: "no active connection"
        await db.execute("SELECT 1")
    assert http.is_closed


async def test_new_site_is_accepted_then_checked_in_the_background(client, target):
    response = await client.post("/sites", json={"url": target.url + "/"})
    assert response.status_code == 202
    created = await response.get_json()
    assert created["status"] is None and created["checks"] == 0
    site = await _site_when_checked(client, created["id"])
    assert site["status"] == 200


@pytest.mark.parametrize(("path", "status"), [("/broken", 503)])
async def test_status_of_a_failing_site_is_stored(client, target, path, status):
    created = await (await client.post("/sites", json={"url": target.url + path})).get_json()
    assert (await _site_when_checked(client, created["id"]))["status"] == status


async def test_unreachable_site_gets_status_0(client):
    created = await (await client.post("/sites", json={"url": "http://127.0.0.1:1/"})).get_json()
    assert (await _site_when_checked(client, created["id"]))["status"] == 0


async def test_a_site_that_fails_unexpectedly_does_not_stop_the_periodic_job(target, caplog):
    """A row the HTTP client cannot even request (stored before URLs were validated, say)."""
    app = create_app({"CHECK_INTERVAL": 0.05})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        db = app.extensions["db"]
        await db.execute("INSERT INTO sites (url) VALUES (?)", ("http://\x00x/",))  # httpx: InvalidURL
        await db.commit()
        good = await (await client.post("/sites", json={"url": target.url + "/"})).get_json()
        bad = await _site_when_checked(client, 1, checks=2)
        assert (await _site_when_checked(client, good["id"], checks=3))["status"] == 200
    assert bad["status"] == 0  # recorded as down
    assert "checking site 1" in caplog.text and "InvalidURL" in caplog.text  # and logged
    assert app.events[-1] == "after_serving: closed HTTP client and database"  # shutdown still works


async def test_adding_a_site_twice_returns_the_existing_one(client, target):
    first = await client.post("/sites", json={"url": target.url + "/"})
    second = await client.post("/sites", json={"url": target.url + "/"})
    assert (first.status_code, second.status_code) == (202, 200)
    assert (await second.get_json())["id"] == (await first.get_json())["id"]
    sites = await (await client.get("/sites")).get_json()
    assert len(sites) == 1


async def test_periodic_job_checks_again(target):
    app = create_app({"CHECK_INTERVAL": 0.05})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        created = await (await client.post("/sites", json={"url": target.url + "/"})).get_json()
        site = await _site_when_checked(client, created["id"], checks=3)
    assert site["status"] == 200


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b"{oops", JSON, 400),                                # malformed JSON
    (b"\xff\xfe", JSON, 400),                             # not UTF-8
    (b"url=http://x", {"Content-Type": "text/plain"}, 415),  # not JSON
    (b'{"url": "ftp://example.org"}', JSON, 422),         # wrong scheme
    (b'{"url": "http://"}', JSON, 422),                   # no host
    (b'{"url": "http://\\u0000x/"}', JSON, 422),          # a character httpx refuses in a URL
    (b'{"url": "http://[::1/"}', JSON, 422),               # unbalanced bracket
    (b'{"url": "http://127.0.0.1:99999/"}', JSON, 422),    # port out of range
    (b'{"url": 42}', JSON, 422),                          # wrong type
    (b"{}", JSON, 422),                                   # missing field
    (b'["http://example.org"]', JSON, 422),               # not an object
    (b"x" * (64 * 1024 + 1), JSON, 413),                  # over MAX_CONTENT_LENGTH
])
async def test_bad_site_is_refused_with_a_json_error(client, body, headers, status):
    response = await client.post("/sites", data=body, headers=headers)
    assert response.status_code == status
    assert "error" in await response.get_json()
    assert await (await client.get("/sites")).get_json() == []  # nothing was stored


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/sites/999", 404), ("GET", "/nowhere", 404), ("DELETE", "/sites", 405), ("PUT", "/", 405),
])
async def test_wrong_url_or_method_gets_a_json_error(client, method, path, status):
    response = await client.open(path, method=method)
    assert response.status_code == status
    assert "error" in await response.get_json()


def test_served_for_real_with_the_kit(app, target):
    with serve(app) as server:
        response = httpx.post(server.url + "/sites", json={"url": target.url + "/"})
        assert response.status_code == 202
        assert httpx.get(server.url + "/sites").json()[0]["url"] == target.url + "/"


@pytest.mark.parametrize("server", ["hypercorn", "uvicorn"])
def test_runs_under_a_real_server(server, tmp_path):
    database = tmp_path / "sites.db"
    with cli_server(server, "apps.lifespan:app", env={"QUART_DATABASE": str(database)}) as running:
        url = running.url
        assert httpx.post(url + "/sites", json={"url": url + "/"}).status_code == 202
        assert httpx.post(url + "/sites", content=b"{", headers=JSON).status_code == 400
    assert running.returncode in (0, -15), running.output  # hypercorn exits 0; uvicorn re-raises SIGTERM
    assert "Traceback" not in running.output, running.output
    import sqlite3
    with sqlite3.connect(database) as db:  # after_serving closed it; the row is on disk
        assert db.execute("SELECT url FROM sites").fetchall() == [(url + "/",)]
