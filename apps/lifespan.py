"""A tiny uptime monitor: the finished app of 13_lifespan_and_background_work.

It keeps a list of URLs in SQLite and checks them with one shared HTTP client:
right after a site is added (a background task, alongside the response) and then
every ``CHECK_INTERVAL`` seconds (a periodic job started in ``while_serving``).

Run it from the repo root with ``hypercorn apps.lifespan:app`` or
``uvicorn apps.lifespan:app``. Settings come from ``create_app(config)`` or the
environment: ``QUART_DATABASE`` (default ``:memory:``), ``QUART_CHECK_INTERVAL``
(seconds), ``QUART_MONITOR_ALLOWED_NETWORKS='["127.0.0.0/8"]'`` (see below).

A service that fetches URLs its users give it can be turned against the network it
runs in (server-side request forgery): "is 10.0.0.5:6379 up?" scans ports behind your
firewall, and http://169.254.169.254/ is where clouds hand out credentials. So it only
checks public addresses, unless ``MONITOR_ALLOWED_NETWORKS`` lists others, and checks
the address again each time it connects (a name can point elsewhere by then).

Why a factory (``create_app``) and a blueprint? Quart 0.22 calls a
``while_serving`` function when it is registered, so one app object can be
started only once per process. Each ``create_app()`` is a fresh app that can
be started again: one per test, one per notebook cell.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

import aiosqlite
import httpx
from quart import Blueprint, Quart, current_app, request
from werkzeug.exceptions import Conflict, NotFound, UnprocessableEntity

from apps.errors import json_body, json_errors, limit_body

bp = Blueprint("uptime", __name__)
MAX_URL_LENGTH = 2048
# SQLite stores an integer in 8 bytes: a bigger id cannot exist, and binding one raises
# OverflowError (a 500). ``max=`` makes the converter answer 404 before the view runs.
SITE_ID = "<int(max=9223372036854775807):site_id>"


def create_app(config: dict | None = None) -> Quart:
    """A new uptime monitor; ``config`` overrides the defaults and the environment."""
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    limit_body(app)  # MAX_CONTENT_LENGTH also for bodies sent without Content-Length
    app.config.update(
        DATABASE=":memory:",
        CHECK_INTERVAL=60.0,
        CHECK_TIMEOUT=10.0,  # seconds for one whole check: DNS, connect, response headers
        MAX_SITES=100,  # every site costs a request per interval: a cap keeps that bounded
        MONITOR_ALLOWED_NETWORKS=[],  # e.g. ["127.0.0.0/8"]: non-public networks it may check
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.config.from_prefixed_env()  # QUART_DATABASE=sites.db, QUART_CHECK_INTERVAL=5, ...
    app.config.update(config or {})
    for network in app.config["MONITOR_ALLOWED_NETWORKS"]:
        ipaddress.ip_network(network)  # a typo in the setting fails now, not at the first check
    app.events = []  # the order the lifespan hooks ran in, for GET /lifespan and the notebook
    app.register_blueprint(bp)
    return app


# --- lifespan: open shared resources once, on the server's own event loop --------------------


@bp.before_app_serving
async def open_resources():
    """Open the database and the HTTP client before the first request is accepted."""
    current_app.events.append("before_serving: open database and HTTP client")
    # Both objects belong to the event loop that creates them, so they are made
    # here, on the server's loop, and never at import time or in a notebook cell.
    # app.extensions is the dict Flask and Quart keep for an app's shared objects.
    db = current_app.extensions["db"] = await aiosqlite.connect(current_app.config["DATABASE"])
    db.row_factory = aiosqlite.Row
    await db.execute(
        "CREATE TABLE IF NOT EXISTS sites ("
        " id INTEGER PRIMARY KEY, url TEXT UNIQUE NOT NULL,"
        " status INTEGER, checked_at REAL, checks INTEGER NOT NULL DEFAULT 0)"
    )
    await db.commit()
    # One client for the whole app: it keeps connections alive between checks. It never
    # follows a redirect (that could lead to an address nobody checked) and ignores proxy
    # settings in the environment (the check must connect to the address it checked).
    current_app.extensions["http"] = httpx.AsyncClient(timeout=5, follow_redirects=False, trust_env=False)


@bp.while_app_serving
async def periodic_checks():
    """Start the periodic checker; the code after ``yield`` runs at shutdown."""
    current_app.events.append("while_serving: start the periodic checker")
    # create_task copies the current context, app context included, so current_app
    # works inside the task as it does in a view (Quart's background tasks get one too).
    task = asyncio.create_task(_check_forever(float(current_app.config["CHECK_INTERVAL"])))
    yield  # the server serves requests while this generator is paused here
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    current_app.events.append("while_serving: periodic checker stopped")


@bp.after_app_serving
async def close_resources():
    """Close what ``before_serving`` opened, after the last request."""
    await current_app.extensions["http"].aclose()
    await current_app.extensions["db"].close()
    current_app.events.append("after_serving: closed HTTP client and database")


async def _check_forever(interval: float) -> None:
    db = current_app.extensions["db"]
    while True:
        await asyncio.sleep(interval)
        async with db.execute("SELECT id FROM sites") as cursor:
            ids = [row["id"] async for row in cursor]
        # One slow site must not hold up the others: check them concurrently (at most
        # MAX_SITES, each within CHECK_TIMEOUT). check_site never raises for a bad site,
        # so one cannot end the job for all.
        await asyncio.gather(*(check_site(site_id) for site_id in ids))


async def check_site(site_id: int) -> None:
    """Fetch one site and store its status (0 when it could not be reached or was refused)."""
    db = current_app.extensions["db"]
    async with db.execute("SELECT url FROM sites WHERE id = ?", (site_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return
    try:
        async with asyncio.timeout(current_app.config["CHECK_TIMEOUT"]):  # a deadline, not just idle timeouts
            status = await _fetch_status(httpx.URL(row["url"]))
    except (httpx.HTTPError, OSError, TimeoutError):
        status = 0  # refused, timed out, bad certificate, no such host, ...: the site is down
    except NotPublic as refused:
        # Recorded exactly like an unreachable site, and without connecting: a refused
        # address must not tell whether a port there is open.
        current_app.logger.warning("site %s not checked: %s", site_id, refused)
        status = 0
    except Exception:
        # Anything else (a URL httpx cannot use, a bug) is logged, and the site counts as
        # down: an exception here would otherwise end the periodic job for every site.
        current_app.logger.exception("checking site %s (%r) failed", site_id, row["url"])
        status = 0
    await db.execute(
        "UPDATE sites SET status = ?, checked_at = ?, checks = checks + 1 WHERE id = ?",
        (status, time.time(), site_id),
    )
    await db.commit()


async def _fetch_status(url: httpx.URL) -> int:
    """GET ``url`` from the address just checked; return the status without reading the body."""
    address = await checked_address(url)
    host = url.raw_host.decode("ascii")  # the name, as DNS and certificates know it
    # Connect to the address that passed the check, not to whatever the name resolves to a
    # moment later (DNS rebinding); the server still sees its name (Host, and SNI for TLS,
    # against which the certificate is verified).
    pinned = url.copy_with(host=str(address))
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    async with current_app.extensions["http"].stream(
            "GET", pinned, headers={"Host": url.netloc.decode("ascii")}, extensions=extensions) as response:
        return response.status_code  # the body could be endless: it is never read


# --- which addresses may be checked -----------------------------------------------------------


class NotPublic(Exception):
    """The URL's host is (or resolves to) an address the monitor must not connect to."""


async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` resolves to (an IP address resolves to itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def checked_address(url: httpx.URL) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address to connect to for ``url``; ``NotPublic`` unless every address it has is allowed.

    Every address counts, not just the one used: a name that resolves to a public and a
    private address at once is refused, whichever the client would have picked.
    """
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve(url.raw_host.decode("ascii"), port)
    allowed = [ipaddress.ip_network(n) for n in current_app.config["MONITOR_ALLOWED_NETWORKS"]]
    for address in addresses:
        if not (_public(address) or any(address in network for network in allowed)):
            raise NotPublic(f"{url.host} resolves to {address}, which is not a public address")
    return addresses[0]


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local
    (cloud metadata at 169.254.169.254), shared, unspecified, reserved and multicast ones."""
    if address.version == 6:
        # IPv6 forms that carry an IPv4 address (::ffff:127.0.0.1, 64:ff9b::7f00:1, 6to4, Teredo)
        # are as public as the IPv4 address inside them.
        inside = (address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
                  or (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None))
        if inside is not None and not _public(inside):
            return False
    return address.is_global and not address.is_multicast


# --- views ------------------------------------------------------------------------------------


@bp.get("/")
async def index():
    """Say what this service is."""
    return {"service": "uptime monitor", "sites": "/sites", "lifespan": "/lifespan"}


@bp.get("/lifespan")
async def lifespan_events():
    """The lifespan hooks that have run so far, in order."""
    return {"events": current_app.events}


@bp.get("/sites")
async def list_sites():
    """Every site with its last status (null until the first check)."""
    async with current_app.extensions["db"].execute("SELECT * FROM sites ORDER BY id") as cursor:
        return [dict(row) async for row in cursor]


# One rule for both methods: with two, werkzeug answers DELETE /sites/<too big> with a
# 405 "Allow: GET" (it sees the GET rule's method before it runs the converter).
@bp.route(f"/sites/{SITE_ID}", methods=["GET", "DELETE"])
async def site(site_id: int):
    """GET one site, DELETE it to stop watching it (204); 404 if there is no such site."""
    db = current_app.extensions["db"]
    if request.method == "DELETE":
        cursor = await db.execute("DELETE FROM sites WHERE id = ?", (site_id,))
        await db.commit()
        if cursor.rowcount == 0:
            raise NotFound(f"there is no site {site_id}")
        return "", 204
    async with db.execute("SELECT * FROM sites WHERE id = ?", (site_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"there is no site {site_id}")
    return dict(row)


@bp.post("/sites")
async def add_site():
    """Add {"url": "http(s)://..."}: answer 202 at once, check the site in a background task."""
    data = await json_body()  # 415 if it is not JSON; 400 if malformed, not UTF-8 or too deep
    url = _checkable_url(data.get("url") if isinstance(data, dict) else None)
    try:
        async with asyncio.timeout(current_app.config["CHECK_TIMEOUT"]):
            await checked_address(url)  # nothing is fetched: the answer is the same for any port
    except NotPublic:
        raise UnprocessableEntity("the monitor checks public addresses only (MONITOR_ALLOWED_NETWORKS "
                                  "lists the exceptions)") from None
    except (OSError, TimeoutError):
        pass  # no such host, for now: accepted, and each check looks again
    db = current_app.extensions["db"]
    # One statement, so that two requests at once cannot both take the last free place.
    cursor = await db.execute(
        "INSERT OR IGNORE INTO sites (url) SELECT ? WHERE (SELECT COUNT(*) FROM sites) < ?",
        (str(url), current_app.config["MAX_SITES"]))
    await db.commit()
    if cursor.rowcount == 0:  # already watched, or full
        async with db.execute("SELECT * FROM sites WHERE url = ?", (str(url),)) as existing:
            row = await existing.fetchone()
        if row is None:
            raise Conflict(f"the monitor watches at most {current_app.config['MAX_SITES']} sites: "
                           "remove one first (DELETE /sites/<id>)")
        return dict(row), 200
    site_id = cursor.lastrowid
    # A task created now: it runs alongside this view from its next await (here: while the
    # response goes out), in an app context without `request`, so it gets the id as an
    # argument. At shutdown Quart waits for it up to BACKGROUND_TASK_SHUTDOWN_TIMEOUT (5 s).
    current_app.add_background_task(check_site, site_id)
    return {"id": site_id, "url": str(url), "status": None, "checked_at": None, "checks": 0}, 202


def _checkable_url(text) -> httpx.URL:
    """``text`` as a URL the HTTP client can fetch, without ``user:password@``; else a 422."""
    # Parse it with httpx, the client that will fetch it: a URL it refuses (a control
    # character, a bad port) is refused here, not in every check for ever after.
    try:
        url = httpx.URL(text) if isinstance(text, str) and len(text) <= MAX_URL_LENGTH else None
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UnprocessableEntity('the body must be a JSON object with "url": "http://..." or '
                                  f'"https://..." of at most {MAX_URL_LENGTH} characters')
    if url.port is not None and not 0 < url.port < 65536:  # port 0 is "any port" to some stacks
        raise UnprocessableEntity("the URL's port must be between 1 and 65535")
    # Credentials in a stored URL would be shown to anyone who lists the sites: drop them.
    return url.copy_with(userinfo=b"")


app = create_app()  # what ``hypercorn apps.lifespan:app`` and ``uvicorn apps.lifespan:app`` serve
