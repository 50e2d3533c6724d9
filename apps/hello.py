"""Hello, World! and a small JSON notes API: the Quart app of 01_flask_to_quart.

Run it with ``hypercorn apps.hello:app`` or ``uvicorn apps.hello:app``.
"""

from __future__ import annotations

from itertools import count

from quart import Quart
from werkzeug.exceptions import HTTPException, NotFound

from apps.errors import json_body, json_errors, limit_body


class Unprocessable(HTTPException):
    """422: the JSON is well formed but does not say what the API needs."""

    code = 422


def create_app(config: dict | None = None) -> Quart:
    """A new notes app with notes of its own; ``config`` overrides the defaults.

    A factory, as in Flask's tutorial: each test (or notebook cell) builds a fresh app
    instead of sharing, and clearing, one module-level dict of notes.
    """
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    limit_body(app)  # MAX_CONTENT_LENGTH also for bodies sent without Content-Length
    # Quart refuses a bigger body with 413 before reading it (the default is 16 MiB).
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.config.update(config or {})

    # In memory, so the example stays one file; a restart forgets every note.
    notes: dict[int, dict] = {}
    ids = count(1)

    @app.get("/")
    async def index():
        """Greet: a dict return value becomes a JSON response, exactly as in Flask."""
        return {"message": "Hello, World!"}

    @app.get("/notes")
    async def list_notes():
        """List every note, oldest first."""
        return list(notes.values())

    @app.post("/notes")
    async def create_note():
        """Create a note from JSON {"text": "..."}; answer 201 with the stored note."""
        # Not ``await request.get_json()``: it returns None for a body that is not JSON
        # (Flask answers 415) and raises, a 500, on bytes that are not UTF-8 or on
        # deeply nested JSON. json_body() answers 415 or 400 instead.
        data = await json_body()
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text:
            raise Unprocessable('the body must be a JSON object with a non-empty string "text"')
        note = {"id": next(ids), "text": text}
        notes[note["id"]] = note
        return note, 201

    @app.get("/notes/<int:note_id>")
    async def get_note(note_id: int):
        """One note by id, or 404 (the int converter already answers 404 for /notes/abc)."""
        if note_id not in notes:
            raise NotFound(f"there is no note {note_id}")
        return notes[note_id]

    return app


app = create_app()  # what ``hypercorn apps.hello:app`` and ``uvicorn apps.hello:app`` serve
