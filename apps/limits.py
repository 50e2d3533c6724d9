"""Bounded queues for request bodies and websocket messages, the same on Quart 0.22 and 0.23.

Quart reads from the server as fast as the server delivers, into queues without a bound:
a request body piles up in memory when the view writes to a slower disk, and a websocket
client that sends and never reads fills the server with messages the view has not
handled yet (20,000 frames of 4,000 characters: +79 MiB, still held after it left).

``install(app)`` puts a bound on both, with public API only:

- an ASGI middleware (``app.asgi_app = ...``, Quart's documented way) wraps ``receive``,
  the function Quart calls to get the next chunk or message from the server. It does not
  ask for more while the view is too far behind: then the server stops reading from that
  client's socket, TCP's own flow control slows the client down, and memory stays flat;
- the view reports what it has taken through classes Quart lets us replace:
  ``app.request_class`` (whose ``body_class`` counts the chunks ``async for chunk in
  request.body`` hands out) and ``app.websocket_class`` (whose ``receive()`` counts
  messages). ``await request.get_data()`` wants the whole body at once: then nothing is
  held back.

Waiting has a limit too. Hypercorn passes "the client left" through the same queue as
the messages, so a view stuck forever would never hear of it: a websocket whose view
takes nothing for ``WEBSOCKET_QUEUE_TIMEOUT`` seconds while its queue is full is closed
(1008). A message longer than ``WEBSOCKET_MAX_MESSAGE`` closes the websocket (1009)
before Quart queues it. Limits at the server come first, since it holds a message whole
before the app sees it (uvicorn's ``--ws-max-size`` and ``--ws-per-message-deflate false``;
for Hypercorn 0.18, the kit's fix in a config module, chapter 18); these are the app's own,
and hold under any server.

Also smoothed over here: an empty binary frame reaches Quart as ``{"bytes": b""}``
without "text" under uvicorn (Quart 0.22 and 0.23 raise ``KeyError: 'text'``) and
becomes ``None`` under Hypercorn; with ``install(app)`` the view gets ``b""`` from both.

Config keys (set them before the app serves; ``install`` only fills in missing ones)::

    BODY_BUFFER              unread request body bytes held for a view (1 MiB)
    WEBSOCKET_MAX_MESSAGE    characters (text) or bytes (binary) in one message (64 KiB)
    WEBSOCKET_QUEUE          messages received that the view has not taken (16)
    WEBSOCKET_QUEUE_TIMEOUT  seconds a full queue may wait for the view (10)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from quart import Quart, Request, Websocket
from quart.wrappers import base as _quart_base
from quart.wrappers.request import Body

DEFAULTS = {
    "BODY_BUFFER": 1024 * 1024,
    "WEBSOCKET_MAX_MESSAGE": 64 * 1024,
    "WEBSOCKET_QUEUE": 16,
    "WEBSOCKET_QUEUE_TIMEOUT": 10.0,
}
_FLOW = "course.flow"  # the scope key under which the middleware leaves a connection's Flow

# What Quart 0.23 raises in a view's send() or receive() once its client has left; it also
# cancels the view, but a second task of the view's own (a chat's sender) may meet this
# first. Quart 0.22 only cancels, and has no such class: ``except ClientGone`` is then
# ``except ()``, which catches nothing.
ClientGone: type[Exception] | tuple = getattr(_quart_base, "ClientDisconnectedError", ())


class Flow:
    """How much the server has handed over that the view has not taken yet.

    Counts bytes for a request body and messages for a websocket. ``room()`` waits
    while ``held`` is at the limit; ``taken()`` (the view) and ``release()`` (the view
    wants everything, or the response is done) let it go on.
    """

    def __init__(self, limit: float) -> None:
        self.limit, self.held = limit, 0
        self._changed = asyncio.Event()

    def add(self, amount: int) -> None:
        self.held += amount

    def taken(self, amount: int) -> None:
        self.held = max(0, self.held - amount)
        self._changed.set()

    def release(self) -> None:
        self.limit = float("inf")
        self._changed.set()

    async def room(self) -> None:
        while self.held >= self.limit:
            self._changed.clear()
            await self._changed.wait()


class _NoFlow(Flow):
    """For requests made without the middleware (``app.test_request_context``)."""

    def __init__(self) -> None:
        super().__init__(float("inf"))


class BoundedBody(Body):
    """A request body that tells its Flow how many bytes the view took."""

    flow: Flow

    async def __anext__(self) -> bytes:
        data = await super().__anext__()  # 0.22: everything received so far; 0.23: one chunk
        self.flow.taken(len(data))
        return data

    def __await__(self):
        self.flow.release()  # the view wants the whole body at once: do not hold it back
        return super().__await__()


class BoundedRequest(Request):
    body_class = BoundedBody

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body.flow = self.scope.get(_FLOW) or _NoFlow()


class BoundedWebsocket(Websocket):
    """A websocket that tells its Flow each time the view takes a message."""

    async def receive(self) -> str | bytes:
        data = await super().receive()
        (self.scope.get(_FLOW) or _NoFlow()).taken(1)
        return b"" if data is None else data  # an empty binary frame, whichever server


class Limits:
    """ASGI middleware: hand Quart the next chunk or message only when the view has room."""

    def __init__(self, app: Quart, asgi_app: Any) -> None:
        self.app, self.asgi_app = app, asgi_app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            flow = Flow(self.app.config["BODY_BUFFER"])
            await self.asgi_app({**scope, _FLOW: flow}, *self._http(flow, receive, send))
        elif scope["type"] == "websocket":
            flow = Flow(self.app.config["WEBSOCKET_QUEUE"])
            await self._websocket({**scope, _FLOW: flow}, flow, receive, send)
        else:
            await self.asgi_app(scope, receive, send)

    def _http(self, flow: Flow, receive: Any, send: Any) -> tuple[Any, Any]:
        async def bounded_receive() -> dict:
            await flow.room()
            message = await receive()
            if message["type"] == "http.request":
                flow.add(len(message.get("body", b"")))
            return message

        async def watched_send(message: dict) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                flow.release()  # answered: let Quart read (and drop) whatever is left
            await send(message)

        return bounded_receive, watched_send

    async def _websocket(self, scope: dict, flow: Flow, receive: Any, send: Any) -> None:
        config = self.app.config
        ending: list[tuple[int, str]] = []  # why this middleware ends the connection, if it does

        async def bounded_receive() -> dict:
            try:
                async with asyncio.timeout(config["WEBSOCKET_QUEUE_TIMEOUT"]):
                    await flow.room()
            except TimeoutError:  # the view took nothing for that long: stop waiting for it
                end(1008, "too many unread messages")
            if ending:
                # Quart hears "the client left": it cancels the view, which runs its `finally`.
                return {"type": "websocket.disconnect", "code": ending[0][0]}
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            text, data = message.get("text"), message.get("bytes")
            size = len(text) if text is not None else len(data or b"")
            if size > config["WEBSOCKET_MAX_MESSAGE"]:
                end(1009, f"message longer than {config['WEBSOCKET_MAX_MESSAGE']}")
                return {"type": "websocket.disconnect", "code": 1009}
            flow.add(1)
            # Both keys, one of them None: Quart reads message["text"] when "bytes" is empty.
            return {"type": "websocket.receive", "text": text, "bytes": None if text is not None else data}

        def end(code: int, reason: str) -> None:
            ending.append((code, reason))
            flow.release()

        async def watched_send(message: dict) -> None:
            if ending and message["type"] in ("websocket.send", "websocket.close"):
                return  # the connection is ending: nothing more for this client
            if message["type"] == "websocket.close":
                flow.release()  # the view is done: let Quart read on until the client's goodbye
            try:
                await send(message)
            except OSError:  # uvicorn: the client is gone (Hypercorn drops the message silently)
                end(1006, "client gone")  # the view hears it as a disconnect, under both servers

        try:
            await self.asgi_app(scope, bounded_receive, watched_send)
        finally:
            if ending and ending[0][0] != 1006:  # our own close: 1008 or 1009, with its reason
                code, reason = ending[0]
                with contextlib.suppress(OSError):  # the client may be gone already
                    await send({"type": "websocket.close", "code": code, "reason": reason})


def install(app: Quart) -> Quart:
    """Bound what ``app`` holds for its views; safe to call more than once."""
    if app.extensions.get("limits"):
        return app
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.request_class = BoundedRequest
    app.websocket_class = BoundedWebsocket
    app.asgi_app = Limits(app, app.asgi_app)
    app.extensions["limits"] = True
    return app
