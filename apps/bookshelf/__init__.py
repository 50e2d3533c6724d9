"""A bookshelf API on an async database: the finished app of chapter 14.

Authors and their books in SQLAlchemy 2 (async), SQLite by default, PostgreSQL when
``DATABASE_URL`` says so; the schema evolves through the Alembic migrations in
``apps/bookshelf/migrations``.

Run it from the repo root::

    quart --app apps.bookshelf init-db            # create the tables (instance/bookshelf.sqlite)
    hypercorn apps.bookshelf:app                  # or: uvicorn apps.bookshelf:app

    DATABASE_URL=postgresql://user:password@localhost/bookshelf hypercorn apps.bookshelf:app
    alembic -c apps/bookshelf/alembic.ini upgrade head   # migrate whichever database DATABASE_URL names
"""

from __future__ import annotations

import os

from quart import Quart

from apps.errors import json_errors

from .models import Author, Base, Book, db
from .views import bp

__all__ = ["Author", "Base", "Book", "app", "create_app", "db"]


def create_app(config: dict | None = None) -> Quart:
    """A new bookshelf; ``config`` overrides the defaults and the environment."""
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    if "DATABASE_URL" in os.environ:  # the name every host and platform uses
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    app.config.from_prefixed_env()  # QUART_DATABASE_ECHO=true, ...
    app.config.update(config or {})
    db.init_app(app)  # engine in before_serving, a session per request, init-db
    app.register_blueprint(bp)
    return app


app = create_app()  # what ``hypercorn apps.bookshelf:app`` serves
