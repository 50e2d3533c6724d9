"""``serve(app)``: run an app in a background thread of the notebook's kernel.

Why a thread? The kernel already runs an event loop, so ``app.run()`` fails in a cell, and a
server on the kernel's own loop freezes whenever a cell blocks (a plain ``httpx.get``).
A daemon thread with its own loop keeps serving whatever the cells do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config, Sockets
from quart.signals import got_serving_exception

from ._base import BaseServer, ServerError, bind, replace
from ._gate import Gate
from ._setup import server_files
from ._websockets import harden_websockets
from ._wsgi import serve_wsgi


class Server(BaseServer):
    """An ASGI app served by Hypercorn in a background thread; made by ``serve()``."""

    def __init__(self, app: Any, name: str, config: Config, sock) -> None:
        self.app, self.name, self._config, self._sock = app, name, config, sock
        self._set_address(sock, config.ssl_enabled)
        config.create_sockets = lambda: Sockets([sock] if config.ssl_enabled else [],
                                                [] if config.ssl_enabled else [sock], [])
        self._loop, self._ready, self._error = None, threading.Event(), None
        self._gate = Gate(app, on_ready=self._ready.set, on_failure=self._failed)
        self._thread = threading.Thread(target=self._run, name=f"serve:{name}:{self.port}", daemon=True)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: end open streams and websockets, run ``after_serving``, free the port."""
        self._unregister()
        if self._loop is not None and self.running:
            with contextlib.suppress(RuntimeError):  # the loop may close meanwhile
                self._loop.call_soon_threadsafe(self._begin_stop)
        if self.running and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._sock.close()

    def call(self, coro: Any, timeout: float | None = 30) -> Any:
        """Run a coroutine on the server's loop (objects bound to a loop must be used from it)."""
        if self._loop is None or not self.running:
            coro.close()
            raise ServerError(f"{self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _start(self, timeout: float) -> None:
        # Quart reports the real exception of a failed before_serving through a signal;
        # the ASGI message the gate sees only carries its text.
        got_serving_exception.connect(self._on_serving_exception, sender=self.app, weak=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise ServerError(f"{self.name} did not finish starting within {timeout} s")
        if self._error is not None:
            self._thread.join(5)
            raise self._error  # the app's own exception, with its own traceback
        self._register()

    async def _on_serving_exception(self, sender: Any, exception: BaseException) -> None:
        self._failed(exception)

    def _failed(self, error: BaseException) -> None:
        if not self._ready.is_set():
            self._error = error
        self._ready.set()

    def _run(self) -> None:
        async def main() -> None:
            self._main, self._stopping = asyncio.current_task(), asyncio.Event()
            # Always a shutdown trigger: without one Hypercorn installs signal handlers,
            # which only the main thread may do.
            await hypercorn_serve(self._gate, self._config, shutdown_trigger=self._stopping.wait)

        try:  # the runner cancels what is left, closes async generators and the loop
            with asyncio.Runner(loop_factory=lambda: _Loop(self._config.graceful_timeout)) as runner:
                self._loop = runner.get_loop()
                runner.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as error:  # noqa: BLE001 - a start-up failure is raised in the caller
            if self._ready.is_set() and self._error is None:
                logging.getLogger("course").error("%s stopped with an error: %r", self.name, error)
            self._failed(error)
        finally:
            self._ready.set()
            self._sock.close()
            got_serving_exception.disconnect(self._on_serving_exception, sender=self.app)

    def _begin_stop(self) -> None:  # on the server's loop: end open connections, then Hypercorn
        self._gate.close_all()
        self._stopping.set()  # and, in case the app ignores disconnects, a backstop:
        self._loop.call_later(self._config.graceful_timeout + 1, self._main.cancel)


class _Loop(asyncio.SelectorEventLoop):
    """A loop whose TLS connections wait at most ``grace`` seconds for the client's goodbye when
    they close (asyncio's default is 30 s): an idle browser tab must not hold up ``stop()``."""

    def __init__(self, grace: float) -> None:
        super().__init__()
        self.grace = grace

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl"):
            kwargs.setdefault("ssl_shutdown_timeout", self.grace)
        return await super().create_server(*args, **kwargs)

    def call_exception_handler(self, context: dict) -> None:
        if str(context.get("exception")) != "SSL shutdown timed out":  # that client never said goodbye
            super().call_exception_handler(context)


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str | None = None,
          tls: bool = False, certfile: str | None = None, keyfile: str | None = None,
          access_log: bool = False, startup_timeout: float = 30, **options: Any) -> BaseServer:
    """Serve ``app`` (Quart or any ASGI app; Flask runs on werkzeug) in a thread; return once ready.

    Re-running the cell replaces the server of the same name, so nothing leaks; give two
    apps different names to run them side by side (``Quart("shop")``, ``name="shop"``).
    ``port=0`` picks a free port; ``tls=True`` serves HTTPS and HTTP/2 with ``certs/`` (or
    your ``certfile``/``keyfile``); ``access_log=True`` prints a line per request; other
    keywords are Hypercorn ``Config`` fields (``websocket_max_message_size=2**20``).
    """
    if tls and not certfile:
        certfile, keyfile = server_files()
    if hasattr(app, "wsgi_app") and not hasattr(app, "asgi_app"):  # Flask: werkzeug, like `flask run`
        return serve_wsgi(app, host=host, port=port, name=name, certfile=certfile, keyfile=keyfile,
                          access_log=access_log, options=options)
    config = Config()
    config.graceful_timeout = 1.0
    config.accesslog = "-" if access_log else None  # "-": standard output, the cell's output
    config.errorlog = logging.getLogger("course.error")
    config.certfile, config.keyfile = certfile, keyfile
    # Hypercorn holds a message whole before the app sees it: 64 KiB, uncompressed (_websockets.py).
    config.websocket_max_message_size = 64 * 1024 if harden_websockets() else 1024 * 1024
    for key, value in options.items():
        if not hasattr(Config, key):
            raise ServerError(f"serve() got an unknown option {key}= (not a Hypercorn Config field)")
        setattr(config, key, value)
    name = name or getattr(app, "name", None) or type(app).__name__
    replace(name, port)
    server = Server(app, name, config, bind(host, port))
    server._start(startup_timeout)
    return server
