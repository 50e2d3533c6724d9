"""How Alembic reaches the bookshelf's database: its models and its URL.

Alembic calls this file for every command; ``run_migrations`` (apps/database.py) does the
rest of Alembic's async template. Run it as a command:
``alembic -c apps/bookshelf/alembic.ini upgrade head``.
"""

from alembic import context

from apps.bookshelf import create_app
from apps.bookshelf.models import Base
from apps.database import run_migrations

# What autogenerate compares the database with.
target_metadata = Base.metadata
# The app's own database (DATABASE_URL, else the instance folder's SQLite file), unless the
# caller set sqlalchemy.url (init-db does, for the database it has just created).
URL = context.config.get_main_option("sqlalchemy.url") or create_app().config["DATABASE_URL"]

run_migrations(target_metadata, URL)
