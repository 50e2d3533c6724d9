"""The videos table, next to the accounts' users table in one database."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

# The accounts' Base and Database: one metadata (so a video can point at users.id) and one
# engine per served app. Importing them is what chapter 15 meant by "build on the accounts".
from apps.accounts import Base, User, db

__all__ = ["MIGRATIONS", "STATUSES", "TITLE_LENGTH", "Base", "User", "Video", "db"]

MIGRATIONS = Path(__file__).with_name("alembic.ini")
TITLE_LENGTH = 100
# queued: stored, waiting for a processor; processing: a processor has claimed it (since
# claimed_at); ready: watchable; failed: not a video we can play (error says why).
STATUSES = ("queued", "processing", "ready", "failed")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Deleting a user deletes their videos' rows (their files go with DELETE /api/videos/<id>).
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    # The name on disk is ours (random), never the uploader's: "../../x" cannot reach a path.
    filename: Mapped[str] = mapped_column(String(40), unique=True)
    size: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(String(200))
    duration: Mapped[float | None]  # seconds
    width: Mapped[int | None]
    height: Mapped[int | None]
    # Set in Python, not by the database: async SQLAlchemy must never reload a row behind
    # an attribute (chapter 14's MissingGreenlet).
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def thumbnail(self) -> str:
        """The thumbnail's file name, next to the video."""
        return Path(self.filename).stem + ".jpg"

    def to_dict(self, owner: str | None = None) -> dict:
        data = {"id": self.id, "title": self.title, "status": self.status, "size": self.size,
                "duration": self.duration, "width": self.width, "height": self.height,
                "error": self.error, "owner_id": self.owner_id,
                # SQLite hands datetimes back without their zone: they were stored in UTC.
                "created_at": self.created_at.replace(tzinfo=self.created_at.tzinfo or timezone.utc).isoformat()}
        if owner is not None:
            data["owner"] = owner
        return data
