"""apps/bookshelf and apps/database.py: the same tests on SQLite and on a real PostgreSQL.

Every test that takes ``client`` or ``app`` runs twice: on a SQLite file (the course's default)
and on PostgreSQL through asyncpg (a throwaway server from tests/postgres.py, or the one
``DATABASE_URL`` names), each time on an empty database of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text

from apps.bookshelf import create_app, db
from apps.database import MAX_ID, async_url, make_engine
import postgres as postgres_helper

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ALEMBIC_INI = ROOT / "apps" / "bookshelf" / "alembic.ini"


@pytest.fixture
def app(database_url):
    return create_app({"DATABASE_URL": database_url, "DATABASE_CREATE_ALL": True})



async def _add(client, name: str, *titles: str) -> dict:
    response = await client.post("/authors", json={"name": name, "books": [{"title": t} for t in titles]})
    assert response.status_code == 201, await response.get_data(as_text=True)
    return await response.get_json()


def _run(*command: str, url: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def _tables(url: str) -> set[str]:
    async def names() -> set[str]:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(names())


# --- the API --------------------------------------------------------------------------------


async def test_an_author_is_stored_with_their_books(client):
    created = await _add(client, "Ada Lovelace", "Notes", "Sketch")
    assert created["name"] == "Ada Lovelace" and [b["title"] for b in created["books"]] == ["Notes", "Sketch"]
    response = await client.get(f"/authors/{created['id']}")
    assert response.status_code == 200
    assert await response.get_json() == created


async def test_authors_are_listed_by_name_with_their_book_counts(client):
    await _add(client, "Charles Babbage", "Passages")
    await _add(client, "Ada Lovelace", "Notes", "Sketch")
    listed = await (await client.get("/authors")).get_json()
    assert [(a["name"], a["books"]) for a in listed] == [("Ada Lovelace", 2), ("Charles Babbage", 1)]
    page = await (await client.get("/authors?limit=1&offset=1")).get_json()
    assert [a["name"] for a in page] == ["Charles Babbage"]


async def test_an_author_and_their_books_are_stored_all_or_nothing(client):
    response = await client.post("/authors", json={"name": "Ada", "books": [{"title": "Notes"}, {"title": "Notes"}]})
    assert response.status_code == 409
    assert "nothing was stored" in (await response.get_json())["error"]
    assert await (await client.get("/authors")).get_json() == []  # not even the author


async def test_author_names_are_unique(client):
    await _add(client, "Ada")
    response = await client.post("/authors", json={"name": "Ada"})
    assert response.status_code == 409
    assert "already an author named 'Ada'" in (await response.get_json())["error"]


async def test_a_book_is_added_once_per_author(client):
    author = await _add(client, "Ada")
    first = await client.post(f"/authors/{author['id']}/books", json={"title": "Notes", "year": 1843})
    assert first.status_code == 201 and (await first.get_json())["year"] == 1843
    again = await client.post(f"/authors/{author['id']}/books", json={"title": "Notes"})
    assert again.status_code == 409
    other = await _add(client, "Babbage")  # another author may use the same title
    assert (await client.post(f"/authors/{other['id']}/books", json={"title": "Notes"})).status_code == 201


async def test_deleting_an_author_deletes_their_books(client):
    author = await _add(client, "Ada", "Notes")
    book_id = author["books"][0]["id"]
    assert (await client.delete(f"/authors/{author['id']}")).status_code == 204
    assert (await client.get(f"/authors/{author['id']}")).status_code == 404
    # ON DELETE CASCADE did it (SQLite only enforces it with PRAGMA foreign_keys = ON).
    assert (await client.delete(f"/books/{book_id}")).status_code == 404


async def test_a_book_can_be_deleted(client):
    author = await _add(client, "Ada", "Notes", "Sketch")
    assert (await client.delete(f"/books/{author['books'][0]['id']}")).status_code == 204
    left = await (await client.get(f"/authors/{author['id']}")).get_json()
    assert [b["title"] for b in left["books"]] == ["Sketch"]


async def test_concurrent_requests_each_get_their_own_session(client):
    responses = await asyncio.gather(*(client.post("/authors", json={"name": f"author {n:02}"}) for n in range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    listed = await (await client.get("/authors?limit=100")).get_json()
    assert [a["name"] for a in listed] == [f"author {n:02}" for n in range(20)]


async def test_every_request_gives_its_connection_back(app):
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await _add(client, "Ada", "Notes")
        await client.get("/authors")
        await client.post("/authors", json={"name": "Ada"})  # a 409: rolled back, then closed
        assert db.engine(app).pool.checkedout() == 0


async def test_the_engine_lives_while_the_app_is_served(app):
    with pytest.raises(RuntimeError, match="only while the app is served"):
        db.engine(app)
    async with app.test_app():
        engine = db.engine(app)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    assert "database.engine" not in app.extensions  # disposed in after_serving


# --- hostile input: a clear 4xx, never a 500 --------------------------------------------------

NESTED = "[" * 100 + "]" * 100

BAD_REQUESTS = [
    # (method, path, request options, status, words in the error)
    ("POST", "/authors", {"data": "{", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ("POST", "/authors", {"data": NESTED, "headers": {"Content-Type": "application/json"}}, 400, "nested"),
    ("POST", "/authors", {"data": b'{"name": "\xff"}', "headers": {"Content-Type": "application/json"}}, 400, "not UTF-8"),
    ("POST", "/authors", {"data": "name=Ada", "headers": {"Content-Type": "text/plain"}}, 415, "Content-Type"),
    ("POST", "/authors", {"form": {"name": "Ada"}}, 415, "Content-Type"),
    ("POST", "/authors", {"json": ["Ada"]}, 422, "JSON object"),
    ("POST", "/authors", {"json": {}}, 422, '"name"'),
    ("POST", "/authors", {"json": {"name": "   "}}, 422, '"name"'),
    ("POST", "/authors", {"json": {"name": 42}}, 422, '"name"'),
    ("POST", "/authors", {"json": {"name": "x" * 201}}, 422, "longer than 200"),
    ("POST", "/authors", {"json": {"name": "Ada\x00Lovelace"}}, 422, "control characters"),
    ("POST", "/authors", {"data": '{"name": "Ada\\ud800"}', "headers": {"Content-Type": "application/json"}},
     422, "invalid Unicode"),
    ("POST", "/authors", {"json": {"name": "Ada", "books": "Notes"}}, 422, '"books"'),
    ("POST", "/authors", {"json": {"name": "Ada", "books": [{"title": "t"}] * 101}}, 422, '"books"'),
    ("POST", "/authors", {"json": {"name": "Ada", "books": ["Notes"]}}, 422, "JSON object"),
    ("POST", "/authors", {"json": {"name": "Ada", "books": [{"title": "Notes", "year": "1843"}]}}, 422, '"year"'),
    ("POST", "/authors", {"json": {"name": "Ada", "books": [{"title": "Notes", "year": True}]}}, 422, '"year"'),
    ("POST", "/authors", {"json": {"name": "Ada", "books": [{"title": "Notes", "year": 10**30}]}}, 422, '"year"'),
    ("POST", "/authors", {"data": "x" * 300_000, "headers": {"Content-Type": "application/json"}}, 413, ""),
    ("PUT", "/authors", {"json": {"name": "Ada"}}, 405, ""),
    ("GET", "/authors/99999999999999999999999999", {}, 404, ""),
    ("GET", f"/authors/{MAX_ID + 1}", {}, 404, ""),
    ("GET", "/authors/0", {}, 404, ""),
    ("GET", "/authors/-1", {}, 404, ""),
    ("GET", "/authors/1e3", {}, 404, ""),
    ("GET", f"/authors/{MAX_ID}", {}, 404, "no author"),
    ("DELETE", "/books/99999999999999999999999999", {}, 404, ""),
    ("DELETE", "/authors/7", {}, 404, "no author 7"),
    ("POST", "/authors/7/books", {"json": {"title": "Notes"}}, 404, "no author 7"),
    ("GET", "/authors?limit=0", {}, 400, "limit"),
    ("GET", "/authors?limit=101", {}, 400, "limit"),
    ("GET", "/authors?limit=ten", {}, 400, "limit"),
    ("GET", "/authors?offset=99999999999999999999999", {}, 400, "offset"),
    ("GET", "/authors?offset=-1", {}, 400, "offset"),
]


@pytest.mark.parametrize(("method", "path", "options", "status", "words"), BAD_REQUESTS,
                         ids=[f"{m} {p[:40]} {s}" for m, p, _, s, _ in BAD_REQUESTS])
async def test_bad_requests_get_clear_json_errors(client, method, path, options, status, words):
    response = await client.open(path, method=method, **options)
    assert response.status_code == status
    body = await response.get_json()
    assert set(body) == {"error"} and words in body["error"]


# --- apps/database.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:///instance/app.sqlite", "sqlite+aiosqlite:///instance/app.sqlite"),
    ("sqlite+aiosqlite://", "sqlite+aiosqlite://"),
    ("postgresql://ada:s%40cret@db.example/shop", "postgresql+asyncpg://ada:s%40cret@db.example/shop"),
    ("postgres://ada@db.example/shop", "postgresql+asyncpg://ada@db.example/shop"),
    ("postgresql+asyncpg://ada@db.example/shop", "postgresql+asyncpg://ada@db.example/shop"),
])
def test_database_urls_get_their_async_driver(url, expected):
    assert async_url(url) == expected


def test_the_default_database_is_a_sqlite_file_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["DATABASE_URL"] == f"sqlite:///{Path(app.instance_path) / 'bookshelf.sqlite'}"


def test_init_db_creates_the_tables_and_stamps_the_newest_migration(database_url):
    result = _run("quart", "--app", "apps.bookshelf", "init-db", url=database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Initialised the database" in result.stdout
    assert {"authors", "books", "alembic_version"} <= _tables(database_url)
    current = _run("alembic", "-c", str(ALEMBIC_INI), "current", url=database_url)
    assert "0001 (head)" in current.stdout, current.stdout + current.stderr


def test_migrations_upgrade_and_downgrade_and_match_the_models(database_url, tmp_path):
    upgrade = _run("alembic", "-c", str(ALEMBIC_INI), "upgrade", "head", url=database_url, cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert {"authors", "books"} <= _tables(database_url)
    # `alembic check` compares the models with the migrated database: no difference allowed.
    check = _run("alembic", "-c", str(ALEMBIC_INI), "check", url=database_url, cwd=tmp_path)
    assert check.returncode == 0 and "No new upgrade operations detected" in check.stdout, check.stdout + check.stderr
    downgrade = _run("alembic", "-c", str(ALEMBIC_INI), "downgrade", "base", url=database_url, cwd=tmp_path)
    assert downgrade.returncode == 0, downgrade.stderr
    assert _tables(database_url) <= {"alembic_version"}


@pytest.mark.slow
def test_runs_under_real_servers(run_app, database_url):
    assert _run("quart", "--app", "apps.bookshelf", "init-db", url=database_url).returncode == 0
    server = run_app("apps.bookshelf:app", env={"DATABASE_URL": database_url})
    added = httpx.post(server.url + "/authors", json={"name": "Ada", "books": [{"title": "Notes"}]}, trust_env=False)
    assert added.status_code == 201
    author = httpx.get(server.url + f"/authors/{added.json()['id']}", trust_env=False).json()
    assert [b["title"] for b in author["books"]] == ["Notes"]
    bad = httpx.post(server.url + "/authors", content=b"{", headers={"Content-Type": "application/json"},
                     trust_env=False)
    assert bad.status_code == 400 and json.loads(bad.text)["error"]


def test_sqlite_enforces_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'fk.sqlite'}"
    assert _run("quart", "--app", "apps.bookshelf", "init-db", url=url).returncode == 0
    with sqlite3.connect(tmp_path / "fk.sqlite") as plain:  # a plain connection: no pragma
        plain.execute("INSERT INTO books (title, author_id) VALUES ('orphan', 99)")  # accepted!

    async def insert_orphan():
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO books (title, author_id) VALUES ('orphan 2', 99)"))
        finally:
            await engine.dispose()

    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        asyncio.run(insert_orphan())


def test_without_postgresql_the_tests_skip_except_in_ci(monkeypatch):
    monkeypatch.setattr(postgres_helper, "find_bin", lambda: None)
    assert postgres_helper.unavailable() == postgres_helper.INSTALL_HINT
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        postgres_helper.skip_or_fail(postgres_helper.unavailable())
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install postgresql"):
        postgres_helper.skip_or_fail(postgres_helper.unavailable())
