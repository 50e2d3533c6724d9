"""The API: an ``api`` blueprint (mounted at /api) with a nested ``v1`` blueprint (/api/v1).

Nesting lets v2 live next to v1 later, each with its own hooks, under one /api prefix.
"""

from __future__ import annotations

from quart import Blueprint, abort

from apps.errors import json_body

from .store import posts

bp = Blueprint("api", __name__)  # url_prefix="/api" is given at registration in create_app
v1 = Blueprint("v1", __name__, url_prefix="/v1")


@bp.after_request
async def mark_api_version(response):
    """Hooks on the parent blueprint run for the nested one too: every /api answer is tagged."""
    response.headers["X-API"] = "blog"
    return response


@v1.get("/posts")
async def list_posts():
    """Every post."""
    return list(posts().rows.values())


@v1.get("/posts/<int:post_id>")
async def get_post(post_id: int):
    """One post, or 404."""
    if post_id not in posts().rows:
        abort(404, f"there is no post {post_id}")
    return posts().rows[post_id]


@v1.post("/posts")
async def create_post():
    """Create a post from JSON {"title": "...", "body": "..."}."""
    data = await json_body()  # 415 if it is not JSON; 400 if malformed, not UTF-8 or too deep
    fields = {name: data.get(name) if isinstance(data, dict) else None for name in ("title", "body")}
    if not all(isinstance(value, str) and value.strip() for value in fields.values()):
        abort(422, 'a post needs a non-empty string "title" and "body"')
    return posts().add(fields["title"], fields["body"]), 201


bp.register_blueprint(v1)  # nested: its routes become /api/v1/..., its endpoints api.v1.*
