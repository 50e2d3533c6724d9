"""Which way a learner's browser reaches the kernel's servers.

The browser talks to the Jupyter server, which may be on another machine (Binder, a
JupyterHub, a lab server, an SSH tunnel): there ``http://127.0.0.1:PORT`` is the
*browser's* machine. jupyter-server-proxy forwards ``<base_url>proxy/PORT/...`` to the
kernel's port, so that root-relative URL works wherever the browser is. The kernel finds
its Jupyter server among its ancestor processes, in the files Jupyter writes at start.
"""

from __future__ import annotations

import functools
import importlib.util
import os


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
        from jupyter_server.serverapp import list_running_servers

        ancestors = {process.pid for process in psutil.Process().parents()}
        return next((s for s in list_running_servers() if s.get("pid") in ancestors), None)
    except Exception:  # noqa: BLE001 - no Jupyter here, or an unreadable runtime folder
        return None
