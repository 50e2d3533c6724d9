"""A blog split into blueprints, built by an app factory: the app of 03_blueprints.

Run it with ``hypercorn apps.blog:app`` or ``uvicorn apps.blog:app``.

    apps/blog/__init__.py   create_app(): config, blueprints, JSON errors
    apps/blog/store.py      the posts "database", opened and closed by serving hooks
    apps/blog/pages.py      pages blueprint: / and /about
    apps/blog/api.py        api blueprint (/api) with a nested v1 blueprint (/api/v1/posts)
"""

from __future__ import annotations

from quart import Quart
from werkzeug.exceptions import HTTPException


def create_app(test_config: dict | None = None) -> Quart:
    """Build a new, independent blog app; tests pass ``test_config`` to override settings."""
    app = Quart(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=64 * 1024, SEED_POSTS=True)
    if test_config:
        app.config.from_mapping(test_config)

    # Imported here, not at the top: each call of create_app registers the same blueprint
    # objects on a new app, which is allowed. A blueprint is a recipe, not an app.
    from . import api, pages, store

    app.register_blueprint(store.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api")

    @app.errorhandler(HTTPException)
    async def json_error(error: HTTPException):
        """Every HTTP error as JSON {"error": "..."}, from any blueprint."""
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return {"error": error.description}, error.code, headers

    @app.errorhandler(Exception)
    async def unexpected_error(error: Exception):
        """A bug must not leak a traceback to the client."""
        app.logger.exception("unexpected error")
        return {"error": "internal server error"}, 500

    return app


app = create_app()
