"""A validated, documented, CORS-enabled todo API: the app of 05_extensions.

quart-schema checks request bodies against pydantic models and writes the OpenAPI document
(``/openapi.json``; ``/docs``, ``/redocs`` and ``/scalar`` render it with JavaScript from a CDN).
quart-cors adds the headers a browser needs before a page from another origin may call the API.

Run it with ``hypercorn apps.extensions:app`` or ``uvicorn apps.extensions:app``.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field
from quart import Blueprint, Quart, abort, current_app, request
from quart_cors import cors
from quart_schema import QuartSchema, RequestSchemaValidationError, validate_request, validate_response

from apps.errors import json_body, json_errors, limit_body

# The views live on a blueprint, so that create_app() can build a fresh app for each test
# or notebook cell; an extension is set up per app (as Flask's init_app does).
bp = Blueprint("todos", __name__)


def create_app(config: dict | None = None) -> Quart:
    """A new todo API with its own todos; ``config`` overrides the defaults."""
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    limit_body(app)  # MAX_CONTENT_LENGTH also for bodies sent without Content-Length
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.config.update(config or {})
    app.extensions["todos"] = {}  # id -> Todo; in memory, so a restart forgets them
    QuartSchema(app, info={"title": "Todo API", "version": "1.0"})
    app.register_blueprint(bp)
    # Only this origin's pages may call the API from a browser (curl and servers are not affected).
    return cors(app, allow_origin=["https://todo.example"], allow_methods=["GET", "POST"],
                allow_headers=["Content-Type"], max_age=600)


class TodoIn(BaseModel):
    """What a client sends to create a todo."""

    task: str = Field(min_length=1, max_length=200)
    due: date | None = None


class Todo(TodoIn):
    """A stored todo."""

    id: int


def _todos() -> dict[int, Todo]:
    return current_app.extensions["todos"]


@bp.before_request
async def require_json_body():
    """415 for a body that is not JSON, 400 for broken JSON, before quart-schema sees it.

    quart-schema reads ``await request.get_json()``, which returns None for a non-JSON body
    (a 422 that hides the real mistake) and raises, a 500, on bytes that are not UTF-8 or
    on deeply nested JSON. ``json_body()`` gives each mistake its own clear status first;
    what passes it is safe for ``get_json()`` to parse again.
    """
    if request.method == "POST":
        await json_body()


@bp.post("/todos")
@validate_request(TodoIn)
@validate_response(Todo, 201)
async def create_todo(data: TodoIn) -> tuple[Todo, int]:
    """Create a todo; quart-schema hands the view a validated TodoIn."""
    todo = Todo(id=max(_todos(), default=0) + 1, **data.model_dump())
    _todos()[todo.id] = todo
    return todo, 201


@bp.get("/todos")
async def list_todos() -> list[dict]:
    """Every todo."""
    return [todo.model_dump(mode="json") for todo in _todos().values()]


@bp.get("/todos/<int:todo_id>")
@validate_response(Todo)
async def get_todo(todo_id: int) -> Todo:
    """One todo, or 404."""
    if todo_id not in _todos():
        abort(404, f"there is no todo {todo_id}")
    return _todos()[todo_id]


@bp.errorhandler(RequestSchemaValidationError)
async def invalid_body(error: RequestSchemaValidationError):
    """Well-formed JSON that breaks the model: 422 with pydantic's list of problems."""
    problems = getattr(error.validation_error, "errors", None)
    detail = (problems(include_url=False, include_context=False, include_input=False)
              if callable(problems) else str(error.validation_error))
    return {"error": "the body does not match the schema", "detail": detail}, 422


app = create_app()  # what ``hypercorn apps.extensions:app`` and ``uvicorn apps.extensions:app`` serve
