"""Show a running app's pages in the notebook, wherever the notebook runs.

On a laptop the browser reaches ``http://127.0.0.1:PORT`` directly. On Binder and
JupyterHub it cannot: the kernel runs on another machine, and the browser only
reaches the Jupyter server, which forwards ``{prefix}proxy/{PORT}/...`` to the
kernel's port through jupyter-server-proxy (``JUPYTERHUB_SERVICE_PREFIX`` is
the prefix, e.g. ``/user/ada/``). Pages must therefore use relative URLs.
"""

from __future__ import annotations

import html
import os
from typing import Any


def public_url(server: Any, path: str = "/") -> str:
    """The URL a learner's browser can open for ``path`` on ``server``.

    ``COURSE_PROXY_PREFIX`` overrides the detection (for a local JupyterLab with
    jupyter-server-proxy, set it to ``/``).
    """
    path = "/" + path.lstrip("/")
    prefix = os.environ.get("COURSE_PROXY_PREFIX") or os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if prefix:
        if server.url.startswith("https"):  # the proxy speaks plain HTTP to the kernel's ports
            from ._server import ServerError

            raise ServerError("the Jupyter proxy cannot reach an HTTPS server: serve the app "
                              "without tls=True to open it in the browser, and call it with httpx")
        return f"{prefix.rstrip('/')}/proxy/{server.port}{path}"
    return server.url + path


class _Page:
    """An IFrame plus a link, rendered as HTML in JupyterLab and as text elsewhere."""

    def __init__(self, url: str, height: int) -> None:
        self.url, self.height = url, height

    def _repr_html_(self) -> str:
        url = html.escape(self.url, quote=True)
        return (f'<iframe src="{url}" width="100%" height="{self.height}" '
                f'style="border:1px solid #8888"></iframe>'
                f'<p><a href="{url}" target="_blank">Open {url} in a new tab</a></p>')

    def __repr__(self) -> str:
        return f"Page at {self.url}"


class _Link(_Page):
    def _repr_html_(self) -> str:
        url = html.escape(self.url, quote=True)
        return f'<a href="{url}" target="_blank">{url}</a>'

    def __repr__(self) -> str:
        return self.url


def show(server: Any, path: str = "/", height: int = 360) -> _Page:
    """Embed a page of a running app in the notebook, with a link to open it in a tab."""
    return _Page(public_url(server, path), height)


def link(server: Any, path: str = "/") -> _Link:
    """A clickable link to a page of a running app."""
    return _Link(public_url(server, path), 0)
