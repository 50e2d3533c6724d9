"""The pages blueprint: what a visitor sees at the top of the site."""

from __future__ import annotations

from quart import Blueprint, url_for

from .store import posts

bp = Blueprint("pages", __name__)


@bp.get("/")
async def index():
    """The front page: how many posts, and where the API lives."""
    # url_for takes "blueprint.view" names; nested blueprints chain them: "api.v1.list_posts".
    return {"posts": len(posts().rows), "api": url_for("api.v1.list_posts")}


@bp.get("/about")
async def about():
    """A static answer, to show a second view in the same blueprint."""
    return {"about": "A blog split into blueprints."}
