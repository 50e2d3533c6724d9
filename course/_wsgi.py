"""Serve a Flask (WSGI) app the way ``flask run`` does: werkzeug, one thread per request.

Only there so the Flask-to-Quart chapters can run both frameworks side by side with
the same one-line ``serve(app)``: same URLs, same replacement rules, HTTPS too.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from ._base import BaseServer, ServerError, bind, replace


class _QuietHandler(WSGIRequestHandler):
    """Like Hypercorn in the kit: no line per request unless ``access_log=True``."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class WSGIServer(BaseServer):
    """Same interface as ``Server`` (url, port, stop, with-block); werkzeug underneath."""

    def __init__(self, app: Any, name: str, host: str, port: int, context: ssl.SSLContext | None,
                 access_log: bool) -> None:
        self.app, self.name = app, name
        with bind(host, port) as sock:  # werkzeug takes a duplicate of the listening socket
            sock.setblocking(True)
            self._werkzeug = make_server(host, sock.getsockname()[1], app, threaded=True, fd=sock.fileno(),
                                         ssl_context=context,
                                         request_handler=None if access_log else _QuietHandler)
        self._werkzeug.daemon_threads = True
        self._set_address(self._werkzeug.socket, context is not None)
        self._thread = threading.Thread(target=self._werkzeug.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"serve:{name}:{self.port}", daemon=True)

    def stop(self, timeout: float = 5.0) -> None:
        self._unregister()
        if self.running:
            self._werkzeug.shutdown()
            self._thread.join(timeout)
        self._werkzeug.server_close()

    def call(self, coro: Any, timeout: float | None = 30) -> Any:
        coro.close()
        raise ServerError("a Flask server has no event loop to run coroutines on")


def serve_wsgi(app: Any, *, host: str, port: int, name: str | None, certfile: str | None,
               keyfile: str | None, access_log: bool, options: dict) -> WSGIServer:
    if options:
        raise ServerError(f"serve() options are Hypercorn settings; a Flask app runs on werkzeug, "
                          f"which takes none of them: {', '.join(options)}")
    context = None
    if certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)  # werkzeug speaks HTTP/1.1 only, over TLS too
    name = name or f"flask:{app.name}"
    replace(name, port)
    server = WSGIServer(app, name, host, port, context, access_log)
    server._thread.start()  # werkzeug already listens: no readiness to wait for
    server._register()
    return server
