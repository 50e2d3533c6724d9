"""Show a running app's pages in the notebook: ``show(server, "static/chat.html")``.

Pages go through the Jupyter server's proxy when the kernel runs under one, so frames
and links work wherever the browser is; they must therefore use URLs relative to
themselves (``fetch("../events")``), never ``/events``.
"""

from __future__ import annotations

import html

from ._base import BaseServer, ServerError
from ._jupyter import page_route


def public_url(server: BaseServer, path: str = "/") -> str:
    """The URL a learner's browser can open for ``path`` on ``server`` (``_jupyter.py`` says which)."""
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
        link = f'<a href="{url}" target="_blank" rel="noopener">Open {url} in a new tab</a>'
        if self.height is None:
            return link
        return (f'<iframe src="{url}" width="100%" height="{self.height}" '
                f'style="border:1px solid #8888; border-radius:4px"></iframe><p>{link}</p>')

    def __repr__(self) -> str:
        return self.url


def show(server: BaseServer, path: str = "/", height: int = 420) -> Page:
    """Embed a page of a running app in the notebook, with a link to open it in a tab."""
    return Page(public_url(server, path), height)


def link(server: BaseServer, path: str = "/") -> Page:
    """A clickable link to a page of a running app."""
    return Page(public_url(server, path), None)
