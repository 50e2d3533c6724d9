"""The posts "database": a blueprint with no routes, only serving hooks.

``before_app_serving`` runs once when the server starts (after the app is built, before the
first request), ``after_app_serving`` once when it stops. That is where a real app opens and
closes its database pool. They are Quart's; Flask has no equivalent.
"""

from __future__ import annotations

from quart import Blueprint, current_app

bp = Blueprint("store", __name__)


class Posts:
    """An in-memory table of posts (a real app would talk to a database here)."""

    def __init__(self) -> None:
        self.rows: dict[int, dict] = {}
        self.open = True

    def add(self, title: str, body: str) -> dict:
        post = {"id": max(self.rows, default=0) + 1, "title": title, "body": body}
        self.rows[post["id"]] = post
        return post


@bp.before_app_serving
async def open_store() -> None:
    """Open the store when the server starts; seed it unless the config says not to."""
    posts = current_app.extensions["posts"] = Posts()
    if current_app.config["SEED_POSTS"]:
        posts.add("Hello, blueprints", "Split an app by concern, register each part once.")


@bp.after_app_serving
async def close_store() -> None:
    """Close the store when the server stops."""
    current_app.extensions["posts"].open = False


def posts() -> Posts:
    """The store of the app handling this request."""
    try:
        return current_app.extensions["posts"]
    except KeyError:
        # app.test_client() alone runs no serving hooks; this says what to do instead.
        raise RuntimeError("the posts store is not open: serve the app, or test it inside "
                           "`async with app.test_app() as test_app:`") from None
