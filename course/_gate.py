"""End open streams and websockets when a server stops.

Hypercorn on Python 3.12+ waits for every open connection before it stops: one endless
event stream would keep a notebook's server alive forever. On stop, the gate makes
every connection look as if its client went away: the framework cancels the handler,
its ``finally`` runs, and the gate ends the response (the last, empty chunk of a
stream; close code 1001 "going away" for a websocket).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._base import ServerError


class _Connection:
    def __init__(self, kind: str) -> None:
        self.kind = kind  # "http" or "websocket"
        self.receiving: asyncio.Task | None = None  # the task waiting in receive(), if any
        self.started = self.finished = False  # response begun / ended (websocket accepted / closed)


class Gate:
    """ASGI wrapper that ends open connections on stop and reports when start-up is done."""

    def __init__(self, app: Any, on_ready: Any, on_failure: Any) -> None:
        self.app, self.on_ready, self.on_failure = app, on_ready, on_failure
        self.connections: set[_Connection] = set()
        self.stopping = False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(scope, receive, send)
        conn = _Connection(scope["type"])
        if not self.stopping:
            self.connections.add(conn)
            try:
                await self.app(scope, *self._wrap(conn, receive, send))
            finally:
                self.connections.discard(conn)
        if self.stopping and not conn.finished:
            await self._end(conn, send)

    async def _lifespan(self, scope: dict, receive: Any, send: Any) -> None:
        async def watched_send(message: dict) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.on_ready()
            elif message["type"] == "lifespan.startup.failed":
                self.on_failure(ServerError(message.get("message") or "start-up failed"))
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            self.on_ready()  # an app without lifespan support returns or raises at once: ready

    def _wrap(self, conn: _Connection, receive: Any, send: Any) -> tuple[Any, Any]:
        disconnect = {"type": f"{conn.kind}.disconnect", "code": 1001}

        async def gated_receive() -> dict:
            if self.stopping:
                return disconnect
            task = conn.receiving = asyncio.current_task()
            try:
                return await receive()
            except asyncio.CancelledError:
                if self.stopping and task.cancelling() == 1:
                    task.uncancel()  # our own cancel from stop(): report a disconnect instead
                    return disconnect
                raise
            finally:
                conn.receiving = None

        async def tracked_send(message: dict) -> None:
            if conn.finished:
                return  # the gate already ended this response
            kind = message["type"]
            conn.started |= kind in ("http.response.start", "websocket.accept")
            conn.finished |= kind == "websocket.close" or (
                kind == "http.response.body" and not message.get("more_body", False))
            await send(message)

        return gated_receive, tracked_send

    async def _end(self, conn: _Connection, send: Any) -> None:  # what the app left open at stop
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

    def close_all(self) -> None:  # on the server's loop: every open connection sees a disconnect
        self.stopping = True
        for conn in list(self.connections):
            if conn.receiving is not None:
                conn.receiving.cancel()
