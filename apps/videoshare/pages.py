"""The site's pages, rendered on the server with Jinja's async mode: home, upload, watch.

Every page sits at the top level (``/``, ``/upload``, ``/watch?v=7``) and every link and
script URL is relative, so the site works behind a proxy prefix (jupyter-server-proxy) too.
The blueprint is named "pages" with a ``home`` view: the accounts' sign-in sends people there.
"""

from __future__ import annotations

from quart import Blueprint, render_template, request
from quart_auth import login_required
from quart_schema import hide
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from apps.accounts import User, current_account
from apps.database import MAX_ID

from .models import Video, db

bp = Blueprint("pages", __name__)

HOME_VIDEOS = 48  # newest videos on the home page; the API pages through the rest


@bp.get("/")
@hide  # pages are not part of the JSON API
async def home():
    """The newest videos, and the signed-in user's videos that are still being processed."""
    user = await current_account()
    session = db.session()
    # stream(): rows come from the database while the template renders them. Quart renders
    # templates in Jinja's async mode, so a {% for %} can walk an async iterator like this one.
    newest = await session.stream(select(Video, User.username).join(User).where(Video.status == "ready")
                                  .order_by(Video.id.desc()).limit(HOME_VIDEOS))
    mine = []
    if user is not None:
        mine = (await session.scalars(select(Video).where(Video.owner_id == user.id)
                                      .where(Video.status != "ready").order_by(Video.id.desc()))).all()
    return await render_template("videoshare/home.html", newest=newest, mine=mine)


@bp.get("/upload")
@hide
@login_required
async def upload():
    """A form that uploads with a progress bar, then shows the processing as it happens."""
    return await render_template("videoshare/upload.html")


@bp.get("/watch")
@hide
async def watch():
    """One video (``?v=<id>``) with its player and its chat."""
    given = request.args.get("v", "")
    if not (given.isascii() and given.isdigit() and 0 < int(given[:10]) <= MAX_ID and len(given) <= 10):
        raise NotFound("there is no such video: the address should end in ?v=<a number>")
    row = (await db.session().execute(
        select(Video, User.username).join(User).where(Video.id == int(given)))).first()
    if row is None or row[0].status != "ready":
        raise NotFound(f"there is no video {given} ready to watch")
    return await render_template("videoshare/watch.html", video=row[0], owner=row[1])
