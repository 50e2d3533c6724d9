"""Run an app in a background thread of the notebook's kernel: ``serve(app)``.

Why a thread? The Jupyter kernel already runs an asyncio event loop, so
``app.run()`` and ``asyncio.run()`` fail in a cell, and a server scheduled on
the kernel's own loop freezes whenever a cell blocks (a plain ``httpx.get``).
A daemon thread with its own loop keeps serving whatever the cells do.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config, Sockets
from quart.signals import got_serving_exception

from ._gate import Gate

__all__ = ["Server", "ServerError", "serve", "stop_all"]

# One server per name, so that re-running a cell replaces the old server.
_servers: dict[str, Server] = {}
_lock = threading.Lock()


class ServerError(RuntimeError):
    """A problem the learner can fix, shown in one line instead of a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython calls this instead of printing the stack
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class _Config(Config):
    """Hypercorn reads its listening sockets from ``create_sockets()``: hand it ours."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def create_sockets(self) -> Sockets:
        secure, insecure = ([self._sock], []) if self.ssl_enabled else ([], [self._sock])
        return Sockets(secure_sockets=secure, insecure_sockets=insecure, quic_sockets=[])


class Server:
    """An app served by Hypercorn in a background thread; made by ``serve()``.

    ``url`` and ``ws_url`` are the addresses to call; ``stop()`` (or leaving a
    ``with serve(app) as server:`` block) shuts it down within a second, even
    with streams and websockets open.
    """

    def __init__(self, app: Any, name: str, sock: socket.socket, config: Config) -> None:
        self.app = app
        self.name = name
        self.port: int = sock.getsockname()[1]
        host = sock.getsockname()[0]
        host = "127.0.0.1" if host == "0.0.0.0" else f"[{host}]" if ":" in host else host
        scheme = "https" if config.ssl_enabled else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self.ws_url = f"{'wss' if config.ssl_enabled else 'ws'}://{host}:{self.port}"
        self._sock = sock
        self._config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._main: asyncio.Task | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._gate = Gate(app, self._on_lifespan)
        self._thread = threading.Thread(target=self._run, name=f"serve:{name}:{self.port}", daemon=True)

    # --- public -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: end open streams and websockets, run ``after_serving``, free the port."""
        with _lock:
            if _servers.get(self.name) is self:
                del _servers[self.name]
        if self._loop is not None and self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._begin_stop)
            except RuntimeError:  # the loop closed in the meantime
                pass
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._sock.close()

    def call(self, coro: Any, timeout: float | None = 30) -> Any:
        """Run a coroutine on the server's loop and return its result.

        Use it for anything that must live on the same loop as the app, for
        example ``server.call(broker.publish("hi"))``.
        """
        if self._loop is None or not self.running:
            coro.close()
            raise ServerError(f"{self.name} is not running")
        future: Future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "serving" if self.running else "stopped"
        return f"<Server {self.name!r} {state} at {self.url}>"

    def _repr_markdown_(self) -> str:
        from ._display import public_url

        if not self.running:
            return f"Server `{self.name}` is stopped."
        try:
            where = f"[{self.url}]({public_url(self)})"
        except ServerError:  # HTTPS behind Binder's proxy: no link a browser could open
            where = f"`{self.url}`"
        return f"Serving `{self.name}` at {where} (`server.stop()` to stop)"

    # --- the thread ---------------------------------------------------------------------------

    def _start(self, timeout: float) -> None:
        self._connect_startup_signal()
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise ServerError(f"{self.name} did not finish starting within {timeout} s")
        if self._startup_error is not None:
            self._thread.join(5)
            self._sock.close()
            raise self._startup_error  # the app's own exception, with its own traceback

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._main = loop.create_task(self._serve())
            loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        except BaseException as error:  # noqa: BLE001 - reported to the cell that called serve()
            if not self._ready.is_set():
                self._startup_error = self._startup_error or error
            else:
                logging.getLogger("course").error("%s stopped with an error: %r", self.name, error)
        finally:
            self._ready.set()
            try:
                _cancel_remaining(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
                self._sock.close()
                self._disconnect_startup_signal()

    async def _serve(self) -> None:
        self._stop_requested = asyncio.Event()
        await hypercorn_serve(self._gate, self._config, shutdown_trigger=self._stop_requested.wait)

    def _begin_stop(self) -> None:
        """On the server's loop: end open connections, then let Hypercorn shut down."""
        self._gate.close_all()
        if self._stop_requested is not None:
            self._stop_requested.set()
        # Backstop: an app that ignores disconnects cannot keep the thread alive.
        assert self._loop is not None
        self._loop.call_later(self._config.graceful_timeout + 1, self._cancel_main)

    def _cancel_main(self) -> None:
        if self._main is not None and not self._main.done():
            self._main.cancel()

    def _on_lifespan(self, message: dict) -> None:
        # A failed startup is reported when its exception reaches _run(), not here.
        if message["type"] in ("lifespan.startup.complete", "lifespan.unsupported"):
            self._ready.set()

    # Quart reports the real exception of a failed before_serving through a signal;
    # the ASGI message only carries its text.
    def _connect_startup_signal(self) -> None:
        got_serving_exception.connect(self._on_serving_exception, sender=self.app, weak=True)

    def _disconnect_startup_signal(self) -> None:
        got_serving_exception.disconnect(self._on_serving_exception, sender=self.app)

    async def _on_serving_exception(self, sender: Any, exception: BaseException) -> None:
        if not self._ready.is_set():
            self._startup_error = exception


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only turns on TCP_NODELAY for sockets that say they are TCP,
    # and without it every request after the first on a kept-open connection waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ServerError(
                f"port {port} on {host} is already in use: stop what runs there, "
                f"or leave out port= to get a free one"
            ) from None
        raise ServerError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    tls: bool = False,
    access_log: bool = False,
    startup_timeout: float = 30,
    **options: Any,
) -> Server:
    """Serve ``app`` in a background thread and return once it is ready.

    Example::

        server = serve(app)            # a free port on 127.0.0.1
        httpx.get(server.url + "/")    # sync cells and ``await`` cells alike
        server.stop()

    Serving an app again (re-running the cell) replaces the server that ran an
    app of the same name, so nothing leaks. To run two apps side by side, give
    them different names: ``Quart("shop")`` or ``serve(app, name="shop")``.

    Args:
        app: a Quart app or any ASGI app; a Flask (WSGI) app is served by werkzeug.
        host, port: where to listen; port 0 picks a free port (``server.port``).
        tls: serve HTTPS (and HTTP/2) with the course's certificates in ``certs/``;
            or pass your own ``certfile`` and ``keyfile``.
        access_log: log every request to the ``course.access`` logger.
        **options: any Hypercorn ``Config`` field, e.g. ``h2_max_inbound_frame_size``.
    """
    if hasattr(app, "wsgi_app") and not hasattr(app, "asgi_app"):
        from ._wsgi import serve_wsgi

        return serve_wsgi(app, host=host, port=port, name=name, access_log=access_log)

    name = name or getattr(app, "name", None) or type(app).__name__
    _replace(name, host, port)
    sock = _bind(host, port)
    try:
        config = _Config(sock)
        config.graceful_timeout = 1.0
        config.accesslog = _access_logger() if access_log else None
        config.errorlog = logging.getLogger("course.error")
        if tls and not certfile:
            from ._certs import server_files

            certfile, keyfile = server_files()
        config.certfile, config.keyfile = certfile, keyfile
        for key, value in options.items():
            if not hasattr(Config, key):
                raise ServerError(f"serve() got an unknown option {key}= (not a Hypercorn Config field)")
            setattr(config, key, value)
    except BaseException:
        sock.close()
        raise
    server = Server(app, name, sock, config)
    with _lock:
        _servers[name] = server
    try:
        server._start(startup_timeout)
    except BaseException:
        with _lock:
            if _servers.get(name) is server:
                del _servers[name]
        raise
    return server


def _access_logger() -> logging.Logger:
    """Hypercorn writes one line per request to this logger, printed in the notebook."""
    logger = logging.getLogger("course.access")
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


def _replace(name: str, host: str, port: int) -> None:
    """Stop the server this one replaces: same name, or the fixed port it asks for."""
    with _lock:
        old = [s for s in _servers.values() if s.name == name or (port and s.port == port)]
    for server in old:
        server.stop()
        # Say so: two apps both named Quart(__name__) would otherwise replace each other silently.
        print(f"(stopped the earlier server of {server.name!r} at {server.url})")


def stop_all() -> None:
    """Stop every server started with ``serve()`` in this kernel."""
    with _lock:
        servers = list(_servers.values())
    for server in servers:
        server.stop()
