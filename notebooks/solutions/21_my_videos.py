from quart import Blueprint
from sqlalchemy import select

from apps.accounts import current_account, login_required
from apps.videoshare.models import Video, db

mine = Blueprint("mine", __name__)


@mine.get("/api/me/videos")
@login_required
async def my_videos():
    """The signed-in user's videos in every state, newest first."""
    user = await current_account()
    videos = await db.session().scalars(
        select(Video).where(Video.owner_id == user.id).order_by(Video.id.desc()))
    return {"videos": [video.to_dict() for video in videos]}
