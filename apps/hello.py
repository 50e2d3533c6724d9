"""Hello, World! and a small JSON notes API: the Quart app of 01_flask_to_quart.

Run it with ``hypercorn apps.hello:app`` or ``uvicorn apps.hello:app``.
"""

from __future__ import annotations

import json
from itertools import count

from quart import Quart, request
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, UnsupportedMediaType

from apps.errors import json_errors

app = Quart(__name__)
json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
# Quart refuses a bigger body with 413 before reading it (the default is 16 MiB).
app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024

# In memory, so the example stays one file; a restart forgets every note.
notes: dict[int, dict] = {}
_ids = count(1)


class Unprocessable(HTTPException):
    """422: the JSON is well formed but does not say what the API needs."""

    code = 422


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
    # Flask's get_json() raises 415 for a non-JSON body; Quart's returns None instead,
    # so check the content type first to give the client a clear answer.
    if not request.is_json:
        raise UnsupportedMediaType("send the note as JSON with Content-Type: application/json")
    data = await _json_body()
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str) or not text:
        raise Unprocessable('the body must be a JSON object with a non-empty string "text"')
    note = {"id": next(_ids), "text": text}
    notes[note["id"]] = note
    return note, 201


async def _json_body():
    """The request's JSON, or 400 for a body that is not JSON."""
    # Not ``await request.get_json()``: on a body that is not UTF-8 it raises
    # UnicodeDecodeError, a 500. json.loads takes bytes and raises ValueError instead.
    try:
        return json.loads(await request.get_data())
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None


@app.get("/notes/<int:note_id>")
async def get_note(note_id: int):
    """One note by id, or 404."""
    if note_id not in notes:
        raise NotFound(f"there is no note {note_id}")
    return notes[note_id]
