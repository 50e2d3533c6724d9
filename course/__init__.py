"""The course kit: serve an app from a notebook, show its pages, run real server commands.

Cheat sheet::

    from course import serve, serve_command, show, link, stop_all, tls_context

    server = serve(app)                 # Hypercorn in a background thread, ready when it returns
    httpx.get(server.url + "/")         # works from sync cells and ``await`` cells alike
    show(server, "static/chat.html")    # the page inside the notebook, wherever the browser is
    link(server, "static/chat.html")    # just a link to it
    server.call(coroutine)              # run something on the server's own event loop
    server.stop()                       # or: with serve(app) as server: ...
    serve(app, tls=True)                # HTTPS and HTTP/2 with the course's local CA
    tls_context()                       # the ssl.SSLContext clients use to trust it

    proc = serve_command(["hypercorn", "--bind", "fd://{fd}", "apps.hello:app"])
    proc.url, proc.output, proc.stop()  # a real server process, always stopped
    stop_all()                          # every server and process this kernel started

    from course.services import redis_server, nginx   # Redis and nginx beside your app (the capstone)

Servers keep running between cells, so the pages you look at stay alive; they stop
when you stop them, restart the kernel, or shut it down.
"""

from ._base import BaseServer, ServerError, stop_all
from ._display import link, public_url, show
from ._exercise import ____
from ._process import ServerProcess, serve_command
from ._server import Server, serve
from ._setup import client_context as tls_context

__all__ = [
    "BaseServer",
    "Server",
    "ServerError",
    "ServerProcess",
    "____",
    "link",
    "public_url",
    "serve",
    "serve_command",
    "show",
    "stop_all",
    "tls_context",
]
