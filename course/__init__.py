"""The course kit: serve an app from a notebook, show its pages, check exercises.

Cheat sheet::

    from course import serve, show, stop_all

    server = serve(app)                 # Hypercorn in a background thread, ready when it returns
    httpx.get(server.url + "/")         # works from sync cells and ``await`` cells alike
    show(server, "/static/chat.html")   # the page inside the notebook, also behind Binder's proxy
    server.call(coroutine)              # run something on the server's own event loop
    server.stop()                       # or: with serve(app) as server: ...
    stop_all()                          # every server this kernel started

    serve(app, tls=True)                # HTTPS and HTTP/2 with the course's local CA
    tls_context()                       # the ssl.SSLContext clients use to trust it
"""

from ._certs import client_context as tls_context
from ._display import link, public_url, show
from ._exercise import Exercise, ____
from ._server import Server, ServerError, serve, stop_all

__all__ = [
    "Exercise",
    "Server",
    "ServerError",
    "____",
    "link",
    "public_url",
    "serve",
    "show",
    "stop_all",
    "tls_context",
]
