"""The bookshelf's tables: authors, and the books each one wrote."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import CheckConstraint, ForeignKey, MetaData, String, UniqueConstraint
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from apps.database import NAMING_CONVENTION, Database

NAME_LENGTH = 200  # characters in an author's name or a book's title


class Base(AsyncAttrs, DeclarativeBase):
    """The bookshelf's models share this base, and with it one metadata (what Alembic compares)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    # Loaded only when a query asks for it (selectinload): reading author.books without that
    # would be I/O hidden in an attribute, which async SQLAlchemy refuses (MissingGreenlet).
    books: Mapped[list[Book]] = relationship(
        back_populates="author", cascade="all, delete-orphan", passive_deletes=True, order_by="Book.id")

    def to_dict(self, books: bool = False) -> dict:
        data: dict = {"id": self.id, "name": self.name}
        if books:
            data["books"] = [book.to_dict() for book in self.books]
        return data


class Book(Base):
    __tablename__ = "books"
    # One title once per author: the database enforces it, even between two racing requests.
    __table_args__ = (UniqueConstraint("author_id", "title"),
                      CheckConstraint("year BETWEEN -3000 AND 3000", name="year_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(NAME_LENGTH))
    year: Mapped[int | None]
    # ON DELETE CASCADE: deleting an author deletes their books, in the database itself.
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"), index=True)
    author: Mapped[Author] = relationship(back_populates="books")

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "year": self.year, "author_id": self.author_id}


# The app's database: engine, per-request sessions and init-db (apps/database.py).
db = Database(Base.metadata, migrations=Path(__file__).with_name("alembic.ini"))
