"""End open streams and websockets when a server stops.

Hypercorn on Python 3.12+ waits for every open connection before it stops, so
one endless Server-Sent Events stream would keep a notebook's server alive
forever. The gate sits between Hypercorn and the app and, on stop, makes every
connection look as if its client went away.
"""

from __future__ import annotations

import asyncio
from typing import Any


class _Connection:
    """What the stop logic needs to know about one open request or websocket."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "http" or "websocket"
        self.receiving: asyncio.Task | None = None  # the task waiting in receive(), if any
        self.started = False  # response headers sent / websocket accepted
        self.finished = False  # last body chunk sent / websocket closed


class Gate:
    """ASGI wrapper between Hypercorn and the app that ends open connections on stop.

    Stopping makes every connection see ``http.disconnect`` or ``websocket.disconnect``:
    the framework cancels the handler, the handler's ``finally`` runs, and the gate
    then ends the response cleanly (the last, empty chunk of a stream; close code
    1001 "going away" for a websocket). It also tells the server when start-up is done.
    """

    def __init__(self, app: Any, on_lifespan: Any) -> None:
        self.app = app
        self.on_lifespan = on_lifespan
        self.connections: set[_Connection] = set()
        self.stopping = False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(scope, receive, send)
        conn = _Connection(scope["type"])
        if self.stopping:
            return await self._refuse(conn, send)
        self.connections.add(conn)
        try:
            await self.app(scope, self._receiver(conn, receive), self._sender(conn, send))
        finally:
            self.connections.discard(conn)
        if self.stopping and not conn.finished:
            await self._refuse(conn, send)

    async def _lifespan(self, scope: dict, receive: Any, send: Any) -> None:
        sent: list[str] = []

        async def watched_send(message: dict) -> None:
            sent.append(message["type"])
            self.on_lifespan(message)
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except BaseException:
            if "lifespan.startup.failed" not in sent:  # an app without lifespan support
                self.on_lifespan({"type": "lifespan.unsupported"})
            raise
        if "lifespan.startup.complete" not in sent:  # returned without a word: no lifespan either
            self.on_lifespan({"type": "lifespan.unsupported"})

    def _receiver(self, conn: _Connection, receive: Any) -> Any:
        disconnect = {"type": f"{conn.kind}.disconnect", "code": 1001}

        async def gated_receive() -> dict:
            if self.stopping:
                return disconnect
            task = asyncio.current_task()
            conn.receiving = task
            try:
                return await receive()
            except asyncio.CancelledError:
                if self.stopping and task is not None and task.cancelling() == 1:
                    task.uncancel()  # our own cancel from stop(): report a disconnect instead
                    return disconnect
                raise
            finally:
                conn.receiving = None

        return gated_receive

    def _sender(self, conn: _Connection, send: Any) -> Any:
        async def tracked_send(message: dict) -> None:
            kind = message["type"]
            if conn.finished:
                return  # the gate already ended this response
            if kind in ("http.response.start", "websocket.accept"):
                conn.started = True
            elif kind == "websocket.close" or (
                kind == "http.response.body" and not message.get("more_body", False)
            ):
                conn.finished = True
            await send(message)

        return tracked_send

    async def _refuse(self, conn: _Connection, send: Any) -> None:
        """End a connection that the app left open while the server stops."""
        conn.finished = True
        try:
            if conn.kind == "websocket":
                await send({"type": "websocket.close", "code": 1001, "reason": "server stopping"})
            elif conn.started:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"text/plain"), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": b"server stopping\n"})
        except Exception:  # the client is already gone: nothing left to end
            pass

    def close_all(self) -> None:
        """Make every open connection see its client disconnect (runs on the server's loop)."""
        self.stopping = True
        for conn in list(self.connections):
            if conn.receiving is not None:
                conn.receiving.cancel()
