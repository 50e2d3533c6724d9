"""A throwaway PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` in a temporary folder.

Usage: tests/conftest.py's session fixture ``postgres`` (and ``database_url``, which runs a
test on SQLite and on PostgreSQL)::

    def test_something(postgres):
        url = postgres.new_database()        # "postgresql://postgres@127.0.0.1:PORT/test_3"

- The server listens on 127.0.0.1 on a free port, its socket file in its own folder, with
  ``fsync`` off (a test database needs no durability), and is stopped afterwards.
- PostgreSQL refuses to run as root, so when the tests run as root every command runs as
  the unprivileged ``postgres`` user (``runuser -u postgres --``) on a folder it owns.
- Where PostgreSQL is not installed, the tests that need it are skipped with a message
  saying how to install it; in CI (env ``CI=true``) that is a failure instead.
- ``DATABASE_URL=postgresql://...`` in the environment points the tests at a server you
  run yourself: then nothing is started, and each ``new_database()`` empties its schema.
- One server serves the whole session, however many test modules ask for it.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

INSTALL_HINT = "PostgreSQL not found: apt-get install postgresql (or set PG_BIN to its bin folder)"


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: $PG_BIN, Debian's newest /usr/lib/postgresql/N/bin, or PATH."""
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    on_path = shutil.which("pg_ctl")
    candidates += [str(Path(on_path).parent)] if on_path else []
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


class Postgres:
    """A PostgreSQL server of our own; ``url`` reaches its ``postgres`` database as superuser."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="course-postgres-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._names = itertools.count(1)
        # Root may not run PostgreSQL: hand the folder to the postgres user and run as it.
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-sync")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", "30", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def new_database(self) -> str:
        """An empty database of its own for one test; its URL."""
        name = f"test_{next(self._names)}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    @property
    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [*self._as_user, str(self.bindir / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self.folder)
        if check and result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stdout}{result.stderr}{self.log}")


class External:
    """A server named by ``DATABASE_URL``: each test gets the same database, emptied first."""

    def __init__(self, url: str) -> None:
        self.url = url

    def new_database(self) -> str:
        import asyncio

        import asyncpg

        async def empty() -> None:
            connection = await asyncpg.connect(self.url)
            try:
                await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            finally:
                await connection.close()

        asyncio.run(empty())
        return self.url


_shared: dict = {"server": None, "users": 0}


@contextmanager
def postgres_or_skip() -> Iterator[Postgres | External]:
    """The session's PostgreSQL server, started on first use and stopped after its last user."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://", "postgresql+asyncpg://")):
        yield External(url.replace("postgresql+asyncpg://", "postgresql://"))
        return
    if _shared["server"] is None:
        problem = unavailable()
        if problem:
            skip_or_fail(problem)
        server = Postgres(find_bin())
        try:
            server.start()
        except BaseException:
            server.stop()
            raise
        _shared["server"] = server
    _shared["users"] += 1
    try:
        yield _shared["server"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared["server"].stop()
            _shared["server"] = None


def unavailable() -> str | None:
    """Why no PostgreSQL can be started here, or None if one can."""
    if find_bin() is None:
        return INSTALL_HINT
    if os.geteuid() == 0 and not _has_postgres_user():
        return "running as root, but there is no 'postgres' user to run PostgreSQL as (and no runuser)"
    return None


def skip_or_fail(message: str) -> None:
    """Skip the test with ``message``; in CI (``CI=true``), where PostgreSQL is required, fail it."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _has_postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return shutil.which("runuser") is not None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

