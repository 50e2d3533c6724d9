"""Accounts: sign-up, sign-in, protected pages, websockets and event streams: the finished app of chapter 15.

Passwords are hashed with Argon2id off the event loop (``passwords.py``); the sign-in is a
signed quart-auth cookie checked against the database (``auth.py``); forms carry a CSRF
token and websockets and event streams are checked at the handshake (``security.py``); the
chat of chapter 08 runs behind the sign-in (``pages.py``).

Run it from the repo root::

    quart --app apps.accounts init-db                    # create the users table
    quart --app apps.accounts run --debug                # then open http://127.0.0.1:5000/signup
    QUART_SECRET_KEY=... hypercorn --certfile certs/server.pem --keyfile certs/server-key.pem apps.accounts:app

Build on it (the capstone does)::

    from apps.accounts import Base, User, current_account, init_accounts, login_required, require_handshake

    class Video(Base): ...                       # your tables share the users' metadata
    app = Quart(__name__); app.config.update(...)
    init_accounts(app)                           # database, sign-in, CSRF, rate limits, the auth pages
    app.register_blueprint(your_blueprint)       # @login_required views, await current_account()
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from argon2 import profiles
from quart import Quart, current_app, has_websocket_context, redirect, render_template, request, url_for, websocket
from quart_auth import QuartAuth, Unauthorized, login_required
from quart_rate_limiter import RateLimiter
from werkzeug.exceptions import Forbidden, HTTPException

import apps.chat
from apps.errors import json_errors
from apps.settings import require_secret_key

from .auth import CurrentUser, bp as auth_blueprint, client_address, current_account
from .models import Base, User, db
from .pages import bp as pages_blueprint
from .passwords import Passwords
from .security import csrf_token, init_csrf, require_handshake

__all__ = ["Base", "CurrentUser", "Passwords", "User", "app", "create_app", "csrf_token", "current_account",
           "db", "init_accounts", "login_required", "require_handshake"]

STATIC = Path(__file__).resolve().parent.parent.parent / "static"


class Defaults:
    """Safe settings for production; development and tests override a few."""

    MAX_CONTENT_LENGTH = 64 * 1024  # forms are small
    # Cookies: HttpOnly (no JavaScript can read them: an injected script cannot steal the
    # sign-in), Secure (only sent over HTTPS: nobody on the network can copy them),
    # SameSite=Lax (not sent with another site's form posts or scripted requests: CSRF).
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    QUART_AUTH_COOKIE_SECURE = True
    QUART_AUTH_COOKIE_HTTP_ONLY = True
    QUART_AUTH_COOKIE_SAMESITE = "Lax"
    QUART_AUTH_DURATION = 14 * 24 * 3600  # a sign-in cookie older than two weeks is refused
    PASSWORD_HASH_PROFILE = "RFC_9106_LOW_MEMORY"  # argon2.profiles: CHEAPEST in tests only
    SESSION_CHECK_INTERVAL = 15.0  # seconds between re-checks of a long-lived event stream


def init_accounts(app: Quart, *, protect_websockets: bool = True) -> None:
    """Give ``app`` the accounts: database, quart-auth, password hashing, CSRF, rate limits, pages.

    With ``protect_websockets`` every websocket of the app needs a signed-in user and an
    allowed Origin, checked before it is accepted. Call ``json_errors(app)`` before this, not
    after: the accounts' error handler (pages for browsers, JSON for scripts) must be the last
    one registered for HTTP errors.
    """
    for key, value in vars(Defaults).items():
        if key.isupper():
            app.config.setdefault(key, value)
    require_secret_key(app)  # production refuses to start without a real SECRET_KEY (chapter 06)
    app.before_serving(_development_secret)
    db.init_app(app)
    app.extensions["passwords"] = Passwords(getattr(profiles, app.config["PASSWORD_HASH_PROFILE"]))
    QuartAuth(app, user_class=CurrentUser)
    # One limiter (and one memory store) per app: apps never share their counts.
    RateLimiter(app, key_function=client_address)
    init_csrf(app)  # after the limiter: a post without a token still counts as a try
    _error_pages(app)
    if protect_websockets:
        app.before_websocket(_guard_websocket)

    @app.context_processor
    async def signed_in_user() -> dict:
        return {"user": await current_account()}

    app.register_blueprint(auth_blueprint)


def create_app(config: dict | None = None) -> Quart:
    """A new accounts app with the chat behind its sign-in; ``config`` overrides the environment."""
    app = Quart(__name__, static_folder=str(STATIC), static_url_path="/static")
    # The chat's own settings (message size, allowed origins, ...), as its factory sets them.
    chat_defaults = apps.chat.create_app().config
    app.config.update({k: v for k, v in chat_defaults.items() if k not in Quart.default_config})
    app.config.from_object(Defaults)
    if "DATABASE_URL" in os.environ:
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    app.config.from_prefixed_env()  # QUART_SECRET_KEY, QUART_ALLOWED_ORIGINS='["https://..."]', ...
    app.config.update(config or {})
    json_errors(app)
    init_accounts(app)
    app.register_blueprint(pages_blueprint)  # before the chat's: our "/" is the home page
    app.register_blueprint(apps.chat.blueprint)  # /ws and /chat/<room>, behind _guard_websocket
    return app


async def _development_secret() -> None:
    if not current_app.config.get("SECRET_KEY"):  # only reached in debug or testing mode
        current_app.config["SECRET_KEY"] = secrets.token_hex()
        current_app.logger.warning("no SECRET_KEY: using a random one, so sign-ins end when the server stops")


async def _guard_websocket() -> None:
    await require_handshake()
    # The chat takes the sender's name from ?name=: behind a sign-in, it must be your own.
    if websocket.path.startswith("/chat/"):
        user = await current_account()
        if websocket.args.get("name") != user.username:
            raise Forbidden(f"chat under your own name: ?name={user.username}")


def _error_pages(app: Quart) -> None:
    """Errors as pages for browsers, as JSON for everything else; a sign-in page for a signed-out browser."""

    @app.errorhandler(HTTPException)
    async def error(error: HTTPException):
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}  # e.g. Retry-After
        if isinstance(error, Unauthorized) and error.description == Unauthorized.description:
            error.description = "sign in first"  # quart-auth's login_required: werkzeug's long default
        if has_websocket_context() or not _wants_html():
            return {"error": error.description}, error.code, headers
        if isinstance(error, Unauthorized) and request.method == "GET":
            return redirect(url_for("auth.login_form", next=request.full_path.rstrip("?")), 303)
        return await render_template("accounts/error.html", error=error), error.code, headers


def _wants_html() -> bool:
    # Browsers put text/html first; scripts and the test client send */* or nothing.
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


app = create_app()  # what ``hypercorn apps.accounts:app`` serves
