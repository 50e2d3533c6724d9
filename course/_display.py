"""Show a running app's pages in the notebook: ``show(server, "static/chat.html")``.

The browser talks to the Jupyter server, which may be on another machine (Binder, a
JupyterHub, a lab server, an SSH tunnel): there ``http://127.0.0.1:PORT`` is the
*browser's* machine. jupyter-server-proxy forwards ``<base_url>proxy/PORT/...`` to the
kernel's port, so that root-relative URL works wherever the browser is. The kernel finds
its Jupyter server among its ancestor processes, in the files Jupyter writes at start.
Pages must therefore use URLs relative to themselves (``fetch("../events")``).
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
import os
from pathlib import Path

from ._base import BaseServer, ServerError


def page_route() -> tuple[str | None, str]:
    """``(base_url, why)``: pages go through ``<base_url>proxy/PORT/``, or directly when it is None."""
    override = os.environ.get("COURSE_PROXY_PREFIX")
    if override is not None:  # set it to "" to force direct URLs, or to "/" for a local proxy
        return (override or None), f"COURSE_PROXY_PREFIX is {override!r}"
    if importlib.util.find_spec("jupyter_server_proxy") is None:
        return None, "jupyter-server-proxy is not installed"
    server = _jupyter_server()
    if server is not None:
        return server["base_url"], f"this kernel runs under the Jupyter server at {server['url']}"
    hub = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if hub:
        return hub, f"JUPYTERHUB_SERVICE_PREFIX is {hub}"
    return None, "no Jupyter server runs this kernel (a plain Python, a test, or another front end)"


@functools.cache  # a kernel never moves to another server
def _jupyter_server() -> dict | None:
    """The running Jupyter server that started this process, if any."""
    try:
        import psutil
        from jupyter_core.paths import jupyter_runtime_dir

        ancestors = {process.pid for process in psutil.Process().parents()}
        # The files jupyter_server's list_running_servers() reads (importing it costs ~1.8 s).
        found = (json.loads(p.read_text()) for p in Path(jupyter_runtime_dir()).glob("jpserver-*.json"))
        return next((info for info in found if info.get("pid") in ancestors), None)
    except Exception:  # noqa: BLE001 - no Jupyter here, or an unreadable runtime folder
        return None


def public_url(server: BaseServer, path: str = "/") -> str:
    """The URL a learner's browser can open for ``path`` on ``server``."""
    path, base = "/" + path.lstrip("/"), page_route()[0]
    if base is None:
        return server.url + path
    if server.url.startswith("https"):
        raise ServerError("the Jupyter proxy speaks plain HTTP to the kernel's ports: serve the app "
                          "without tls=True to open it in the browser, and call it with httpx")
    return f"{base.rstrip('/')}/proxy/{server.port}{path}"


class Page:
    """A page of a running app: a frame plus a link in JupyterLab, the URL as text elsewhere."""

    def __init__(self, url: str, height: int | None) -> None:
        self.url, self.height = url, height

    def _repr_html_(self) -> str:
        url = html.escape(self.url, quote=True)
        frame = (f'<iframe src="{url}" width="100%" height="{self.height}" style="border:1px solid '
                 f'#8888; border-radius:4px"></iframe>') if self.height else ""
        return f'{frame}<p><a href="{url}" target="_blank" rel="noopener">Open {url} in a new tab</a></p>'

    def __repr__(self) -> str:
        return self.url


def show(server: BaseServer, path: str = "/", height: int = 420) -> Page:
    """Embed a page of a running app in the notebook, with a link to open it in a tab."""
    return Page(public_url(server, path), height)


def link(server: BaseServer, path: str = "/") -> Page:
    """A clickable link to a page of a running app."""
    return Page(public_url(server, path), None)
