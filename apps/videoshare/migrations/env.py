"""How Alembic reaches the video site's database: the async template, pointed at the app's models and URL.

Alembic calls this file for every command. It runs the migrations with ``asyncio.run``,
so run Alembic as a command (``alembic -c apps/videoshare/alembic.ini upgrade head``), not
from a running event loop such as a notebook's kernel.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from apps.videoshare import create_app
from apps.videoshare.models import Base
from apps.database import async_url, make_engine

config = context.config
# Log settings from alembic.ini, unless the caller keeps its own (deploy.migrate() does).
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# What autogenerate compares the database with.
target_metadata = Base.metadata
# The app's own database (DATABASE_URL, else the instance folder's SQLite file), unless the
# caller set sqlalchemy.url (init-db does, for the database it has just created).
URL = async_url(config.get_main_option("sqlalchemy.url") or create_app().config["DATABASE_URL"])


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    context.configure(url=URL, target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"}, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most of a table; batch mode copies it instead.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = make_engine(URL)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
