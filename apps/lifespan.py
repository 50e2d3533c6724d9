"""A tiny uptime monitor: the finished app of 11_lifespan_and_background_work.

It keeps a list of URLs in SQLite and checks them with one shared HTTP client:
right after a site is added (a background task, after the response) and then
every ``CHECK_INTERVAL`` seconds (a periodic job started in ``while_serving``).

Run it from the repo root with ``hypercorn apps.lifespan:app`` or
``uvicorn apps.lifespan:app``. Settings come from the environment:
``QUART_DATABASE`` (default ``:memory:``), ``QUART_CHECK_INTERVAL`` (seconds).

Why a factory (``create_app``) and a blueprint? Quart 0.22 calls a
``while_serving`` function when it is registered, so one app object can be
started only once per process. Each ``create_app()`` is a fresh app that can
be started again: one per test, one per notebook cell.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiosqlite
import httpx
from quart import Blueprint, Quart, current_app, request
from werkzeug.exceptions import BadRequest, NotFound, UnprocessableEntity, UnsupportedMediaType

from apps.errors import json_errors

bp = Blueprint("uptime", __name__)


def create_app(config: dict | None = None) -> Quart:
    """A new uptime monitor; ``config`` overrides the defaults and the environment."""
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    app.config.update(DATABASE=":memory:", CHECK_INTERVAL=60.0, MAX_CONTENT_LENGTH=64 * 1024)
    app.config.from_prefixed_env()  # QUART_DATABASE=sites.db, QUART_CHECK_INTERVAL=5, ...
    app.config.update(config or {})
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
    # One client for the whole app: it keeps connections alive between checks.
    current_app.extensions["http"] = httpx.AsyncClient(timeout=5, follow_redirects=True)


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
        # One slow site must not hold up the others: check them concurrently.
        # check_site never raises for a bad site, so one cannot end the job for all.
        await asyncio.gather(*(check_site(site_id) for site_id in ids))


async def check_site(site_id: int) -> None:
    """Fetch one site and store its status (0 when it could not be reached)."""
    db = current_app.extensions["db"]
    async with db.execute("SELECT url FROM sites WHERE id = ?", (site_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return
    try:
        status = (await current_app.extensions["http"].get(row["url"])).status_code
    except httpx.HTTPError:
        status = 0  # refused, timed out, bad certificate, ...: the site is down
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


@bp.get("/sites/<int:site_id>")
async def get_site(site_id: int):
    """One site, or 404."""
    async with current_app.extensions["db"].execute("SELECT * FROM sites WHERE id = ?", (site_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"there is no site {site_id}")
    return dict(row)


@bp.post("/sites")
async def add_site():
    """Add {"url": "http(s)://..."}: answer 202 at once, check the site after the response."""
    if not request.is_json:
        raise UnsupportedMediaType("send JSON with Content-Type: application/json")
    try:
        # json.loads on bytes: a body that is not UTF-8 is a 400 here, not a 500.
        data = json.loads(await request.get_data())
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    url = _checkable_url(data.get("url") if isinstance(data, dict) else None)
    db = current_app.extensions["db"]
    cursor = await db.execute("INSERT OR IGNORE INTO sites (url) VALUES (?)", (url,))
    await db.commit()
    if cursor.rowcount == 0:
        async with db.execute("SELECT * FROM sites WHERE url = ?", (url,)) as existing:
            return dict(await existing.fetchone()), 200
    site_id = cursor.lastrowid
    # Runs after the response has been sent; Quart awaits it at shutdown if still running.
    current_app.add_background_task(check_site, site_id)
    return {"id": site_id, "url": url, "status": None, "checked_at": None, "checks": 0}, 202


def _checkable_url(url) -> str:
    """``url`` if the HTTP client can fetch it, else a 422."""
    # Parse it with httpx, the client that will fetch it: a URL it refuses (a control
    # character, a bad port) is refused here, not in every check for ever after.
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else None
    except httpx.InvalidURL:
        parsed = None
    if (parsed is None or parsed.scheme not in ("http", "https") or not parsed.host
            or not 0 < (parsed.port or 80) < 65536):
        raise UnprocessableEntity('the body must be a JSON object with "url": "http://..." or "https://..."')
    return url


app = create_app()  # what ``hypercorn apps.lifespan:app`` and ``uvicorn apps.lifespan:app`` serve
