"""A validated, documented, CORS-enabled todo API: the app of 05_extensions.

quart-schema checks request bodies against pydantic models and writes the OpenAPI document
(``/openapi.json``; ``/docs``, ``/redocs`` and ``/scalar`` render it with JavaScript from a CDN).
quart-cors adds the headers a browser needs before a page from another origin may call the API.

Run it with ``hypercorn apps.extensions:app`` or ``uvicorn apps.extensions:app``.
"""

from __future__ import annotations

import json
from datetime import date

from pydantic import BaseModel, Field
from quart import Quart, abort, request
from quart_cors import cors
from quart_schema import QuartSchema, RequestSchemaValidationError, validate_request, validate_response

from apps.errors import json_errors

app = Quart(__name__)
json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
QuartSchema(app, info={"title": "Todo API", "version": "1.0"})
# Only this origin's pages may call the API from a browser (curl and servers are not affected).
app = cors(app, allow_origin=["https://todo.example"], allow_methods=["GET", "POST"],
           allow_headers=["Content-Type"], max_age=600)


class TodoIn(BaseModel):
    """What a client sends to create a todo."""

    task: str = Field(min_length=1, max_length=200)
    due: date | None = None


class Todo(TodoIn):
    """A stored todo."""

    id: int


todos: dict[int, Todo] = {}


@app.before_request
async def require_json_body():
    """415 for a body that is not JSON, 400 for broken JSON, before quart-schema sees it.

    quart-schema reads ``await request.get_json()``, which returns None for a non-JSON body
    (a 422 that hides the real mistake) and raises UnicodeDecodeError, a 500, on bytes that
    are not UTF-8. Checking here gives each mistake its own clear status.
    """
    if request.method != "POST":
        return
    if not request.is_json:
        abort(415, "send JSON with Content-Type: application/json")
    try:
        json.loads((await request.get_data()).decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError is a ValueError too
        abort(400, f"the body is not valid JSON: {error}")


@app.post("/todos")
@validate_request(TodoIn)
@validate_response(Todo, 201)
async def create_todo(data: TodoIn) -> tuple[Todo, int]:
    """Create a todo; quart-schema hands the view a validated TodoIn."""
    todo = Todo(id=max(todos, default=0) + 1, **data.model_dump())
    todos[todo.id] = todo
    return todo, 201


@app.get("/todos")
async def list_todos() -> list[dict]:
    """Every todo."""
    return [todo.model_dump(mode="json") for todo in todos.values()]


@app.get("/todos/<int:todo_id>")
@validate_response(Todo)
async def get_todo(todo_id: int) -> Todo:
    """One todo, or 404."""
    if todo_id not in todos:
        abort(404, f"there is no todo {todo_id}")
    return todos[todo_id]


@app.errorhandler(RequestSchemaValidationError)
async def invalid_body(error: RequestSchemaValidationError):
    """Well-formed JSON that breaks the model: 422 with pydantic's list of problems."""
    problems = getattr(error.validation_error, "errors", None)
    detail = (problems(include_url=False, include_context=False, include_input=False)
              if callable(problems) else str(error.validation_error))
    return {"error": "the body does not match the schema", "detail": detail}, 422




