"""Stopping a worker without losing anything: streams end, websockets close, uploads finish or go.

Hypercorn stops a worker in this order: stop accepting connections, wait until every open
one has closed, run the app's ``after_serving``. An event stream or a chat never closes by
itself, so on Python 3.12+ the worker would wait for ever (and be killed, mid-upload). The
app must end them itself, and it learns that it should from the signal that stops the
worker: SIGTERM. Then (``Drain``):

- event streams end with a "restart" event; the browser reconnects, through nginx, to a
  worker that is still running;
- chat websockets close with 1012 ("service restart"); the page reconnects the same way;
- an upload under way gets ``DRAIN_GRACE`` seconds to finish; then it is cancelled, its
  partial file deleted (``apps.upload.save_body``), and the client told 503 (try again);
- new streams, websockets and uploads are refused the same way while it drains.

Send SIGTERM to every process of the server (its process group): systemd does (its default
``KillMode=control-group``), ``docker stop`` does with ``init: true``. A Hypercorn master
alone only tells its workers through a pipe; the app never hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import AsyncIterator

__all__ = ["Drain", "remove_stale_partials"]


class Drain:
    """``drain.started`` (an asyncio.Event), ``begin()``, and ``deadline()`` for work that may not linger."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.started = asyncio.Event()
        self._deadlines: set[asyncio.Timeout] = set()
        self._handler_installed = False

    def install(self) -> Drain:
        """Begin on SIGTERM, where nothing else handles it: in a Hypercorn worker, SIGTERM would
        otherwise end the process at once. (Under uvicorn, or the kit's ``serve()`` in a thread,
        the server handles the signal, or there is none to handle.)"""
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.begin)
            self._handler_installed = True
        return self

    def uninstall(self) -> None:
        if self._handler_installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
            self._handler_installed = False

    def begin(self) -> None:
        """Start draining (again: no effect): streams and chats end, uploads get ``grace`` seconds."""
        if self.started.is_set():
            return
        self.started.set()
        when = asyncio.get_running_loop().time() + self.grace
        for deadline in self._deadlines:
            deadline.reschedule(when)

    @contextlib.asynccontextmanager
    async def deadline(self) -> AsyncIterator[None]:
        """A block that must end ``grace`` seconds after draining begins: TimeoutError if it does not."""
        async with asyncio.timeout(None) as deadline:
            if self.started.is_set():
                deadline.reschedule(asyncio.get_running_loop().time() + self.grace)
            self._deadlines.add(deadline)
            try:
                yield
            finally:
                self._deadlines.discard(deadline)


def remove_stale_partials(folder: Path, older_than: float) -> int:
    """Delete partial files (``.*.part``) older than any upload may last: left by a killed process."""
    removed, cutoff = 0, time.time() - older_than
    for path in folder.glob(".*.part"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
