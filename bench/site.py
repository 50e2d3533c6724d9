"""The course's apps behind one address, so that each server of the servers group starts once.

``bench.site:app`` is an ASGI app that passes each connection, unchanged, to the course
app that owns its path, and runs every app's lifespan (``before_serving`` and the
rest). It adds one function call and a string comparison per request: nothing a
server or Quart would notice.

==============  ==============  ==============================================
path            app             used for
==============  ==============  ==============================================
``/files``      apps.upload     ``PUT /files/<name>``: the streamed upload
``/media/``     apps.video      ``GET /media/<name>``: download, Range
``/chat/``      apps.chat       websocket ``/chat/<room>``: echo, fan-out, idle
``/events``     apps.events     the SSE stream: idle streams
``/raw/files/`` (below)         the same upload as a bare ASGI app, no Quart
anything else   apps.hello      ``GET /``: small requests
==============  ==============  ==============================================

The chat is made with ``create_app(CHAT_CONFIG)`` where it takes a config: its
per-sender rate limit (a few messages a second) would otherwise be what the echo and
fan-out figures measure. An app that does not import answers 503 with the import
error, and the rows that need it say so.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from pathlib import Path

ROUTES = [("/files", "apps.upload"), ("/media/", "apps.video"), ("/chat/", "apps.chat"),
          ("/events", "apps.events"), ("/raw/files/", "bench.site:raw_upload"), ("", "apps.hello")]
CHAT_CONFIG = {"CHAT_RATE": 1e9, "CHAT_BURST": 10**9}
CONFIGS = {"apps.chat": CHAT_CONFIG}


def _load(target: str):
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        if target in CONFIGS and hasattr(module, "create_app"):
            try:
                return module.create_app(CONFIGS[target])
            except TypeError:  # a factory without a config: the module's app it is
                pass
        return getattr(module, name or "app")
    except Exception as error:  # noqa: BLE001 - answered as 503 below, with the reason
        return _unavailable(f"{target} did not import: {error!r}")


def _unavailable(reason: str):
    async def answer(scope, receive, send):
        if scope["type"] == "http":
            body = reason.encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011, "reason": reason[:120]})

    return answer


async def raw_upload(scope, receive, send):
    """``PUT /raw/files/<name>`` without a framework: what the server alone costs an upload.

    It writes as apps/upload.py does (1 MiB writes in a thread, one in flight while the
    next MiB arrives), so the gap between the two rows is Quart's and the app's share.
    """
    if scope["type"] != "http":
        return
    folder = Path(os.environ.get("COURSE_UPLOAD_DIR") or "uploads")
    folder.mkdir(parents=True, exist_ok=True)
    name = scope["path"].rsplit("/", 1)[-1]
    partial = folder / f".{name}.raw.part"
    size, buffer, writing = 0, bytearray(), None
    loop = asyncio.get_running_loop()
    with open(partial, "wb") as out:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                partial.unlink(missing_ok=True)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            buffer += chunk
            if len(buffer) >= 1024 * 1024:
                if writing is not None:
                    await writing
                writing, buffer = loop.run_in_executor(None, out.write, buffer), bytearray()
            if not message.get("more_body", False):
                break
        if writing is not None:
            await writing
        out.write(buffer)
    partial.replace(folder / name)
    body = b'{"size": %d}' % size
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _Lifespan:
    """One app's lifespan, driven through two queues."""

    def __init__(self, target, scope: dict) -> None:
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.replies: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.ensure_future(target(dict(scope), self.inbox.get, self.replies.put))

    async def call(self, step: str) -> str | None:
        """Send ``lifespan.<step>``; return an error message, or None once the app said complete."""
        await self.inbox.put({"type": f"lifespan.{step}"})
        reply = asyncio.ensure_future(self.replies.get())
        await asyncio.wait({reply, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not reply.done():  # the app returned without answering: it has no lifespan
            reply.cancel()
            return None
        message = reply.result()
        return message.get("message", "failed") if message["type"].endswith(".failed") else None


class Site:
    """Dispatch by path prefix to the apps in ``ROUTES``."""

    def __init__(self, routes=ROUTES) -> None:
        loaded: dict[str, object] = {}
        for _, target in routes:
            if target not in loaded:
                loaded[target] = _load(target)
        self.routes = [[prefix, loaded[target]] for prefix, target in routes]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(scope, receive, send)
        path = scope.get("path", "")
        for prefix, target in self.routes:
            if path.startswith(prefix):
                return await target(scope, receive, send)

    async def _lifespan(self, scope, receive, send) -> None:
        apps = list({id(target): target for _, target in self.routes}.values())
        lives: list[_Lifespan] = []
        while True:
            message = await receive()
            step = message["type"].split(".")[1]
            if step == "startup":
                lives = [_Lifespan(target, scope) for target in apps]
            errors = await asyncio.gather(*(life.call(step) for life in lives))
            for target, error in zip(apps, errors):
                if error and step == "startup":  # that app's routes answer 503; the others still serve
                    for route in self.routes:
                        if route[1] is target:
                            route[1] = _unavailable(f"its startup failed: {error}")
            await send({"type": f"lifespan.{step}.complete"})
            if step == "shutdown":
                return


app = Site()
