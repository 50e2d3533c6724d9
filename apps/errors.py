"""Errors as JSON for every app: ``{"error": "..."}`` with the right status, never an HTML page or a traceback.

Met in chapter 01; every app of the course calls ``json_errors(app)``.
"""

from __future__ import annotations

from quart import Quart
from werkzeug.exceptions import HTTPException


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
        if app.testing:  # in tests, Quart's own 500 page with the traceback helps more than JSON
            raise error
        app.logger.exception("unexpected error")
        return {"error": "internal server error"}, 500
