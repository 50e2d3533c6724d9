"""A small video-sharing site with live chat: the capstone of the course (chapters 21-24).

Sign up, upload a video (streamed to disk with a progress bar), watch its processing live
(PyAV in a worker thread, progress over server-sent events), then watch it (seeking: byte
ranges) while chatting with everyone on the same video (websockets). A JSON API documents
itself (``/openapi.json``, ``/docs``). With ``REDIS_URL`` set, any number of worker processes
and machines share the chat and the notifications through Redis; behind nginx, the app
believes ``X-Forwarded-*`` from the addresses in ``TRUSTED_PROXIES`` only.

Run it from the repo root::

    quart --app apps.videoshare init-db              # the tables, through the migrations
    quart --app apps.videoshare run --debug          # http://127.0.0.1:5000/
    QUART_SECRET_KEY=... QUART_REDIS_URL=redis://127.0.0.1:6379/0 \\
        hypercorn --workers 2 apps.videoshare:app    # many workers: Redis shares their rooms

    python -m apps.videoshare.deploy                 # Redis + 2 machines x 2 workers + nginx, here

Where each chapter's idea lives: accounts and the database (``apps.accounts``, ``models.py``,
``migrations/``), uploads (``api.py``: ``apps.upload.save_body``), processing off the loop
(``processing.py``), events and websockets (``live.py``), byte ranges (``api.py``:
``apps.video.send_ranged``), scale-out (``relay.py``), stopping cleanly (``shutdown.py``),
deployment (``deploy.py``, ``course.services``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart, current_app
from quart_schema import QuartSchema, RequestSchemaValidationError

from apps import limits
from apps.accounts import init_accounts
from apps.chat import Broker
from apps.errors import json_errors
from apps.settings import configure_logging, log_requests

from . import api, live, pages
from .models import MIGRATIONS, db
from .processing import Processor
from .relay import Relay
from .shutdown import Drain, remove_stale_partials

__all__ = ["app", "create_app"]


class Defaults:
    """Settings for a small site; every one can be set as ``QUART_<NAME>`` in the environment."""

    VIDEO_DIR = None  # where videos and thumbnails go: <instance folder>/videos unless set
    MAX_VIDEO_SIZE = 200 * 1024 * 1024  # bytes, counted as they arrive
    VIDEO_EXTENSIONS = [".webm", ".mp4", ".m4v", ".mkv", ".mov", ".ogv"]
    UPLOAD_IDLE_TIMEOUT = 30  # seconds without a byte: 408
    UPLOAD_DEADLINE = 900  # seconds for a whole upload, however steady: 408
    MAX_CONCURRENT_UPLOADS = 4  # per process; the next one gets 503 and Retry-After
    PROCESSING_WORKERS = 1  # videos decoded at once per process (each takes a core)
    PROCESSING_TIMEOUT = 120  # seconds for one video; a claim older than that is taken over
    PROCESSING_POLL = 5.0  # seconds between looks for work that other processes left
    PROGRESS_INTERVAL = 0.2  # seconds between progress events
    MAX_VIDEO_PIXELS = 3840 * 2160
    REDIS_URL = None  # e.g. redis://127.0.0.1:6379/0: share rooms between processes
    RELAY_TIMEOUT = 2.0  # seconds a publish may take before the sender is told it failed
    CHAT_RATE = 2.0  # messages a second one sender may keep up ...
    CHAT_BURST = 10  # ... after a burst of this many
    CHAT_MAX_TEXT = 500  # characters in one chat message
    CHAT_INBOX = 1000  # messages waiting for one slow reader before it is dropped
    CHAT_HISTORY = 20  # recent messages a newcomer to a video's chat is shown
    WEBSOCKET_MAX_MESSAGE = 4096  # characters in one websocket frame (apps/limits.py)
    SSE_HEARTBEAT = 15.0  # seconds of quiet before a comment line keeps proxies from hanging up
    SSE_MAX_AGE = 600.0  # seconds before a stream ends and the browser reconnects (and re-checks its sign-in)
    SSE_RETRY_MS = 1000  # how long EventSource waits before it reconnects
    DRAIN_GRACE = 5.0  # seconds uploads get to finish after SIGTERM
    # Other sites whose pages may open our websockets and streams (exact origins); a page of
    # this site itself always may (apps.accounts.require_handshake compares Origin with Host).
    ALLOWED_ORIGINS: list[str] = []
    TRUSTED_PROXIES: list[str] = []  # addresses whose X-Forwarded-* we believe (one hop): nginx's
    LOG_LEVEL = "INFO"


def create_app(config: dict | None = None) -> Quart:
    """A new video site; ``config`` overrides the defaults and the environment (``QUART_*``, ``DATABASE_URL``)."""
    app = Quart(__name__)  # templates/ and static/ of this package
    app.config.from_object(Defaults)
    if "DATABASE_URL" in os.environ:
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    app.config.from_prefixed_env()
    app.config.update(config or {})
    app.config["VIDEO_DIR"] = Path(app.config["VIDEO_DIR"] or Path(app.instance_path) / "videos")
    # Quart compares Content-Length with this up front; api.upload counts the bytes of a
    # body sent without one. Forms stay small: Quart caps them at MAX_FORM_MEMORY_SIZE.
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_VIDEO_SIZE"]

    json_errors(app)  # every error as JSON; init_accounts adds pages for browsers
    configure_logging(app)  # JSON lines on standard error (chapter 06) ...
    log_requests(app)  # ... one per request, with its X-Request-Id
    limits.install(app)  # bounded request bodies and websocket queues (before QuartSchema wraps them)
    # Registered before init_accounts, so it runs before the database closes (after_serving
    # functions run in the order they were registered).
    app.after_serving(_stop_background)
    init_accounts(app)  # users, sign-in, CSRF, rate limits, websockets checked at the handshake
    QuartSchema(app, info={"title": "Videoshare API", "version": "1.0"}, redoc_ui_path=None,
                scalar_ui_path=None)
    app.before_serving(_start_background)
    app.register_error_handler(RequestSchemaValidationError, _invalid_query)
    app.register_blueprint(pages.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(api.bp)
    app.asgi_app = TrustedProxy(app.asgi_app, app.config)

    @app.cli.command("init-db")
    def init_db() -> None:
        """Create or upgrade the tables by running the migrations (alembic upgrade head)."""
        from alembic import command
        from alembic.config import Config

        settings = Config(str(MIGRATIONS))
        settings.set_main_option("sqlalchemy.url", app.config["DATABASE_URL"].replace("%", "%%"))
        command.upgrade(settings, "head")

    return app


async def _start_background() -> None:
    """Per process: a worker id, the drain, the relay (Redis or not), the processor."""
    app, config = current_app._get_current_object(), current_app.config
    config["VIDEO_DIR"].mkdir(parents=True, exist_ok=True)
    remove_stale_partials(config["VIDEO_DIR"], older_than=config["UPLOAD_DEADLINE"])
    app.extensions["worker"] = secrets.token_hex(3)  # shown to clients: which process they reached
    app.extensions["uploads_running"] = 0
    app.extensions["drain"] = Drain(config["DRAIN_GRACE"]).install()
    broker = Broker(config["CHAT_INBOX"], config["CHAT_HISTORY"])
    app.extensions["relay"] = relay = Relay(broker, config["REDIS_URL"], timeout=config["RELAY_TIMEOUT"])
    await relay.start()
    app.extensions["processor"] = processor = Processor(app)
    await processor.start()


async def _stop_background() -> None:
    extensions = current_app.extensions
    if "processor" in extensions:
        await extensions.pop("processor").stop()  # a video being processed goes back to the queue
    if "relay" in extensions:
        await extensions.pop("relay").stop()
    if "drain" in extensions:
        extensions.pop("drain").uninstall()


async def _invalid_query(error: RequestSchemaValidationError):
    return {"error": f"invalid query: {error.validation_error}"}, 400


class TrustedProxy:
    """Believe ``X-Forwarded-For/-Proto/-Host`` only on connections from ``TRUSTED_PROXIES``.

    Anyone can send these headers. nginx replaces them with what it saw; so they are true
    when nginx sent the request, and only then: a client that reaches the app directly
    (another process on the machine, a port left open) is taken at its own address.
    """

    def __init__(self, app, config) -> None:
        self.app, self.config = app, config
        self.proxied = ProxyFixMiddleware(self._websocket_scheme, mode="legacy", trusted_hops=1)

    async def __call__(self, scope, receive, send) -> None:
        client = scope.get("client") or ("", 0)
        if scope["type"] in ("http", "websocket") and client[0] in self.config["TRUSTED_PROXIES"]:
            return await self.proxied(scope, receive, send)
        await self.app(scope, receive, send)

    async def _websocket_scheme(self, scope, receive, send) -> None:
        # Hypercorn 0.18's ProxyFixMiddleware copies X-Forwarded-Proto ("https") into a
        # websocket's scope too, where ASGI says "wss"; Quart's router then refuses the
        # websocket as a plain request (400). Put the websocket names back.
        if scope["type"] == "websocket" and scope.get("scheme") in ("http", "https"):
            scope = {**scope, "scheme": "wss" if scope["scheme"] == "https" else "ws"}
        await self.app(scope, receive, send)


app = create_app()  # what ``hypercorn apps.videoshare:app`` serves
