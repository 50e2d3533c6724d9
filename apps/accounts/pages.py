"""The pages behind the sign-in: a home page, the chat of chapter 08, and a live event stream."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

from quart import Blueprint, current_app, make_response, redirect, render_template, stream_with_context
from quart_auth import login_required

from apps.events import sse

from .auth import _load_user, current_account
from .security import require_handshake

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.get("/")
async def home():
    """Who is signed in, and where to go from here."""
    return await render_template("accounts/home.html")


@bp.get("/chat")
@login_required
async def chat():
    """The chat page of chapter 08, in a room, under the signed-in user's own name."""
    user = await current_account()
    # A relative URL: it works behind a proxy prefix too.
    return redirect("static/chat.html?" + urlencode({"room": "lobby", "name": user.username}))


@bp.get("/events")
async def events():
    """An event stream for the signed-in user that ends when their session does.

    Checked like a websocket handshake (``require_handshake``: 403 for another site's
    page, 401 without a sign-in) before the first byte is sent. A stream can outlive its
    sign-in, so every SESSION_CHECK_INTERVAL seconds it checks again, and says goodbye.
    """
    await require_handshake()
    user = await current_account()
    auth_id, interval = user.auth_id, float(current_app.config["SESSION_CHECK_INTERVAL"])

    @stream_with_context  # keeps current_app (and so the database) usable inside the stream
    async def stream():
        yield sse(json.dumps({"username": user.username}), event="hello")
        while True:
            await asyncio.sleep(interval)
            if await _load_user(auth_id) is None:  # signed out (anywhere), or the user was deleted
                yield sse(json.dumps({"reason": "signed out"}), event="signed-out")
                return
            yield ": still signed in\n\n"  # a comment line: keeps proxies from closing a quiet stream

    response = await make_response(stream(), {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
    response.timeout = None  # RESPONSE_TIMEOUT would cut the stream off after 60 s
    return response
