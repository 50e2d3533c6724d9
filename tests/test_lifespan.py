"""apps/lifespan.py: resources opened once, background and periodic checks, an SSRF-safe monitor."""

from __future__ import annotations

import asyncio
import ipaddress
import sqlite3
import time

import httpx
import pytest
from quart import Quart, redirect, request

import apps.lifespan
from apps.lifespan import create_app
from course import serve, tls_context

JSON = {"Content-Type": "application/json"}
LOOPBACK = {"MONITOR_ALLOWED_NETWORKS": ["127.0.0.0/8"]}  # the test sites run on this machine


@pytest.fixture
def target():
    """A site for the monitor to check, served for real on 127.0.0.1; ``target.hosts`` records Host headers."""
    site = Quart("monitored-site")
    site.hosts = []

    @site.get("/")
    async def ok():
        site.hosts.append(request.headers["Host"])
        return "up"

    @site.get("/broken")
    async def broken():
        return "down", 503

    @site.get("/to-metadata")
    async def to_metadata():
        return redirect("http://169.254.169.254/latest/meta-data/")

    @site.get("/endless")
    async def endless():
        async def forever():
            while True:
                yield b"x" * 65536
                await asyncio.sleep(0)
        return forever()

    @site.get("/slow")
    async def slow():
        await asyncio.sleep(60)
        return "late"

    with serve(site) as server:
        server.hosts = site.hosts
        yield server


@pytest.fixture
def app():
    """A fresh monitor per test that may check this machine (a Quart app with while_serving starts once)."""
    return create_app(LOOPBACK)



async def _site_when_checked(client, site_id: int, checks: int = 1, timeout: float = 20) -> dict:
    """Poll GET /sites/<id> until it has been checked ``checks`` times (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        site = await (await client.get(f"/sites/{site_id}")).get_json()
        if site["checks"] >= checks:
            return site
        if time.monotonic() > deadline:
            raise AssertionError(f"site {site_id} was not checked {checks} time(s): {site}")
        await asyncio.sleep(0.02)


# --- lifespan and background work -------------------------------------------------------------


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
    assert created == {"id": 1, "url": target.url + "/", "status": None, "checked_at": None, "checks": 0}
    assert (await _site_when_checked(client, created["id"]))["status"] == 200


@pytest.mark.parametrize("path, status", [
    ("/broken", 503),
    ("/to-metadata", 302),  # redirects are reported, never followed (a redirect could lead inside)
    ("/endless", 200),      # the status line is enough: the body is never read
])
async def test_the_status_of_the_response_is_stored(client, target, path, status):
    created = await (await client.post("/sites", json={"url": target.url + path})).get_json()
    assert (await _site_when_checked(client, created["id"]))["status"] == status


async def test_unreachable_site_gets_status_0(client):
    created = await (await client.post("/sites", json={"url": "http://127.0.0.1:1/"})).get_json()
    assert (await _site_when_checked(client, created["id"]))["status"] == 0


async def test_a_check_has_a_deadline(target):
    app = create_app({**LOOPBACK, "CHECK_TIMEOUT": 0.2})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        created = await (await client.post("/sites", json={"url": target.url + "/slow"})).get_json()
        assert (await _site_when_checked(client, created["id"]))["status"] == 0


async def test_a_site_that_fails_unexpectedly_does_not_stop_the_periodic_job(target, caplog):
    """A row the HTTP client cannot even request (stored before URLs were validated, say)."""
    app = create_app({**LOOPBACK, "CHECK_INTERVAL": 0.05})
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
    assert len(await (await client.get("/sites")).get_json()) == 1


async def test_periodic_job_checks_again(target):
    app = create_app({**LOOPBACK, "CHECK_INTERVAL": 0.05})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        created = await (await client.post("/sites", json={"url": target.url + "/"})).get_json()
        site = await _site_when_checked(client, created["id"], checks=3)
    assert site["status"] == 200


async def test_a_site_can_be_removed(client, target):
    created = await (await client.post("/sites", json={"url": target.url + "/"})).get_json()
    assert (await client.delete(f"/sites/{created['id']}")).status_code == 204
    assert (await client.get(f"/sites/{created['id']}")).status_code == 404
    assert (await client.delete(f"/sites/{created['id']}")).status_code == 404


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "headers", "status", "words"), [
    (b"{oops", JSON, 400, "not valid JSON"),
    (b"\xff\xfe", JSON, 400, "not UTF-8"),
    (b"[" * 30_000, JSON, 400, "nested deeper"),
    (b'{"url": ' * 5_000, JSON, 400, "nested deeper"),
    (b"url=http://x", {"Content-Type": "text/plain"}, 415, "application/json"),
    (b'{"url": "ftp://example.org"}', JSON, 422, "http"),
    (b'{"url": "http://"}', JSON, 422, "http"),
    (b'{"url": "http://\\u0000x/"}', JSON, 422, "http"),      # a character httpx refuses in a URL
    (b'{"url": "http://[::1/"}', JSON, 422, "http"),           # unbalanced bracket
    (b'{"url": "http://example.org:99999/"}', JSON, 422, "port"),
    (b'{"url": "http://example.org:0/"}', JSON, 422, "port"),  # port 0: "any port" to some stacks
    (b'{"url": "http://example.org/' + b"a" * 3000 + b'"}', JSON, 422, "2048"),
    (b'{"url": 42}', JSON, 422, "http"),
    (b"{}", JSON, 422, "http"),
    (b'["http://example.org"]', JSON, 422, "http"),
    (b"x" * (64 * 1024 + 1), JSON, 413, "capacity"),
])
async def test_bad_site_is_refused_with_a_json_error(client, body, headers, status, words):
    response = await client.post("/sites", data=body, headers=headers)
    assert response.status_code == status
    assert words.lower() in (await response.get_json())["error"].lower()
    assert await (await client.get("/sites")).get_json() == []  # nothing was stored


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/sites/999", 404),
    ("GET", "/sites/9223372036854775807", 404),    # the largest id SQLite can store
    ("GET", "/sites/9223372036854775808", 404),    # one more: binding it raised OverflowError, a 500
    ("GET", "/sites/99999999999999999999", 404),
    ("GET", "/sites/" + "9" * 5000, 404),
    ("DELETE", "/sites/99999999999999999999", 404),
    ("GET", "/nowhere", 404),
    ("DELETE", "/sites", 405),
    ("PUT", "/", 405),
])
async def test_wrong_url_or_method_gets_a_json_error(client, method, path, status):
    response = await client.open(path, method=method)
    assert response.status_code == status
    assert "error" in await response.get_json()


# --- not a port scanner (SSRF) ----------------------------------------------------------------

REFUSED = [
    "http://127.0.0.1:{port}/",            # loopback, a port that is open
    "http://127.0.0.1:1/",                 # loopback, a port that is closed
    "http://localhost:{port}/",            # a name for loopback
    "http://127.1:{port}/",                # short form of 127.0.0.1
    "http://2130706433:{port}/",           # 127.0.0.1 as one integer
    "http://0x7f.1:{port}/",               # and in hex
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",   # IPv4-mapped IPv6
    "http://[64:ff9b::7f00:1]:{port}/",    # NAT64 of 127.0.0.1
    "http://0.0.0.0:{port}/",              # unspecified: loopback on Linux
    "http://[::]:{port}/",
    "http://10.0.0.1/",                    # private
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.100.100.200/",             # shared address space (a cloud's metadata service)
    "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
    "http://[fd00:ec2::254]/",             # unique local: cloud metadata over IPv6
    "http://[fe80::1]/",
    "http://224.0.0.1/",                   # multicast
    "http://user:secret@127.0.0.1:{port}/",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_addresses_are_refused_by_default(target, url):
    """Without MONITOR_ALLOWED_NETWORKS, only public addresses; nothing is fetched to decide."""
    async with create_app().test_app() as test_app:
        client = test_app.test_client()
        response = await client.post("/sites", json={"url": url.format(port=target.port)})
        assert response.status_code == 422
        error = (await response.get_json())["error"]
        assert "public" in error and "secret" not in error and "127.0.0.1" not in error
        assert await (await client.get("/sites")).get_json() == []
    assert target.hosts == []  # the target was never contacted


async def test_refused_answers_cannot_tell_open_from_closed_ports(target):
    async with create_app().test_app() as test_app:
        client = test_app.test_client()
        answers = []
        for port in (target.port, 1):  # open, closed
            response = await client.post("/sites", json={"url": f"http://127.0.0.1:{port}/"})
            answers.append((response.status_code, await response.get_data()))
    assert answers[0] == answers[1]


def test_a_malformed_allowed_network_fails_at_once():
    with pytest.raises(ValueError, match="does not appear to be"):
        create_app({"MONITOR_ALLOWED_NETWORKS": ["localhost"]})


async def test_allowed_networks_open_exactly_those_addresses(target):
    app = create_app({"MONITOR_ALLOWED_NETWORKS": ["127.0.0.1/32"]})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        assert (await client.post("/sites", json={"url": target.url + "/"})).status_code == 202
        assert (await client.post("/sites", json={"url": "http://127.0.0.2/"})).status_code == 422
        assert (await client.post("/sites", json={"url": "http://169.254.169.254/"})).status_code == 422


def _resolver(answers: dict[str, list[str]]):
    """A stand-in for DNS: each name answers the addresses in its list, one per lookup, then the last."""

    async def resolve(host: str, port: int):
        if host not in answers:
            return [ipaddress.ip_address(host)]
        queue = answers[host]
        return [ipaddress.ip_address(queue.pop(0) if len(queue) > 1 else queue[0])]

    return resolve


async def test_dns_rebinding_is_refused_at_check_time(target, monkeypatch):
    """A name that is public when added and points at loopback when checked (DNS rebinding)."""
    monkeypatch.setattr(apps.lifespan, "resolve", _resolver({
        "open.rebind.test": ["93.184.216.34", "127.0.0.1"], "closed.rebind.test": ["93.184.216.34", "127.0.0.1"]}))
    async with create_app().test_app() as test_app:
        client = test_app.test_client()
        results = []
        for url in (f"http://open.rebind.test:{target.port}/", "http://closed.rebind.test:1/"):
            created = await client.post("/sites", json={"url": url})
            assert created.status_code == 202  # public when added
            site = await _site_when_checked(client, (await created.get_json())["id"])
            results.append({key: site[key] for key in ("status", "checks")})
    assert results == [{"status": 0, "checks": 1}] * 2  # open and closed look the same
    assert target.hosts == []  # and the check never connected


async def test_the_check_connects_to_the_address_it_checked(target, monkeypatch):
    """The name is resolved once per check; the request goes to that address, with the name as Host."""
    monkeypatch.setattr(apps.lifespan, "resolve", _resolver({"site.test": ["127.0.0.1"]}))
    async with create_app(LOOPBACK).test_app() as test_app:
        client = test_app.test_client()
        created = await (await client.post("/sites", json={"url": f"http://site.test:{target.port}/"})).get_json()
        assert (await _site_when_checked(client, created["id"]))["status"] == 200
    assert target.hosts == [f"site.test:{target.port}"]


@pytest.mark.parametrize("name, status", [("localhost", 200), ("wrong.test", 0)])
async def test_https_is_verified_against_the_name_not_the_address(monkeypatch, name, status):
    """Pinned to 127.0.0.1, the TLS handshake still names the site (SNI) and checks its certificate."""
    site = Quart("tls-site")

    @site.get("/")
    async def up():
        return "up"

    monkeypatch.setattr(apps.lifespan, "resolve", _resolver({name: ["127.0.0.1"]}))
    app = create_app(LOOPBACK)
    with serve(site, tls=True) as server:  # a certificate for localhost from the course's CA
        async with app.test_app() as test_app:
            await app.extensions["http"].aclose()  # trust the course's CA instead of the public ones
            app.extensions["http"] = httpx.AsyncClient(verify=tls_context(), trust_env=False)
            client = test_app.test_client()
            created = await (await client.post("/sites", json={"url": f"https://{name}:{server.port}/"})).get_json()
            assert (await _site_when_checked(client, created["id"]))["status"] == status


async def test_credentials_are_stripped_and_never_shown(client, target):
    response = await client.post("/sites", json={"url": f"http://user:secret@127.0.0.1:{target.port}/"})
    assert response.status_code == 202
    assert (await response.get_json())["url"] == f"http://127.0.0.1:{target.port}/"
    listed = await (await client.get("/sites")).get_data(as_text=True)
    assert "secret" not in listed and "user" not in listed


async def test_the_number_of_sites_is_capped(target):
    app = create_app({**LOOPBACK, "MAX_SITES": 2})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for path in ("/", "/broken"):
            assert (await client.post("/sites", json={"url": target.url + path})).status_code == 202
        full = await client.post("/sites", json={"url": target.url + "/to-metadata"})
        assert full.status_code == 409
        assert "at most 2 sites" in (await full.get_json())["error"]
        again = await client.post("/sites", json={"url": target.url + "/"})
        assert again.status_code == 200  # one it already watches is still found
        await client.delete("/sites/1")
        assert (await client.post("/sites", json={"url": target.url + "/to-metadata"})).status_code == 202


# --- real servers -----------------------------------------------------------------------------

HOSTILE = {
    # (method, path, body): expected status
    ("POST", "/sites", b"[" * 30_000): 400,
    ("POST", "/sites", b'{"url": "http://169.254.169.254/"}'): 422,
    ("POST", "/sites", b'{"url": "http://example.org:0/"}'): 422,
    ("GET", "/sites/99999999999999999999", b""): 404,
    ("DELETE", "/sites/99999999999999999999", b""): 404,
}


def test_hostile_requests_through_real_servers(run_app, tmp_path):
    database = tmp_path / "sites.db"
    env = {"QUART_DATABASE": str(database), "QUART_MONITOR_ALLOWED_NETWORKS": '["127.0.0.0/8"]'}
    server = run_app("apps.lifespan:app", env=env)
    url = server.url
    answers = {case: httpx.request(case[0], url + case[1], content=case[2], headers=JSON, trust_env=False).status_code
               for case in HOSTILE}
    assert answers == HOSTILE
    assert httpx.post(url + "/sites", json={"url": url + "/"}, trust_env=False).status_code == 202
    deadline = time.monotonic() + 20
    while httpx.get(url + "/sites/1", trust_env=False).json()["checks"] == 0:  # the monitor checked itself
        assert time.monotonic() < deadline, "the background check did not run"
        time.sleep(0.02)
    server.stop()
    assert server.returncode in (0, -15), server.output  # hypercorn exits 0; uvicorn re-raises SIGTERM
    with sqlite3.connect(database) as db:  # after_serving closed it; the row is on disk
        assert db.execute("SELECT url FROM sites").fetchall() == [(url + "/",)]
