from quart import Blueprint, render_template_string
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from apps.accounts import User
from apps.videoshare.models import Video, db

profiles = Blueprint("profiles", __name__)

PAGE = """<h1>Videos by {{ owner }}</h1>
<ul>
{% for video in videos %}
  <li><a href="watch?v={{ video.id }}">{{ video.title }}</a></li>
{% endfor %}
</ul>"""


@profiles.get("/u/<name>")
async def profile(name):
    """A user's ready videos, newest first, rendered while the rows arrive from the database."""
    session = db.session()
    owner = await session.scalar(select(User).where(User.username == name.lower()))
    if owner is None:
        raise NotFound(f"there is no user {name!r}")
    query = select(Video).where(Video.owner_id == owner.id, Video.status == "ready").order_by(Video.id.desc())
    videos = await session.stream_scalars(query)  # an async stream of Video objects, not a list
    return await render_template_string(PAGE, owner=owner.username, videos=videos)
