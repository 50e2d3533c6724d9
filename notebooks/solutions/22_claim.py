from datetime import datetime, timezone

from sqlalchemy import update

from apps.videoshare.models import Video


async def claim(session, video_id):
    """Mark a queued video as ours to process: True if we got it, False if it was not (or no longer) queued."""
    result = await session.execute(
        update(Video)
        .where(Video.id == video_id, Video.status == "queued")  # only while it waits: of two claims, one matches
        .values(status="processing", claimed_at=datetime.now(timezone.utc)))
    await session.commit()
    return result.rowcount == 1  # how many rows the UPDATE changed says who won
