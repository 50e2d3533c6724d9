"""Errors as JSON for every app: ``{"error": "..."}`` with the right status, never an HTML page or a traceback.

Met in chapter 01; every app of the course calls ``json_errors(app)`` and reads JSON
bodies with ``await json_body()``; ``limit_body(app)`` makes ``MAX_CONTENT_LENGTH`` hold
for bodies sent without a Content-Length.
"""

from __future__ import annotations

import json
import re
from typing import Any

from quart import Quart, request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from apps.limits import ClientGone

MAX_DEPTH = 32  # arrays and objects nested deeper than any honest client sends


def json_errors(app: Quart) -> None:
    """Answer every HTTP error (400, 404, 405, 413, 415, 422, ...) as JSON, and a bug as a JSON 500."""

    @app.errorhandler(HTTPException)
    async def json_error(error: HTTPException):
        """An ``abort(404)``, a ``NotFound`` raised anywhere, or Quart's own 405 and 413."""
        # get_headers() carries e.g. the Allow header of a 405; drop its HTML content type.
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return {"error": error.description}, error.code, headers

    @app.errorhandler(Exception)
    async def unexpected_error(error: Exception):
        """A bug must not leak a traceback to the client: log it, answer a plain JSON 500."""
        # In tests Quart's own 500 page with the traceback helps more than JSON; and a client
        # that left (Quart 0.23's ClientDisconnectedError) is not a bug: Quart ends it quietly.
        if app.testing or isinstance(error, ClientGone):
            raise error
        app.logger.exception("unexpected error")
        return {"error": "internal server error"}, 500


def limit_body(app: Quart) -> None:
    """Apply ``MAX_CONTENT_LENGTH`` while a request body arrives, not after all of it has.

    Quart refuses a too-big Content-Length up front, but a body sent without one (chunked)
    is measured as it is read: Quart 0.22 stopped it at the limit; 0.23 queues all of it
    first (300 MiB sent: the server grew by 320 MiB and never answered). This ASGI
    middleware counts the bytes as the server hands them over. Past the limit it answers
    413 itself and tells Quart the client has gone, so the view stops, as it does when a
    client hangs up, and never works on a cut-off body.
    """
    app.asgi_app = _BodyLimit(app.asgi_app, app.config)


class _BodyLimit:
    def __init__(self, app, config) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope, receive, send) -> None:
        limit = self.config["MAX_CONTENT_LENGTH"]
        # With a Content-Length, Quart refuses a too-big one up front, and the server
        # delivers no more than it says: only a body without one needs counting.
        if (scope["type"] != "http" or limit is None
                or any(name == b"content-length" for name, _ in scope["headers"])):
            return await self.app(scope, receive, send)
        received, responding, refused = 0, False, False

        async def counting_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not responding:  # else the response is under way: all we can do is cut it
                        body = json.dumps({"error": RequestEntityTooLarge.description}).encode()
                        await send({"type": "http.response.start", "status": 413,
                                    "headers": [(b"content-type", b"application/json"),
                                                (b"content-length", str(len(body)).encode())]})
                        await send({"type": "http.response.body", "body": body, "more_body": False})
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message) -> None:
            nonlocal responding
            if refused:
                return  # the 413 went out instead
            responding = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def json_body(max_depth: int = MAX_DEPTH) -> Any:
    """The request's JSON body, or a clear 4xx: never the 500 that ``get_json()`` can raise.

    - 415 when the request does not say ``Content-Type: application/json`` (Quart's
      ``get_json()`` returns ``None`` instead, and Flask answers 415);
    - 400 for bytes that are not UTF-8 (``get_json()`` raises ``UnicodeDecodeError``, and
      ``json.loads(bytes)`` would quietly accept UTF-16 and UTF-32), for malformed JSON
      (``NaN`` and ``Infinity`` included: Python writes them, JSON has no such thing), and
      for arrays and objects nested deeper than ``max_depth`` (30,000 ``[`` make
      ``json.loads`` raise ``RecursionError``).
    """
    if not request.is_json:
        raise UnsupportedMediaType("send JSON with Content-Type: application/json")
    data = await request.get_data()  # 413 past MAX_CONTENT_LENGTH, before we look at it
    try:
        text = data.decode("utf-8")  # RFC 8259: JSON between systems is UTF-8
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    if _depth(text) > max_depth:
        raise BadRequest(f"the JSON is nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as error:  # JSONDecodeError, and int() refusing 4,300+ digits
        raise BadRequest(f"the body is not valid JSON: {error}") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


# Escaped backslashes and quotes, then whole strings: what is left is the structure.
_ESCAPES = re.compile(r"\\\\|\\\"")
_STRINGS = re.compile(r'"[^"]*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def _depth(text: str) -> int:
    """How deeply ``[`` and ``{`` nest in ``text``; brackets inside strings do not count.

    It runs before ``json.loads``, so nothing too deep reaches the parser. For a 1 MiB
    body it costs about what ``json.loads`` itself does (tens of milliseconds): the
    regular expressions drop everything but the brackets in C first.
    """
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", _ESCAPES.sub("", text)))
    depth = deepest = 0
    for bracket in brackets:
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest
