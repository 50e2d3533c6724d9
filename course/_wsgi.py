"""Serve a Flask (WSGI) app the way Flask's own dev server does: werkzeug, one thread per request.

Only there so the Flask-to-Quart chapters can run both frameworks side by side
with the same one-line ``serve(app)``.
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from . import _server


class _QuietHandler(WSGIRequestHandler):
    """Like Hypercorn in the kit: no line per request unless ``access_log=True``."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class WSGIServer(_server.Server):
    """Same interface as ``Server`` (url, port, stop, with-block), werkzeug underneath."""

    def __init__(self, app: Any, name: str, host: str, port: int, access_log: bool) -> None:
        sock = _server._bind(host, port)
        sock.setblocking(True)
        with sock:  # werkzeug duplicates the listening socket; ours is closed after
            self._werkzeug = make_server(host, sock.getsockname()[1], app, threaded=True, fd=sock.fileno(),
                                         request_handler=None if access_log else _QuietHandler)
        self._werkzeug.daemon_threads = True
        self.app, self.name, self._sock = app, name, self._werkzeug.socket
        self.port = self._werkzeug.port
        self.url = f"http://{host}:{self.port}"
        self.ws_url = f"ws://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._werkzeug.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"serve:{name}:{self.port}", daemon=True)

    def stop(self, timeout: float = 5.0) -> None:
        with _server._lock:
            if _server._servers.get(self.name) is self:
                del _server._servers[self.name]
        if self._thread.is_alive():
            self._werkzeug.shutdown()
            self._thread.join(timeout)
        self._werkzeug.server_close()

    def call(self, coro: Any, timeout: float | None = 30) -> Any:
        coro.close()
        raise _server.ServerError("a Flask server has no event loop to run coroutines on")


def serve_wsgi(app: Any, *, host: str, port: int, name: str | None, access_log: bool) -> WSGIServer:
    name = name or f"flask:{app.name}"
    _server._replace(name, host, port)
    server = WSGIServer(app, name, host, port, access_log)
    with _server._lock:
        _server._servers[name] = server
    server._thread.start()  # werkzeug already listens: no readiness to wait for
    return server
