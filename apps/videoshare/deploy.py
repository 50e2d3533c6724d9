"""The video site deployed on this machine: Redis, machines of Hypercorn workers, nginx in front.

::

    from apps.videoshare.deploy import deploy

    with deploy(machines=2, workers=2) as site:     # ~3 s: Redis, 2 x `hypercorn --workers 2`, nginx
        site.url                                    # nginx: what browsers and clients use
        site.machines[0].url                        # one "machine" directly (nginx's upstream)
        site.redis.kill(); site.redis.start()       # Redis dies, and comes back
        site.machines[1].stop()                     # SIGTERM: that machine drains, nginx uses the other
    python -m apps.videoshare.deploy [machines] [workers]   # the same, until Ctrl-C

A "machine" is one ``hypercorn --workers N`` process group on a port of its own; on real
machines each would have its own disk, so they share what real ones share over the network:
the database (a SQLite file here, PostgreSQL with ``DATABASE_URL``), the video folder (a
network file system or object storage), and Redis. nginx connects to them from 127.0.0.2, the
only address whose ``X-Forwarded-*`` headers the app believes (``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from course import ServerError, serve_command
from course.services import Service, nginx, redis_server, require

__all__ = ["Site", "deploy", "migrate"]

HERE = Path(__file__).resolve().parent
PROXY_ADDRESS = "127.0.0.2" if sys.platform == "linux" else "127.0.0.1"  # all of 127/8 is loopback on Linux
# Alembic keeps the migration being run in module globals (``alembic.context``, ``op``): two
# migrations at once in one process mix up their databases. One at a time, then.
_MIGRATING = threading.Lock()


@dataclass
class Site:
    """A running deployment; ``stop()`` (or the with-block) stops all of it."""

    url: str
    ws_url: str
    folder: Path
    env: dict
    machines: list = field(default_factory=list)  # course.ServerProcess, one per machine
    redis: Service | None = None
    nginx: Service | None = None
    workers: int = 1
    name: str = "videoshare"  # its processes are "<name>-1", "<name>-redis", ...: a new deploy of a name replaces the old

    def _start_machines(self, count: int, timeout: float = 60) -> None:
        """``count`` machines, each ``hypercorn --workers N`` on a port of its own; back when all listen."""
        command = ["hypercorn", "--config", str(HERE / "hypercorn.toml"), "--workers", str(self.workers),
                   "--bind", "fd://{fd}", "apps.videoshare.worker:app"]
        # serve_command() hands each its listening socket, so with ready=None it returns at once
        # (from this thread: a server started from a thread that ends is told to stop), and the
        # machines start side by side.
        for number in range(1, count + 1):
            # stop() sends SIGTERM to every process of a machine, as systemd's default
            # KillMode=control-group and compose.yaml's TINI_KILL_PROCESS_GROUP do: each worker drains.
            self.machines.append(serve_command(command, name=f"{self.name}-{number}", env=self.env, ready=None))
        # The socket accepts as soon as one worker listens: wait for every worker of every
        # machine, or the first clients would all land on the first worker to start.
        deadline = time.monotonic() + timeout
        for machine in self.machines:
            while len(re.findall(r"Running on http", machine.output)) < self.workers:
                if not machine.running or time.monotonic() > deadline:
                    why = f"exited with code {machine.process.poll()}" if not machine.running else f"not within {timeout} s"
                    raise ServerError(f"{machine.name}: its workers did not start ({why}):\n{machine.output[-3000:]}")
                time.sleep(0.05)

    @property
    def tracebacks(self) -> list[str]:
        """Every traceback any machine printed (there should be none)."""
        return [trace for machine in self.machines for trace in machine.tracebacks]

    def stop(self, grace: float = 15) -> None:
        """SIGTERM every machine (they drain: see shutdown.py), then nginx and Redis; delete the folder."""
        with ThreadPoolExecutor() as pool:  # all machines at once: each may take its grace
            list(pool.map(lambda machine: machine.stop(grace), self.machines))
        for service in (self.nginx, self.redis):
            if service is not None:
                service.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def deploy(machines: int = 2, workers: int = 2, *, redis: bool = True, proxy: bool = True,
           tls: bool = False, config: dict | None = None, name: str = "videoshare") -> Site:
    """Start the site: Redis, ``machines`` x ``workers`` Hypercorn workers, nginx; return a ``Site``.

    ``config`` adds settings (``{"CHAT_RATE": 50}``), passed as ``QUART_*`` variables.
    ``redis=False`` shows what breaks without it; ``proxy=False`` leaves nginx out. Running
    it again (a re-run cell) replaces the deployment of the same ``name``.
    """
    require("redis-server", "nginx")
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-site-"))
    settings = {"SECRET_KEY": secrets.token_hex(32), "VIDEO_DIR": str(folder / "videos"),
                "TRUSTED_PROXIES": [PROXY_ADDRESS], **(config or {})}
    env = {f"QUART_{key}": value if isinstance(value, str) else json.dumps(value) for key, value in settings.items()}
    env["DATABASE_URL"] = os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'videoshare.sqlite'}"
    if not tls:  # plain HTTP: cookies must not be Secure-only, or clients other than browsers drop them
        env.update(QUART_SESSION_COOKIE_SECURE="false", QUART_QUART_AUTH_COOKIE_SECURE="false")
    site = Site(url="", ws_url="", folder=folder, env=env, workers=workers, name=name)
    try:
        migrate(env["DATABASE_URL"])
        if redis:
            site.redis = redis_server(name=f"{name}-redis")
            env["QUART_REDIS_URL"] = site.redis.url
        site._start_machines(machines)
        if proxy:
            site.nginx = nginx([m.url for m in site.machines], name=f"{name}-nginx", tls=tls,
                               source_address=PROXY_ADDRESS, max_body="250m")
            site.url, site.ws_url = site.nginx.url, site.nginx.ws_url
        else:
            site.url, site.ws_url = site.machines[0].url, site.machines[0].ws_url
    except BaseException:
        site.stop(grace=2)
        raise
    return site


def migrate(database_url: str) -> None:
    """``alembic upgrade head`` on ``database_url``, in a thread: Alembic runs its own event loop,
    which cannot start in a thread that has one running (a notebook's kernel)."""
    from alembic import command
    from alembic.config import Config

    settings = Config(str(HERE / "alembic.ini"))
    settings.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    settings.attributes["configure_logger"] = False
    with _MIGRATING, ThreadPoolExecutor(1) as pool:
        pool.submit(command.upgrade, settings, "head").result()


def main(argv: list[str]) -> int:
    machines, workers = (int(argv[0]) if argv else 2), (int(argv[1]) if len(argv) > 1 else 2)
    with deploy(machines, workers) as site:
        print(f"{machines} machine(s) x {workers} worker(s) behind nginx at {site.url}/  (Ctrl-C stops it)")
        try:
            while all(machine.running for machine in site.machines):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
