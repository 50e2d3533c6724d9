"""I/O-bound handlers in Quart, their threaded-Flask twin, and the blocking trap: the app of 04.

Run it with ``hypercorn apps.why_async:app`` or ``uvicorn apps.why_async:app``.
``flask_app`` (from ``create_flask_app()``) is the same service in Flask, for comparison
(``serve(flask_app)`` runs it on werkzeug with one thread per request, as ``flask run`` does).

Every view waits ``?delay=`` seconds (default 0.05, at most 5), standing for an outbound call:
an HTTP API, a database query, a file on a network share.
"""

from __future__ import annotations

import asyncio
import time

import flask
from flask import request as flask_request
from quart import Blueprint, Quart, request
from quart.utils import run_sync
from werkzeug.exceptions import BadRequest, HTTPException, UnprocessableEntity

from apps.errors import json_errors, limit_body

# The views live on blueprints, so that create_app() can build as many apps as it is asked
# for (one per test, one per notebook cell) while the views stay importable by name.
bp = Blueprint("why_async", __name__)
flask_bp = flask.Blueprint("why_async_flask", __name__)


def create_app(config: dict | None = None) -> Quart:
    """The Quart service; ``config`` overrides the defaults."""
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    limit_body(app)  # MAX_CONTENT_LENGTH also for bodies sent without Content-Length
    app.config.update(config or {})
    app.register_blueprint(bp)
    return app


def create_flask_app(config: dict | None = None) -> flask.Flask:
    """The same service in Flask, with the same JSON errors."""
    app = flask.Flask("why_async_flask")
    app.config.update(config or {})
    app.register_blueprint(flask_bp)
    app.register_error_handler(HTTPException, flask_json_error)
    return app


def _delay(args) -> float:
    """``?delay=`` in seconds: 400 if it is not a number, 422 outside 0..5.

    Shared by both apps, hence werkzeug's exceptions, which Flask and Quart both understand.
    """
    raw = args.get("delay", "0.05")
    try:
        delay = float(raw)
    except ValueError:
        raise BadRequest("?delay= must be a number of seconds") from None
    if not 0 <= delay <= 5:  # also false for nan
        raise UnprocessableEntity("?delay= must be between 0 and 5 seconds")
    return delay


@bp.get("/io")
async def io():
    """Wait on "I/O" the async way: the event loop serves other requests meanwhile."""
    delay = _delay(request.args)
    await asyncio.sleep(delay)
    return {"waited": delay}


@bp.get("/blocking")
async def blocking():
    """The trap: a blocking call in an async view stops the whole event loop while it runs."""
    delay = _delay(request.args)
    time.sleep(delay)  # never do this in an async view
    return {"waited": delay}


@bp.get("/offloaded")
async def offloaded():
    """The fix for code you cannot make async: run it in a worker thread and await it."""
    delay = _delay(request.args)
    await run_sync(time.sleep)(delay)
    return {"waited": delay}


@bp.get("/ping")
async def ping():
    """Answers at once, unless something blocks the event loop."""
    return {"pong": True}


@flask_bp.get("/io")
def flask_io():
    """Flask waits by blocking its thread; werkzeug runs one thread per request."""
    delay = _delay(flask_request.args)
    time.sleep(delay)
    return {"waited": delay}


@flask_bp.get("/ping")
def flask_ping():
    """Answers at once (it has a thread of its own)."""
    return {"pong": True}


def flask_json_error(error: HTTPException):
    """Every HTTP error as JSON {"error": "..."}."""
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return {"error": error.description}, error.code, headers


app = create_app()  # what ``hypercorn apps.why_async:app`` and ``uvicorn apps.why_async:app`` serve
flask_app = create_flask_app()
