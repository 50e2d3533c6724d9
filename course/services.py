"""Redis and nginx beside your app: real servers as subprocesses, on free ports, in temporary folders.

Cheat sheet::

    from course.services import nginx, redis_server, require

    require("redis-server", "nginx")      # missing? a test skips (fails in CI), a notebook says what to install
    redis = redis_server()                # redis-server on 127.0.0.1, nothing saved to disk
    redis.url                             # "redis://127.0.0.1:PORT/0"
    redis.kill(); redis.start()           # a crash (SIGKILL) mid-chat, then Redis back on the same port
    proxy = nginx([a.url, b.url])         # nginx in front of two app servers (round robin)
    proxy.url, proxy.ws_url               # where browsers and clients go
    print(proxy.config)                   # the nginx.conf it wrote: read it, it is commented
    proxy.log("error"), proxy.log("access")
    proxy.stop(); redis.stop()            # or with-blocks; stop_all() and the kernel's exit stop them too

Each runs like ``serve_command()``'s processes: in a process group of its own, stopped with
SIGTERM then SIGKILL, tied to the kernel's life, listed by ``stop_all()``. Its folder (config,
logs, pid file, nginx's temporary files) is deleted when it stops. Run as root (a container),
they run as the ``nobody`` user: neither needs any privilege for a port above 1024.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from ._base import BaseServer, ServerError
from ._process import ServerProcess, _free_port
from ._setup import server_files

__all__ = ["Service", "missing", "nginx", "redis_server", "require"]

# Become another user, then exec the program. (runuser would do, but it waits 2 s before it
# passes on a SIGTERM.) Changing user clears the "SIGTERM me when my parent dies" flag: set it again.
_AS_USER = ("import ctypes, os, sys\n"
            "os.setgroups([]); os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[1]))\n"
            "try: ctypes.CDLL(None).prctl(1, 15)\n"
            "except (OSError, AttributeError): pass\n"
            "os.execvp(sys.argv[3], sys.argv[3:])")
PACKAGES = {"redis-server": "redis-server", "nginx": "nginx"}  # program -> Debian package
# Debian puts nginx in /usr/sbin, which an ordinary user's PATH often lacks.
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def missing(*programs: str) -> str | None:
    """None if every program is installed, else a sentence saying what to install."""
    absent = [name for name in programs if shutil.which(name, path=SEARCH) is None]
    if not absent:
        return None
    return f"{', '.join(absent)} not found: apt-get install {' '.join(PACKAGES.get(n, n) for n in absent)}"


def require(*programs: str) -> None:
    """Make sure the programs exist. In a test: skip without them, but fail in CI (``CI=true``),
    where they are installed on purpose. Anywhere else: a one-line ``ServerError``."""
    problem = missing(*programs)
    if problem is None:
        return
    if "PYTEST_CURRENT_TEST" in os.environ:
        import pytest

        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(problem)
        pytest.skip(problem)
    raise ServerError(problem)


class Service(BaseServer):
    """A program started by this module: ``url``, ``port``, ``folder``, ``start()``, ``kill()``, ``stop()``."""

    def __init__(self, name: str, scheme: str) -> None:
        self.name, self.port = name, _free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.ws_url = self.url.replace("http", "ws", 1)
        self.folder = Path(tempfile.mkdtemp(prefix=f"course-{name}-"))
        self.argv: list[str] = []  # the command, set by redis_server() or nginx()
        self.files: dict[str, str] = {}  # files written into the folder before each start
        self.check = None  # check(sock) -> True once it answers; None: listening is enough
        self.process: ServerProcess | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    @property
    def output(self) -> str:
        """What the program printed (Redis logs here; nginx logs to files: ``log()``)."""
        return self.process.output if self.process else ""

    def start(self, timeout: float = 30) -> Service:
        """Start it, or start it again after ``kill()`` or ``stop()``: same port, same URL."""
        if self.running:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.files.items():
            (self.folder / name).write_text(text)
        argv = [shutil.which(self.argv[0], path=SEARCH) or self.argv[0], *self.argv[1:]]
        if os.geteuid() == 0:  # root: run as nobody, in a folder nobody owns
            user = pwd.getpwnam("nobody")
            for path in [self.folder, *self.folder.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
            argv = [sys.executable, "-c", _AS_USER, str(user.pw_uid), str(user.pw_gid), *argv]
        self.process = ServerProcess(argv, self.name, None, self.port, False, None, self.folder)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if not self.process.running or time.monotonic() > deadline:
                output = self.process.output + self.log("error")
                self.process.stop(grace=1)
                raise ServerError(f"{self.name} did not start on port {self.port}:\n{output[-3000:]}")
            time.sleep(0.02)
        self._register()  # stop_all() and the kernel's exit stop it from now on
        return self

    def kill(self) -> None:
        """SIGKILL, as when its machine dies: no goodbye to any client. ``start()`` brings it back."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.stop(grace=0)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (SIGKILL after ``grace`` seconds), then delete its folder."""
        self._unregister()
        if self.process is not None:
            self.process.stop(grace)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self, kind: str = "error") -> str:
        """The text of ``<kind>.log`` in its folder ("" if there is none)."""
        path = self.folder / f"{kind}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def config(self) -> str:
        """The configuration file it was started with (nginx.conf), or ""."""
        return next(iter(self.files.values()), "")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return self.check is None or self.check(sock)
        except OSError:
            return False


def redis_server(name: str = "redis") -> Service:
    """A started ``redis-server`` for pub/sub and counters: no persistence, loopback only."""
    require("redis-server")
    service = Service(name, "redis")
    service.url, service.check = f"redis://127.0.0.1:{service.port}/0", _pong
    service.argv = ["redis-server", "--port", str(service.port), "--bind", "127.0.0.1",
                    "--dir", str(service.folder), "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--protected-mode", "yes"]
    return service.start()


def _pong(sock: socket.socket) -> bool:
    sock.sendall(b"PING\r\n")
    return sock.recv(64).startswith(b"+PONG")  # loaded and answering, not just listening


NGINX_CONF = """\
# Written by course.services.nginx(); every file it uses is in {folder}.
daemon off;                      # stay in the foreground: the kit stops it
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
worker_processes 1;
events {{ worker_connections 1024; }}

http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;

    # A websocket handshake asks to upgrade the connection; any other request leaves the
    # connection to the app open for the next one (keepalive below).
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}

    upstream app {{
{servers}
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{port}{ssl};
{certificates}        client_max_body_size {max_body};     # the app counts its own limit as bytes arrive
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;                   # keepalive, chunked bodies, websockets
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Upgrade $http_upgrade;
            # Hypercorn inflates a whole compressed websocket frame before it checks its
            # size: never let a client negotiate compression with it.
            proxy_set_header Sec-WebSocket-Extensions "";
            proxy_set_header Host $http_host;         # the address the browser used (Origin checks)
            # Replace whatever the client claimed: the app believes these from nginx only.
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_request_buffering off;    # uploads reach the app as they arrive, not once complete
            proxy_buffering off;            # event streams and video reach the client at once
            proxy_read_timeout {timeout}s;  # how long a quiet websocket or stream may stay open
            proxy_send_timeout {timeout}s;
{bind}        }}
    }}
}}
"""


def nginx(upstreams: list[str], *, name: str = "nginx", tls: bool = False, max_body: str = "1g",
          timeout: int = 3600, source_address: str | None = None) -> Service:
    """A started nginx in front of ``upstreams`` (``["http://127.0.0.1:8001", ...]``), round robin.

    Websockets are upgraded (compression refused), event streams and video are not buffered,
    Range headers pass through, request bodies stream. ``tls=True`` serves HTTPS with the
    course certificate. ``source_address="127.0.0.2"`` makes nginx connect to the apps from
    that address (Linux: all of 127.0.0.0/8 is loopback), so an app can believe
    ``X-Forwarded-*`` from nginx and from nobody else.
    """
    require("nginx")
    if not upstreams:
        raise ServerError("nginx needs at least one upstream server")
    service = Service(name, "https" if tls else "http")
    servers = "\n".join(f"        server {url.split('://', 1)[-1].rstrip('/')};" for url in upstreams)
    certificates = ""
    if tls:  # copies in its own folder: the nobody user may not read the course's key
        for source, target in zip(server_files(), ("cert.pem", "key.pem")):
            service.files[target] = Path(source).read_text()
        certificates = (f"        ssl_certificate {service.folder}/cert.pem;\n"
                        f"        ssl_certificate_key {service.folder}/key.pem;\n")
    bind = f"            proxy_bind {source_address};\n" if source_address else ""
    service.files = {"nginx.conf": NGINX_CONF.format(
        folder=service.folder, servers=servers, port=service.port, ssl=" ssl" if tls else "",
        certificates=certificates, max_body=max_body, timeout=timeout, bind=bind), **service.files}
    service.argv = ["nginx", "-p", str(service.folder), "-c", str(service.folder / "nginx.conf"),
                    "-e", str(service.folder / "error.log")]
    return service.start()
