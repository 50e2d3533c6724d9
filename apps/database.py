"""An async SQLAlchemy database for any Quart app: one engine per served app, one session per request.

Met in chapter 14; the bookshelf (chapter 14), the accounts (chapter 15) and the capstone use it::

    from apps.database import NAMING_CONVENTION, Database

    class Base(AsyncAttrs, DeclarativeBase):  # your models' base, with a metadata of its own
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    db = Database(Base.metadata)            # module level, like Flask-SQLAlchemy's ``db``

    def create_app(config=None):
        app = Quart(__name__)
        app.config.update(config or {})     # DATABASE_URL, or a SQLite file in the instance folder
        db.init_app(app)
        return app

    @bp.get("/authors/<id:author_id>")      # ``id``: 1 .. 2**31-1, anything else is a 404
    async def author(author_id):
        found = await db.session().get(Author, author_id)   # the request's session
        ...

- The engine is created in ``before_serving``, on the loop that serves the app (its
  connections belong to that loop, chapter 13), and disposed of in ``after_serving``.
- ``db.session()`` is the request's session, made on first use and closed when the request
  ends; nothing is written until you ``await session.commit()``.
- ``db.new_session()`` is a session of your own (``async with db.new_session() as s``) for
  work that outlives a request or runs beside it: a websocket, a background task, a CLI command.
- ``quart --app <module> init-db`` creates the tables and, when the app has Alembic
  migrations, marks the database as migrated to the newest one.
- ``DATABASE_URL`` may be a plain ``postgresql://`` or ``sqlite:///`` URL: the async driver
  (asyncpg, aiosqlite) is filled in.
- ``run_migrations(metadata, url)`` is the body of Alembic's async ``env.py`` template, for
  every app's ``migrations/env.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
from quart import Quart, current_app, g
from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from werkzeug.routing import IntegerConverter

# Constraint names that Alembic can find again: without names, SQLite's unnamed constraints
# cannot be dropped or altered by a later migration.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MAX_ID = 2**31 - 1  # the largest INTEGER in PostgreSQL; SQLite's limit (2**63 - 1) is higher


class IdConverter(IntegerConverter):
    """``<id:name>`` in a route: a database id, 1 to 2**31 - 1. Anything else is a 404.

    Werkzeug's ``<int:...>`` accepts any number of digits: ``/authors/99999999999999999999``
    would reach the database and fail there (an OverflowError in SQLite, a DataError in
    PostgreSQL), a 500 instead of the 404 it deserves.
    """

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def async_url(url: str) -> str:
    """``url`` with its async driver: postgresql:// -> postgresql+asyncpg://, sqlite:// -> sqlite+aiosqlite://."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))  # Heroku's old spelling
    driver = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else str(parsed)


class Database:
    """The engine, sessions and ``init-db`` command of one or more apps, for the tables in ``metadata``.

    ``migrations``: the ``alembic.ini`` of the app's migrations, if it has any; ``init-db``
    then stamps the new database with the newest revision.
    """

    def __init__(self, metadata: MetaData, *, migrations: str | Path | None = None) -> None:
        self.metadata = metadata
        self.migrations = Path(migrations) if migrations else None

    def init_app(self, app: Quart) -> None:
        """Read the settings, register the lifespan hooks, the ``id`` converter and ``init-db``."""
        default = f"sqlite:///{Path(app.instance_path) / (app.name.rpartition('.')[2] + '.sqlite')}"
        app.config.setdefault("DATABASE_URL", default)
        app.config.setdefault("DATABASE_ECHO", False)  # True: log every SQL statement
        app.config.setdefault("DATABASE_CREATE_ALL", False)  # True: create missing tables at start-up
        app.extensions["database"] = self
        app.url_map.converters["id"] = IdConverter
        app.before_serving(self._open)
        app.after_serving(self._close)
        app.teardown_appcontext(self._close_session)

        @app.cli.command("init-db")
        def init_db() -> None:
            """Create the tables (and stamp the newest migration)."""
            url = async_url(app.config["DATABASE_URL"])
            asyncio.run(self._create_all(url))  # a CLI command has no running loop: asyncio.run is fine
            if self.migrations:
                self._stamp_newest(url)
            click.echo(f"Initialised the database {make_url(url).render_as_string(hide_password=True)}")

    # --- the engine: one per served app, made on the serving loop -----------------------------

    def engine(self, app: Quart | None = None) -> AsyncEngine:
        """The app's engine, while it is served."""
        return _opened(app or current_app)[0]

    def new_session(self, app: Quart | None = None) -> AsyncSession:
        """A session of your own: ``async with db.new_session() as session: ...``."""
        return _opened(app or current_app)[1]()

    def session(self) -> AsyncSession:
        """The current request's session (websocket's, CLI command's): made on first use, closed at its end."""
        if "database_session" not in g:
            g.database_session = self.new_session()
        return g.database_session

    async def create_all(self, app: Quart | None = None) -> None:
        """Create the tables that do not exist yet (a test, a demo: real apps use migrations)."""
        async with self.engine(app).begin() as connection:
            await connection.run_sync(self.metadata.create_all)

    async def _open(self) -> None:
        url = async_url(current_app.config["DATABASE_URL"])
        engine = make_engine(url, echo=current_app.config["DATABASE_ECHO"])
        # expire_on_commit=False: after a commit, reading an attribute would reload it, and
        # a reload is I/O that async code must await: it would raise MissingGreenlet instead.
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        current_app.extensions["database.engine"] = (engine, sessions)
        if current_app.config["DATABASE_CREATE_ALL"]:
            await self.create_all()

    async def _close(self) -> None:
        engine, _ = current_app.extensions.pop("database.engine")
        await engine.dispose()

    async def _close_session(self, error: BaseException | None) -> None:
        session = g.pop("database_session", None)
        if session is not None:
            await session.close()  # an uncommitted transaction is rolled back here

    async def _create_all(self, url: str) -> None:
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(self.metadata.create_all)
        finally:
            await engine.dispose()

    def _stamp_newest(self, url: str) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config(str(self.migrations))
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        command.stamp(config, "head")


def _opened(app: Quart) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    state = app.extensions.get("database.engine")
    if state is None:
        raise RuntimeError("the database is open only while the app is served "
                           "(in a test: async with app.test_app() as test_app: ...)")
    return state


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url``, with SQLite made to behave like the database it stands in for."""
    url = async_url(url)
    options: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database in (None, "", ":memory:"):
            # An in-memory database lives in one connection: share that one (demos, tests only).
            options["poolclass"] = StaticPool
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)  # e.g. a new instance folder
    else:
        options["pool_pre_ping"] = True  # a connection the server dropped is replaced, not used
    engine = create_async_engine(url, **options)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_foreign_keys)
    return engine


def _sqlite_foreign_keys(dbapi_connection: Any, record: Any) -> None:
    # SQLite ignores FOREIGN KEY constraints (and ON DELETE CASCADE) unless asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def run_migrations(metadata: MetaData, url: str) -> None:
    """What Alembic's async template (``alembic init -t async``) does in ``env.py``, for ``url``.

    Alembic runs ``env.py`` for every command; this runs the migrations with ``asyncio.run``,
    so run Alembic as a command (``alembic -c apps/<app>/alembic.ini upgrade head``), not from
    a running event loop such as a notebook's kernel. ``metadata`` is what autogenerate
    compares the database with.
    """
    from logging.config import fileConfig

    from alembic import context

    config = context.config
    # Log settings from alembic.ini, unless the caller keeps its own (videoshare's migrate() does).
    if config.config_file_name is not None and config.attributes.get("configure_logger", True):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    # render_as_batch: SQLite cannot ALTER most of a table; batch mode copies it instead.
    if context.is_offline_mode():  # ``alembic upgrade head --sql``: print the SQL, run nothing
        context.configure(url=async_url(url), target_metadata=metadata, literal_binds=True,
                          dialect_opts={"paramstyle": "named"}, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(main())
