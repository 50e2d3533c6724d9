"""ASGI middleware around a Quart app: the finished app of 16_asgi_middleware.

Middleware is wrapped around ``app.asgi_app``; the last one wrapped runs first:

    ScopeLog -> RequestId -> ProxyHeaders -> ForwardedPrefix -> CompleteFrames
    -> limit_body (apps/errors.py) -> Quart

Run it from the repo root with ``hypercorn apps.middleware:app`` or
``uvicorn apps.middleware:app``; add ``--root-path /prefix`` to serve it under a prefix.
Run that way, with no proxy in front, it ignores every ``X-Forwarded-*`` header: any
client could send them. Behind proxies you run, say so in the environment:
``QUART_TRUSTED_PROXY_HOPS=1`` (how many proxies) and ``QUART_FORWARDED_PREFIX=true``
(the proxy strips a prefix and reports it in ``X-Forwarded-Prefix``).

``/ws`` refuses messages over ``WS_MAX_MESSAGE`` characters (close code 1009) and browser
pages from origins not in ``WS_ALLOWED_ORIGINS``. The app sees a message only after the
server has received all of it, so give the server a limit too: ``uvicorn --ws-max-size
65536 --ws-per-message-deflate false``. Hypercorn 0.18 keeps what it refuses, so a smaller
``websocket_max_message_size`` alone makes things worse: chapter 18 applies the kit's fix
in a ``--config python:`` module run with ``-w 0``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import deque

from hypercorn.middleware import ProxyFixMiddleware
from quart import Blueprint, Quart, abort, current_app, request, url_for, websocket
from quart_cors import cors

from apps.errors import json_errors, limit_body

# The one origin whose pages may call /api/* and open /ws from JavaScript.
FRONTEND = "https://frontend.example"

bp = Blueprint("middleware", __name__)
# quart-cors on the /api blueprint only: cors(app) would also refuse every websocket
# without an Origin. (Not route_cors: on Quart 0.23 its answer to a preflight is a 500,
# it calls make_default_options_response() without the ctx argument 0.23 added.)
api = cors(Blueprint("api", __name__, url_prefix="/api"), allow_origin=FRONTEND,
           # allow_methods: quart-cors would otherwise allow every method in a preflight,
           # though the routes only answer GET; expose_headers: the ones JavaScript may read.
           allow_methods=["GET"], expose_headers=["X-Request-Id", "Server-Timing"])


def create_app(config: dict | None = None) -> Quart:
    """The app with its middleware; ``config`` overrides the defaults and the environment."""
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    limit_body(app)  # MAX_CONTENT_LENGTH also for bodies sent without Content-Length
    app.config.update(
        # Trust no proxy headers unless told to: only a proxy you control sets them honestly.
        TRUSTED_PROXY_HOPS=0,
        FORWARDED_PREFIX=False,
        WS_ALLOWED_ORIGINS=[FRONTEND],
        WS_MAX_MESSAGE=4096,
    )
    app.config.from_prefixed_env()  # QUART_TRUSTED_PROXY_HOPS=1, QUART_FORWARDED_PREFIX=true
    app.config.update(config or {})
    app.register_blueprint(bp)
    app.register_blueprint(api)
    # The last one wrapped runs first (the chain at the top); the config is read per request.
    app.asgi_app = CompleteFrames(app.asgi_app)
    app.asgi_app = ForwardedPrefix(app.asgi_app, app.config)
    app.asgi_app = ProxyHeaders(app.asgi_app, app.config)
    app.asgi_app = RequestId(app.asgi_app)
    app.asgi_app = app.extensions["scope_log"] = ScopeLog(app.asgi_app)
    return app


# A request id is copied into logs and other services' requests, so keep it short and plain.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A URL path prefix such as /user/ada/proxy/8888: segments of safe characters, none "." or "..".
PREFIX = re.compile(r"(/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+)+")


async def send_json_error(scope, send, status: int, message: str) -> None:
    """Answer an HTTP request or refuse a websocket handshake, without calling the app."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # "more_body": False is ASGI's default, but Quart 0.23's test client needs it spelt out.
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
    elif "websocket.http.response" in scope.get("extensions", {}):
        # Hypercorn (and Quart's test client) can answer a refused handshake with a real response.
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1008})  # the server answers 403


class RequestId:
    """Give every request and websocket an ``X-Request-Id`` and time it with ``Server-Timing``.

    A client may send its own id (a proxy usually does); a malformed one is
    refused with 400 before the app runs, so it never reaches a log line.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)  # lifespan: nothing to do, pass it on
        given = [value for name, value in scope["headers"] if name == b"x-request-id"]
        if len(given) > 1:
            return await send_json_error(scope, send, 400, "send at most one X-Request-Id header")
        if given:
            request_id = given[0].decode("latin-1")
            if not REQUEST_ID.fullmatch(request_id):
                return await send_json_error(
                    scope, send, 400, "X-Request-Id must be 1-64 letters, digits, '.', '_' or '-'")
        else:
            request_id = uuid.uuid4().hex
            # Never change the caller's scope in place: copy it, then add the header
            # so that the app reads it like any other (request.headers["X-Request-Id"]).
            scope = {**scope, "headers": [*scope["headers"], (b"x-request-id", request_id.encode())]}
        start = time.perf_counter()

        async def send_with_headers(message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                elapsed_ms = (time.perf_counter() - start) * 1000
                message = {**message, "headers": [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    # Time until the headers left: a stream's body may take longer.
                    (b"server-timing", f"app;dur={elapsed_ms:.1f}".encode()),
                ]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ForwardedPrefix:
    """Serve under the prefix a trusted proxy strips and reports in ``X-Forwarded-Prefix``.

    jupyter-server-proxy forwards ``/user/ada/proxy/8000/hello`` as ``/hello`` and
    sends ``X-Forwarded-Prefix: /user/ada/proxy/8000``. ASGI says the prefix goes
    in ``root_path`` and ``path`` keeps it, so Quart's ``url_for`` adds it back.
    Only when ``config["FORWARDED_PREFIX"]`` is true: otherwise the header is ignored.
    """

    def __init__(self, app, config) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope, receive, send) -> None:
        if self.config["FORWARDED_PREFIX"] and scope["type"] in ("http", "websocket"):
            given = [value for name, value in scope["headers"] if name == b"x-forwarded-prefix"]
            if given:
                prefix = given[-1].decode("latin-1").rstrip("/")
                if prefix and not PREFIX.fullmatch(prefix):
                    return await send_json_error(scope, send, 400, "malformed X-Forwarded-Prefix header")
                root_path = scope.get("root_path", "") + prefix
                scope = {**scope, "root_path": root_path, "path": prefix + scope["path"]}
        await self.app(scope, receive, send)


class ProxyHeaders:
    """Hypercorn's ``ProxyFixMiddleware``, trusting as many proxies as ``config["TRUSTED_PROXY_HOPS"]``.

    With 0, the default, ``X-Forwarded-For``, ``-Proto`` and ``-Host`` are ignored. The
    config is read on every request, so a notebook can turn it on for a running app.
    """

    def __init__(self, app, config) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope, receive, send) -> None:
        hops = int(self.config["TRUSTED_PROXY_HOPS"])
        if hops and scope["type"] in ("http", "websocket"):
            # legacy mode reads X-Forwarded-*; trusted_hops=1 takes the last address in
            # X-Forwarded-For, the one our own proxy appended, not what the client claimed.
            proxy_fix = ProxyFixMiddleware(self._websocket_scheme, mode="legacy", trusted_hops=hops)
            return await proxy_fix(scope, receive, send)
        await self.app(scope, receive, send)

    async def _websocket_scheme(self, scope, receive, send) -> None:
        # Hypercorn 0.18 copies X-Forwarded-Proto ("https") into a websocket's scope, where ASGI
        # wants "wss": Quart would refuse the websocket with a 400.
        if scope["type"] == "websocket" and scope.get("scheme") in ("http", "https"):
            scope = {**scope, "scheme": "wss" if scope["scheme"] == "https" else "ws"}
        await self.app(scope, receive, send)


class ScopeLog:
    """Remember every scope the server sends, lifespan messages included (GET /scopes)."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: deque[str] = deque(maxlen=50)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            # The lifespan scope lasts as long as the server; its messages say where it is.
            async def logged_receive():
                message = await receive()
                self.seen.append(message["type"])  # lifespan.startup, lifespan.shutdown
                return message

            return await self.app(scope, logged_receive, send)
        self.seen.append(f"{scope['type']} {scope['path']}")
        await self.app(scope, receive, send)


class CompleteFrames:
    """Give every ``websocket.receive`` message both keys, ``text`` and ``bytes``.

    ASGI lets a server leave out the one it does not use, but Quart reads
    ``message.get("bytes") or message["text"]``: an empty binary frame from uvicorn
    (no "text") raised KeyError inside Quart, not in any view. With both keys the view
    receives None for it, as it does under Hypercorn, and can refuse it.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)

        async def complete_receive():
            message = await receive()
            if message["type"] == "websocket.receive":
                message = {"bytes": None, "text": None, **message}
            return message

        await self.app(scope, complete_receive, send)


@bp.get("/")
async def index():
    """Show the request id the middleware gave this request."""
    return {"request_id": request.headers["X-Request-Id"], "whoami": url_for(".whoami")}


@bp.get("/whoami")
async def whoami():
    """What the app believes about the request (after the proxy headers, if they are trusted)."""
    return {
        "client": request.remote_addr,
        "scheme": request.scheme,
        "host": request.host,
        "root_path": request.root_path,
        "path": request.path,
        "url_for": url_for(".whoami"),
        "external_url": url_for(".whoami", _external=True),
    }


@bp.get("/scopes")
async def scopes():
    """The scopes the outermost middleware has seen, newest last."""
    return {"seen": list(current_app.extensions["scope_log"].seen)}


@api.get("/time")
async def api_time():
    """A tiny API that pages on FRONTEND may call: quart-cors adds Access-Control-* headers."""
    return {"time": time.time()}


@bp.websocket("/ws")
async def echo():
    """Greet with the request id, then echo every text message up to ``WS_MAX_MESSAGE`` characters."""
    # Browsers send Origin with every websocket handshake but apply no CORS to websockets:
    # without this check, any page on any site could open /ws as its visitor. Compare with
    # a list, never with Host: a DNS-rebinding page is served under a matching Host. A
    # client without Origin is no browser (curl, a script), and could claim any origin.
    origin = websocket.headers.get("Origin")
    if origin is not None and origin not in current_app.config["WS_ALLOWED_ORIGINS"]:
        abort(403, f"origin {origin!r} may not open this websocket")  # before accept: a 403
    await websocket.send(json.dumps({"request_id": websocket.headers["X-Request-Id"]}))
    while True:
        message = await websocket.receive()
        if not isinstance(message, str):  # bytes, or None for an empty binary frame
            return await websocket.close(1003, "send text frames")  # 1003: unsupported data
        if len(message) > current_app.config["WS_MAX_MESSAGE"]:
            return await websocket.close(1009, "message too big")  # 1009: too big to process
        await websocket.send(f"You said: {message}")


app = create_app()  # what ``hypercorn apps.middleware:app`` and ``uvicorn apps.middleware:app`` serve
scope_log = app.extensions["scope_log"]  # the module-level app's, as chapter 16 shows it
