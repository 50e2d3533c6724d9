"""CSRF tokens for form posts, and the check that opens a websocket or an event stream.

CSRF (cross-site request forgery): a page on another site can make the learner's browser
POST a form to this app, and the browser attaches this app's cookies. SameSite=Lax cookies
already stop that in current browsers; a token is the second lock, for older browsers and
for a sibling subdomain, which counts as the same site. There is no maintained CSRF library
for Quart (Flask-WTF's CSRFProtect is Flask-only), so here is the synchronizer token pattern
Flask-WTF uses, in twenty lines: a random token kept in Quart's signed session cookie, copied
into every form; a POST must send it back. Another site cannot read the form, so it cannot
know the token.
"""

from __future__ import annotations

import hmac
import secrets

from quart import Quart, has_websocket_context, request, session, websocket
from quart_auth import current_user
from werkzeug.exceptions import BadRequest, Forbidden, Unauthorized

from apps.chat import page_allowed

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}  # read-only, so no token needed


class CSRFError(BadRequest):
    description = "the form's CSRF token is missing or out of date: reload the page and try again"


def csrf_token() -> str:
    """This browser's token, made on first use (templates call it: ``{{ csrf_token() }}``)."""
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


def rotate_csrf_token() -> None:
    """A new token after signing in: a token planted before the sign-in is worth nothing after it."""
    session["csrf_token"] = secrets.token_urlsafe(32)


async def check_csrf() -> None:
    """``before_request``: refuse any state-changing request without the right token (400)."""
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return  # read-only, or no such route: the 404 or 405 says more than a CSRF error
    sent = (await request.form).get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf_token", "")
    # compare_digest takes as long for a near miss as for a wild guess.
    if not (sent and expected and hmac.compare_digest(sent.encode(), expected.encode())):
        raise CSRFError()


def init_csrf(app: Quart) -> None:
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token


async def require_handshake() -> None:
    """Before a websocket is accepted (or an event stream starts): a signed-in user, from an allowed page.

    Browsers let any page open a websocket to any server, cookies included, and do not
    apply CORS to it: the ``Origin`` header is the only sign of which page asked. A script
    sends none (it has no cookie to abuse but its own), so a missing Origin is not refused.
    Raising here, before ``accept()``, answers the handshake with a plain HTTP 403 or 401:
    the connection is never opened.
    """
    connection = websocket if has_websocket_context() else request
    if not page_allowed(connection):  # the chat's rule: an allow-list, and behind a proxy its site
        raise Forbidden(f"pages on {connection.headers['Origin']} may not connect here")
    if not await current_user.is_authenticated:
        raise Unauthorized("sign in first")
