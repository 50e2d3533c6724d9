"""A blog split into blueprints, built by an app factory: the app of 03_blueprints.

Run it with ``hypercorn apps.blog:app`` or ``uvicorn apps.blog:app``.

    apps/blog/__init__.py   create_app(): config, blueprints, JSON errors
    apps/blog/store.py      the posts "database", opened and closed by serving hooks
    apps/blog/pages.py      pages blueprint: / and /about
    apps/blog/api.py        api blueprint (/api) with a nested v1 blueprint (/api/v1/posts)
"""

from __future__ import annotations

from quart import Quart

from apps.errors import json_errors, limit_body


def create_app(config: dict | None = None) -> Quart:
    """Build a new, independent blog app; ``config`` overrides the defaults (tests, notebooks)."""
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}, from any blueprint: see apps/errors.py
    limit_body(app)  # MAX_CONTENT_LENGTH also for bodies sent without Content-Length
    app.config.from_mapping(MAX_CONTENT_LENGTH=64 * 1024, SEED_POSTS=True)
    app.config.from_mapping(config or {})

    # Imported here, not at the top: each call of create_app registers the same blueprint
    # objects on a new app, which is allowed. A blueprint is a recipe, not an app.
    from . import api, pages, store

    app.register_blueprint(store.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
    return app


app = create_app()
