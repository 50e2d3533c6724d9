"""What every server the kit starts shares: an address, a name, a way to stop it, one registry.

The registry (apps in a thread, server commands in a process) lets a re-run cell replace
the old server, ``stop_all()`` stop everything, and the kernel's exit do the same.
"""

from __future__ import annotations

import atexit
import errno
import socket
import threading
from typing import Any

_running: dict[str, Any] = {}  # name -> Server or ServerProcess
_lock = threading.Lock()


class ServerError(RuntimeError):
    """A problem the learner can fix, shown in one line instead of a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython calls this instead of printing the stack
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class BaseServer:
    """``name``, ``url``, ``ws_url``, ``port``, ``running``, ``stop()`` and a with-block, for
    ``Server`` (an ASGI app in a thread), ``WSGIServer`` (Flask) and ``ServerProcess``."""

    def _set_address(self, sock: socket.socket, tls: bool) -> None:
        host, self.port = sock.getsockname()[:2]
        # A server listening on every address is reached on loopback; IPv6 goes in brackets.
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        host = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self.ws_url = f"{'wss' if tls else 'ws'}://{host}:{self.port}"

    @property
    def running(self) -> bool:  # a server in a thread; a process says otherwise
        return self._thread.is_alive()

    def _register(self) -> None:
        with _lock:
            _running[self.name] = self

    def _unregister(self) -> None:
        with _lock:
            if _running.get(self.name) is self:
                del _running[self.name]

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:  # ``with serve(app) as server:`` stops it at the end
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {'serving' if self.running else 'stopped'} at {self.url}>"

    def _repr_markdown_(self) -> str:
        if not self.running:
            return f"`{self.name}` is stopped: run its cell again to restart it."
        return f"Serving `{self.name}` at `{self.url}` (`show(server)` opens its pages here, `.stop()` stops it)"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or a one-line ``ServerError`` (port in use, bad address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only turns on TCP_NODELAY for sockets that say they are TCP,
    # and without it every request after the first on a kept-open connection waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ServerError(f"port {port} on {host} is already in use: stop what runs there, "
                              f"or leave out port= to get a free one") from None
        raise ServerError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def replace(name: str, port: int) -> None:
    """Stop the server a new one replaces: the same name, or the fixed port it asks for."""
    with _lock:
        old = [s for s in _running.values() if s.name == name or (port and s.port == port)]
    for server in old:
        server.stop()
        # Say so: two apps both named Quart(__name__) would otherwise replace each other silently.
        print(f"(stopped the earlier server {server.name!r} at {server.url})")


def stop_all() -> None:
    """Stop every server and server process this kernel started (the kernel's exit does too)."""
    with _lock:
        servers = list(_running.values())
    for server in servers:
        server.stop()


atexit.register(stop_all)
