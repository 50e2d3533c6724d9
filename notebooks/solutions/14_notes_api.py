from quart import Quart
from werkzeug.exceptions import NotFound, UnprocessableEntity

from apps.database import Database
from apps.errors import json_body, json_errors
from course.exercises.databases import Note, NotesBase

notes_db = Database(NotesBase.metadata)
notes = Quart("notes")
json_errors(notes)
notes_db.init_app(notes)  # the engine while served, notes_db.session() per request, <id:...> in routes


@notes.post("/notes")
async def add_note():
    """Store {"text": "..."} (a non-empty string, else 422); answer 201 with {"id": ..., "text": ...}."""
    data = await json_body()
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise UnprocessableEntity('send {"text": "..."} with a non-empty text')
    note = Note(text=text.strip())
    session = notes_db.session()
    session.add(note)
    await session.commit()
    return {"id": note.id, "text": note.text}, 201


@notes.get("/notes/<id:note_id>")
async def get_note(note_id):
    """Answer {"id": ..., "text": ...}, or 404."""
    note = await notes_db.session().get(Note, note_id)
    if note is None:
        raise NotFound(f"there is no note {note_id}")
    return {"id": note.id, "text": note.text}
