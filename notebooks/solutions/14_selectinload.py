from sqlalchemy import select
from sqlalchemy.orm import selectinload

from apps.bookshelf import Author


def author_with_books(name):
    """The query for one author, with their books loaded by the same call."""
    return select(Author).where(Author.name == name).options(selectinload(Author.books))
