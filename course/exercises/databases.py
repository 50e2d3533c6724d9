"""Exercises of chapter 14, databases."""

from __future__ import annotations

import tempfile
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import CheckConstraint, String, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from apps.bookshelf import Author, Base as BookshelfBase, Book
from apps.database import make_engine
from course.exercises import Exercise, Incorrect, checklist, expect, quiet


class WalletBase(DeclarativeBase):
    pass


class Wallet(WalletBase):
    """A wallet whose balance the database never lets go below zero."""

    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint("balance >= 0", name="no_overdraft"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(50))
    balance: Mapped[int]


class NotesBase(DeclarativeBase):
    pass


class Note(NotesBase):
    """A note: the model of exercise 2."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(500))


@asynccontextmanager
async def _database(metadata):
    """A fresh SQLite file with ``metadata``'s tables, and a session maker for it."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'exercise.sqlite'}")
        try:
            async with engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            yield async_sessionmaker(engine, expire_on_commit=False)
        finally:
            await engine.dispose()


class EagerBooks(Exercise):
    """Write the query for one author that loads their books with it."""

    id = "14_selectinload"
    hints = [
        "Reading `author.books` after the query is I/O that nobody awaits: the books must come with "
        "the query. A loader option does that: `.options(...)`.",
        "`.options(selectinload(Author.books))` runs a second SELECT for the books, right away.",
    ]
    wrong = [(".options(selectinload(Author.books))", ""),
             ("Author.name == name", "Author.name != name")]

    async def _check(self, author_with_books):
        async with _database(BookshelfBase.metadata) as sessions:
            async with sessions() as session:
                session.add_all([Author(name="Ada Lovelace", books=[Book(title="Notes"), Book(title="Sketch")]),
                                 Author(name="Grace Hopper", books=[Book(title="Compilers")])])
                await session.commit()
            async with sessions() as session:
                author = await session.scalar(author_with_books("Ada Lovelace"))
                expect(author is not None and author.name == "Ada Lovelace",
                       f"the query found {author.name if author else None!r}, not 'Ada Lovelace'.")
                try:
                    titles = [book.title for book in author.books]
                except SQLAlchemyError as error:
                    raise Incorrect(f"reading author.books raised {type(error).__name__}: the query did not "
                                    "load the books, so reading them needs I/O that nobody awaits.") from None
        expect(titles == ["Notes", "Sketch"], f"author.books holds {titles}, not ['Notes', 'Sketch'].")


class NotesApi(Exercise):
    """Build POST /notes and GET /notes/<id> on a database session per request."""

    id = "14_notes_api"
    hints = [
        "POST: check `data`, make a `Note(text=...)`, `session = notes_db.session()`, `session.add(note)`, "
        "`await session.commit()`, then answer `{\"id\": note.id, \"text\": note.text}, 201`.",
        "GET: `note = await notes_db.session().get(Note, note_id)`; `raise NotFound()` when it is None.",
        "Refuse a missing or empty text with `raise UnprocessableEntity(\"...\")`; "
        "`isinstance(data, dict)` first, since JSON may be a list.",
    ]
    wrong = [("    await session.commit()\n", ""),
             ('return {"id": note.id, "text": note.text}, 201', 'return {"id": note.id, "text": note.text}'),
             ("if note is None:", "if False:")]

    async def _check(self, notes):
        with tempfile.TemporaryDirectory() as folder:
            notes.config.update(DATABASE_URL=f"sqlite:///{Path(folder) / 'notes.sqlite'}", DATABASE_CREATE_ALL=True)
            with quiet(notes):
                async with notes.test_app() as test_app:
                    client = test_app.test_client()
                    created = await client.post("/notes", json={"text": "buy milk"})
                    body = await created.get_json(silent=True) or {}
                    fetched = await client.get(f"/notes/{body.get('id', 1)}")
                    missing = await client.get("/notes/999")
                    huge = await client.get("/notes/99999999999999999999")
                    empty = await client.post("/notes", json={"text": "   "})
                    listed = await client.post("/notes", json=["buy milk"])
                    malformed = await client.post("/notes", data="{", headers={"Content-Type": "application/json"})
        with checklist() as expect_:
            expect_(created.status_code == 201, f"POST /notes answered {created.status_code}, not 201.")
            expect_(isinstance(body.get("id"), int) and body.get("text") == "buy milk",
                    f'POST /notes answered {body}, not {{"id": <a number>, "text": "buy milk"}}.')
            fetched_body = await fetched.get_json(silent=True)
            expect_(fetched.status_code == 200 and fetched_body == body,
                    f"GET /notes/<id> of the new note answered {fetched.status_code} {fetched_body}: was the "
                    "session committed? Without a commit the note is rolled back when the request ends.")
            expect_(missing.status_code == 404, f"GET /notes/999 answered {missing.status_code}, not 404.")
            expect_(huge.status_code == 404, f"GET /notes/99999999999999999999 answered {huge.status_code}, not 404.")
            expect_(empty.status_code == 422, f'POST {{"text": "   "}} answered {empty.status_code}, not 422.')
            expect_(listed.status_code == 422, f"POST [\"buy milk\"] (a list) answered {listed.status_code}, not 422.")
            expect_(malformed.status_code == 400, f"POST with malformed JSON answered {malformed.status_code}, not 400.")


class AllOrNothing(Exercise):
    """Move money between two wallets in one transaction."""

    id = "14_transfer"
    hints = [
        "A session can start a transaction explicitly, as an `async with` block that commits at its end "
        "and rolls back if anything in it fails.",
        "`async with session.begin():`",
    ]
    wrong = [("async with session.begin():", "if True:  # no transaction block"),
             ("        target.balance += amount\n", "        target.balance += amount\n        await session.commit()\n")]

    async def _check(self, transfer):
        async with _database(WalletBase.metadata) as sessions:
            async with sessions() as session:
                session.add_all([Wallet(id=1, owner="ada", balance=100), Wallet(id=2, owner="bob", balance=0)])
                await session.commit()

            async def balances() -> tuple[int, int]:
                async with sessions() as session:
                    rows = await session.execute(select(Wallet.balance).order_by(Wallet.id))
                    return tuple(rows.scalars())

            async with sessions() as session:
                try:
                    await transfer(session, 1, 2, 30)
                except Exception as error:
                    raise Incorrect(f"moving 30 from ada to bob raised {type(error).__name__}: {error}") from None
            after_transfer = await balances()
            overdraft_refused = False
            async with sessions() as session:
                try:
                    await transfer(session, 1, 2, 500)
                except SQLAlchemyError:
                    overdraft_refused = True
            after_overdraft = await balances()
        with checklist() as expect_:
            expect_(after_transfer == (70, 30), f"after moving 30 from ada (100) to bob (0) the balances are "
                                               f"{after_transfer}, not (70, 30): was the transaction committed?")
            expect_(overdraft_refused, "moving 500 from a wallet of 70 did not raise: the database's CHECK "
                                       "should have refused it.")
            expect_(after_overdraft == after_transfer,
                    f"after the refused transfer of 500 the balances are {after_overdraft}, not {after_transfer}: "
                    "half of it was saved.")


q1 = EagerBooks()
q2 = NotesApi()
q3 = AllOrNothing()
