"""The bookshelf's JSON API: authors and their books, one database session per request."""

from __future__ import annotations

import unicodedata

from quart import Blueprint, request, url_for
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import BadRequest, Conflict, NotFound, UnprocessableEntity

from apps.database import MAX_ID
from apps.errors import json_body

from .models import NAME_LENGTH, Author, Book, db

bp = Blueprint("bookshelf", __name__)

MAX_BOOKS_PER_REQUEST = 100


@bp.get("/")
async def index():
    """Say what this service is."""
    return {"service": "bookshelf", "authors": url_for("bookshelf.list_authors")}


@bp.get("/authors")
async def list_authors():
    """Authors by name with how many books each has; ``?limit=`` (1-100) and ``?offset=``."""
    limit, offset = _int_arg("limit", 50, 1, 100), _int_arg("offset", 0, 0, MAX_ID)
    query = (select(Author.id, Author.name, func.count(Book.id).label("books"))
             .outerjoin(Author.books).group_by(Author.id, Author.name)
             .order_by(Author.name).limit(limit).offset(offset))
    rows = await db.session().execute(query)
    return [row._asdict() for row in rows]


@bp.post("/authors")
async def add_author():
    """Add {"name": ..., "books": [{"title": ..., "year": ...}]}: the author and all books, or nothing."""
    data = _object(await json_body())
    name = _text(data.get("name"), "name")
    books = data.get("books", [])
    if not isinstance(books, list) or len(books) > MAX_BOOKS_PER_REQUEST:
        raise UnprocessableEntity(f'"books" must be a list of at most {MAX_BOOKS_PER_REQUEST} books')
    author = Author(name=name, books=[_book(_object(book)) for book in books])
    session = db.session()
    session.add(author)
    try:
        # One commit, one transaction: the author and every book are stored together, or,
        # if the database refuses any row, none of them is.
        await session.commit()
    except IntegrityError:
        await session.rollback()
        if await session.scalar(select(Author.id).where(Author.name == name)) is not None:
            raise Conflict(f"there is already an author named {name!r}") from None
        raise Conflict("the same title is listed twice: nothing was stored") from None
    return author.to_dict(books=True), 201, {"Location": url_for("bookshelf.get_author", author_id=author.id)}


@bp.get("/authors/<id:author_id>")
async def get_author(author_id: int):
    """One author with their books, or 404."""
    # selectinload: fetch the books now, in a second query, while we are allowed to await.
    query = select(Author).where(Author.id == author_id).options(selectinload(Author.books))
    author = await db.session().scalar(query)
    if author is None:
        raise NotFound(f"there is no author {author_id}")
    return author.to_dict(books=True)


@bp.delete("/authors/<id:author_id>")
async def delete_author(author_id: int):
    """Delete an author and (ON DELETE CASCADE) their books."""
    session = db.session()
    result = await session.execute(delete(Author).where(Author.id == author_id))
    if result.rowcount == 0:
        raise NotFound(f"there is no author {author_id}")
    await session.commit()
    return "", 204


@bp.post("/authors/<id:author_id>/books")
async def add_book(author_id: int):
    """Add {"title": ..., "year": ...} to an author's books."""
    book = _book(_object(await json_body()))
    session = db.session()
    if await session.get(Author, author_id) is None:
        raise NotFound(f"there is no author {author_id}")
    book.author_id = author_id
    session.add(book)
    try:
        await session.commit()
    except IntegrityError:  # the same title again, or the author was deleted meanwhile
        await session.rollback()
        if await session.get(Author, author_id) is None:
            raise NotFound(f"there is no author {author_id}") from None
        raise Conflict(f"author {author_id} already has a book titled {book.title!r}") from None
    return book.to_dict(), 201


@bp.delete("/books/<id:book_id>")
async def delete_book(book_id: int):
    """Delete one book."""
    session = db.session()
    result = await session.execute(delete(Book).where(Book.id == book_id))
    if result.rowcount == 0:
        raise NotFound(f"there is no book {book_id}")
    await session.commit()
    return "", 204


# --- input: checked here, so the database only ever sees values it can store --------------


def _object(data) -> dict:
    if not isinstance(data, dict):
        raise UnprocessableEntity("send a JSON object")
    return data


def _book(data: dict) -> Book:
    year = data.get("year")
    # bool is an int in Python: refuse true/false; the range also keeps huge numbers out.
    if year is not None and (not isinstance(year, int) or isinstance(year, bool) or not -3000 <= year <= 3000):
        raise UnprocessableEntity('"year" must be a whole number from -3000 to 3000, or null')
    return Book(title=_text(data.get("title"), "title"), year=year)


def _text(value, field: str) -> str:
    """A non-empty single line of at most NAME_LENGTH characters that any database can store."""
    if not isinstance(value, str) or not value.strip():
        raise UnprocessableEntity(f'"{field}" must be a non-empty string')
    value = value.strip()
    if len(value) > NAME_LENGTH:
        raise UnprocessableEntity(f'"{field}" is longer than {NAME_LENGTH} characters')
    # PostgreSQL refuses NUL characters, and "\ud800" (valid in JSON) cannot be encoded at all:
    # both would be a 500 from the database, so refuse control characters and lone surrogates.
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise UnprocessableEntity(f'"{field}" contains control characters or invalid Unicode')
    return value


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and low <= int(raw) <= high):
        raise BadRequest(f"?{name}= must be a whole number from {low} to {high}")
    return int(raw)
