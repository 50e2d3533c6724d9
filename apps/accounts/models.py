"""The accounts' table, and the database every app built on the accounts shares."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from apps.database import NAMING_CONVENTION, Database

USERNAME_LENGTH = 32


class Base(AsyncAttrs, DeclarativeBase):
    """The base of the accounts' models. An app built on the accounts subclasses it too, so
    that its tables can refer to ``users.id`` and ``init-db`` creates them all."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-case, so "Ada" and "ada" cannot be two people; unique in the database
    # itself, so two sign-ups racing for one name cannot both win.
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of every sign-in cookie: raising it (at logout) makes every earlier cookie invalid,
    # including copies of it in other browsers or in an attacker's hands.
    session_version: Mapped[int] = mapped_column(default=0)
    # Set in Python, not by the database: a server default would have to be loaded back
    # after the insert, and that hidden reload is what async SQLAlchemy refuses to do.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))

    @property
    def auth_id(self) -> str:
        """What the sign-in cookie carries (signed, not secret): the id and the session version."""
        return f"{self.id}:{self.session_version}"

    def to_dict(self) -> dict:
        return {"id": self.id, "username": self.username}


db = Database(Base.metadata)
