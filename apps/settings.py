"""Settings from the environment, one JSON log line per request: the finished app of chapter 06.

The app collects error reports that web pages send (``POST /reports``) and logs each one.
Where its settings come from, each layer overriding the one before:

1. ``Defaults`` below (``from_object``): safe values for development;
2. ``settings.py`` in the instance folder, if there is one (``from_pyfile``): a server's own
   file, outside the code and never in git;
3. environment variables starting with ``QUART_`` (``from_prefixed_env``):
   ``QUART_SECRET_KEY=...``, ``QUART_MAX_REPORTS=500`` (values are read as JSON when they can be);
4. the ``config`` dict given to ``create_app`` (tests).

``quart run`` also loads a ``.env`` file from the working folder into the environment
(python-dotenv); ``hypercorn`` and ``uvicorn`` do not: in production the process manager
sets the environment (systemd's ``EnvironmentFile=``, ``docker run --env-file``).

Run it from the repo root::

    quart --app apps.settings run --debug          # development: no secret needed
    QUART_SECRET_KEY=$(python -c "import secrets; print(secrets.token_hex())") hypercorn apps.settings:app
    quart --app apps.settings check-config         # the settings it sees; exit 1 if unfit for production

Reuse: ``configure_logging(app)``, ``log_requests(app)`` and ``require_secret_key(app)``
give any app the same JSON logs, request ids and start-up check.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import time
from collections import deque
from datetime import datetime, timezone

import click
from quart import Blueprint, Quart, current_app, g, has_request_context, has_websocket_context, request, websocket
from werkzeug.exceptions import NotFound, UnprocessableEntity

from apps.errors import json_body, json_errors
from apps.middleware import RequestId

LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
MIN_SECRET_LENGTH = 32  # secrets.token_hex() gives 64 characters


class Defaults:
    """Development defaults; production overrides them through the environment."""

    GREETING = "Hello"
    LOG_LEVEL = "INFO"
    MAX_REPORTS = 100  # reports kept in memory; older ones are dropped
    MAX_CONTENT_LENGTH = 64 * 1024  # a report is small: refuse bigger bodies with 413
    SECRET_KEY = None  # never a default: each deployment sets its own


def create_app(config: dict | None = None, *, instance_path: str | None = None) -> Quart:
    """A new app; ``config`` overrides everything, ``instance_path`` replaces ``<repo>/instance``."""
    app = Quart(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.from_object(Defaults)
    app.config.from_pyfile("settings.py", silent=True)  # silent: no file, no error
    app.config.from_prefixed_env()  # QUART_SECRET_KEY, QUART_GREETING, ...
    app.config.update(config or {})

    json_errors(app)  # every error as JSON, and a bug's traceback in the log only (apps/errors.py)
    configure_logging(app)
    log_requests(app)
    require_secret_key(app)
    app.extensions["reports"] = deque(maxlen=int(app.config["MAX_REPORTS"]))
    app.extensions["report_ids"] = itertools.count(1)
    app.register_blueprint(bp)

    @app.cli.command("check-config")
    def check_config() -> None:
        """Print the settings the app sees (secrets hidden); exit 1 if they are unfit for production."""
        if not print_settings(app.config):
            sys.exit(1)
        click.echo("fit for production")

    return app


# --- logging: one JSON object per line --------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from ``extra={...}``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: what log collectors (Loki, CloudWatch, jq) parse without regexes.

    A message with a newline in it stays on one line (JSON escapes it), so a client cannot
    forge a log line by sending one, and a traceback travels with its record.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def add_request_id(record: logging.LogRecord) -> bool:
    """A logging filter: stamp every record logged during a request with its X-Request-Id."""
    if not hasattr(record, "request_id"):
        if has_request_context():
            record.request_id = request.headers.get("X-Request-Id")
        elif has_websocket_context():
            record.request_id = websocket.headers.get("X-Request-Id")
    return True  # keep the record


def configure_logging(app: Quart) -> None:
    """Send the app's logger to standard error as JSON lines, each record exactly once."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(add_request_id)
    # Replace Quart's default handler instead of adding a second one (two handlers: every
    # line twice), and do not also pass records up to the root logger, which may have a
    # handler of its own (logging.basicConfig(): every line twice again).
    app.logger.handlers[:] = [handler]
    app.logger.propagate = False
    app.logger.setLevel(str(app.config["LOG_LEVEL"]).upper())


def log_requests(app: Quart) -> None:
    """One INFO line per request, carrying the request id that ``RequestId`` gives every request."""
    app.asgi_app = RequestId(app.asgi_app)  # adds (or checks) the X-Request-Id header

    @app.before_request
    async def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    async def log_request(response):
        # after_request runs for error responses too (404, 422, the JSON 500 of json_errors),
        # so every request that reached the app leaves exactly one line.
        started = g.get("request_started", time.perf_counter())
        app.logger.info(f"{request.method} {request.path} {response.status_code}", extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "client": request.remote_addr,
        })
        return response


# --- the production check ---------------------------------------------------------------------


def problems(config) -> list[str]:
    """What makes these settings unfit for production (an empty list: none)."""
    found = []
    secret = config.get("SECRET_KEY")
    if not secret:
        found.append("SECRET_KEY is not set: set QUART_SECRET_KEY in the environment")
    elif len(secret) < MIN_SECRET_LENGTH:
        found.append(f"SECRET_KEY is too short ({len(secret)} characters, at least {MIN_SECRET_LENGTH}): "
                     'use python -c "import secrets; print(secrets.token_hex())"')
    return found


class UnsafeSettings(RuntimeError):
    """The app was started in production mode with settings that are not safe there."""


def require_secret_key(app: Quart) -> None:
    """Refuse to start serving in production mode (not debug, not testing) without a real SECRET_KEY."""

    @app.before_serving
    async def check_settings() -> None:
        found = problems(app.config)
        if found and not (app.debug or app.testing):
            # Raised before the first request: the server reports it and exits.
            raise UnsafeSettings("refusing to start in production mode: " + "; ".join(found))


def print_settings(config) -> bool:
    """Print the settings in ``Defaults`` (the secret hidden) and any problem; True if fit for production."""
    for key in sorted(key for key in vars(Defaults) if key.isupper()):
        value = config.get(key)
        if key == "SECRET_KEY":
            click.echo(f"{key} = " + (f"<set, {len(value)} characters>" if value else "<not set>"))
        else:
            click.echo(f"{key} = {value!r}")
    found = problems(config)
    for problem in found:
        click.echo(f"problem: {problem}")
    return not found


# --- views -------------------------------------------------------------------------------------

bp = Blueprint("reports", __name__)


@bp.get("/")
async def index():
    """Greet, and say which mode the app runs in and which request id this request got."""
    mode = "testing" if current_app.testing else "debug" if current_app.debug else "production"
    return {"greeting": current_app.config["GREETING"], "mode": mode,
            "request_id": request.headers["X-Request-Id"], "reports": "/reports"}


@bp.post("/reports")
async def add_report():
    """Store and log {"message": ..., "level": "error"|"warning"|"info", "page": ...} from a web page."""
    data = await json_body()
    if not isinstance(data, dict):
        raise UnprocessableEntity('send a JSON object like {"message": "...", "level": "error"}')
    message, page, level = data.get("message"), data.get("page", ""), data.get("level", "error")
    if not isinstance(message, str) or not 0 < len(message) <= 2000:
        raise UnprocessableEntity('"message" must be a string of 1 to 2000 characters')
    if not isinstance(page, str) or len(page) > 2000:
        raise UnprocessableEntity('"page" must be a string of at most 2000 characters')
    if not isinstance(level, str) or level not in LEVELS:
        raise UnprocessableEntity(f'"level" must be one of {sorted(LEVELS)}')
    report = {"id": next(current_app.extensions["report_ids"]), "level": level, "message": message,
              "page": page, "request_id": request.headers["X-Request-Id"], "time": time.time()}
    current_app.extensions["reports"].append(report)
    # The message goes in a field of its own, not into the log message's format string.
    current_app.logger.log(LEVELS[level], "client report", extra={"report": report["id"], "page": page,
                                                                  "report_message": message})
    return report, 201


@bp.get("/reports")
async def list_reports():
    """The reports kept, newest first."""
    return list(reversed(current_app.extensions["reports"]))


@bp.get("/reports/<int:report_id>")
async def get_report(report_id: int):
    """One report, or 404 (also for numbers far too large to exist)."""
    for report in current_app.extensions["reports"]:
        if report["id"] == report_id:
            return report
    raise NotFound(f"there is no report {report_id} (only the newest {current_app.config['MAX_REPORTS']} are kept)")


app = create_app()  # what ``hypercorn apps.settings:app`` and ``quart --app apps.settings run`` serve
