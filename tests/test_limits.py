"""apps/limits.py: what a client sends waits until the view takes it; nothing piles up without a bound.

Each test counts, outside the app, what Quart pulled from the server, and compares it with
what the view took: without the limits, Quart pulls everything at once.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from quart import Quart, request, websocket

from apps import limits
from course import serve

KiB, MiB = 1024, 1024 * 1024


class Wire:
    """Wraps an app's ASGI callable from outside: counts what Quart pulled, records what it sent."""

    def __init__(self, app: Quart) -> None:
        self.bytes = self.messages = 0
        self.sent: list[dict] = []
        inner = app.asgi_app

        async def counting(scope, receive, send):
            async def counted_receive():
                message = await receive()
                if message["type"] == "http.request":
                    self.bytes += len(message.get("body", b""))
                elif message["type"] == "websocket.receive":
                    self.messages += 1
                return message

            async def recorded_send(message):
                self.sent.append(message)
                await send(message)

            await inner(scope, counted_receive, recorded_send)

        app.asgi_app = counting

    @property
    def close_code(self) -> int | None:
        return next((m.get("code") for m in self.sent if m["type"] == "websocket.close"), None)


def make_app(**config) -> tuple[Quart, Wire]:
    app = Quart(__name__)
    app.config.update(config)
    limits.install(app)
    return app, Wire(app)


async def settled(read, quiet: int = 50, most: int = 20_000) -> int:
    """``read()`` once it stopped changing for ``quiet`` turns of the event loop."""
    value, still = read(), 0
    for _ in range(most):
        await asyncio.sleep(0)
        still = still + 1 if read() == value else 0
        value = read()
        if still >= quiet:
            break
    return value


# --- request bodies -------------------------------------------------------------------------------


async def test_a_streamed_body_waits_for_the_view_instead_of_piling_up():
    app, wire = make_app(BODY_BUFFER=MiB)
    taken, go = [], asyncio.Event()

    @app.put("/slow")
    async def slow():
        """Falls behind on purpose after the first chunk, like a view writing to a slow disk."""
        async for chunk in request.body:
            taken.append(len(chunk))
            await go.wait()
        return {"size": sum(taken)}

    async with app.test_client().request("/slow", method="PUT") as connection:
        for _ in range(32):
            await connection.send(b"x" * (256 * KiB))  # 8 MiB offered
        await settled(lambda: wire.bytes)
        held = wire.bytes - sum(taken)  # pulled from the server, not yet taken by the view
        go.set()
        await connection.send_complete()
    response = await connection.as_response()
    assert response.status_code == 200 and (await response.get_json()) == {"size": 8 * MiB}
    assert 0 < held <= MiB + 256 * KiB, f"{held / MiB:.1f} MiB held for the view"


async def test_a_view_that_wants_the_whole_body_gets_it():
    app, _ = make_app(BODY_BUFFER=64 * KiB)

    @app.put("/whole")
    async def whole():
        return {"size": len(await request.get_data())}

    response = await app.test_client().put("/whole", data=b"y" * (3 * MiB))
    assert (await response.get_json()) == {"size": 3 * MiB}


async def test_a_view_that_answers_without_reading_the_body_is_not_held_up():
    app, _ = make_app(BODY_BUFFER=64 * KiB)

    @app.put("/ignore")
    async def ignore():
        return {"ignored": True}

    async def upload():
        async with app.test_client().request("/ignore", method="PUT") as connection:
            for _ in range(64):
                await connection.send(b"z" * (64 * KiB))
            await connection.send_complete()
        return await connection.as_response()

    response = await asyncio.wait_for(upload(), 10)  # would hang if the rest were never read
    assert response.status_code == 200


def test_a_real_server_stops_reading_while_the_view_falls_behind():
    app, wire = make_app(BODY_BUFFER=MiB, MAX_CONTENT_LENGTH=None)
    taken, go, offered = [], threading.Event(), []

    @app.put("/slow")
    async def slow():
        async for chunk in request.body:
            taken.append(len(chunk))
            while not go.is_set():
                await asyncio.sleep(0.01)
        return {"size": sum(taken)}

    def body():
        for _ in range(64):
            offered.append(MiB)
            yield b"b" * MiB

    with serve(app, name="limits-test") as server:
        result = {}
        client = threading.Thread(target=lambda: result.update(response=httpx.put(
            server.url + "/slow", content=body(), headers={"Content-Length": str(64 * MiB)}, timeout=60)))
        client.start()
        # Wait until the client is blocked (TCP pushes back) or the server took too much.
        deadline, before = time.monotonic() + 30, -1
        while time.monotonic() < deadline and wire.bytes < 16 * MiB:
            now = (len(offered), wire.bytes)
            if now == before:
                break
            before = now
            time.sleep(0.5)  # a sample interval: the loop ends on a condition, not on this sleep
        held = wire.bytes - sum(taken)
        go.set()
        client.join(60)
    assert result["response"].json() == {"size": 64 * MiB}
    assert held <= 2 * MiB, f"{held / MiB:.1f} MiB held for the view"


# --- websockets -----------------------------------------------------------------------------------


def websocket_app(**config) -> tuple[Quart, Wire, dict]:
    app, wire = make_app(**config)
    seen: dict = {"messages": [], "go": asyncio.Event(), "finally": False}

    @app.websocket("/slow")
    async def slow():
        """Takes one message, then falls behind until told to go on."""
        try:
            seen["messages"].append(await websocket.receive())
            await seen["go"].wait()
            while True:
                seen["messages"].append(await websocket.receive())
        finally:
            seen["finally"] = True

    @app.websocket("/echo")
    async def echo():
        while True:
            data = await websocket.receive()
            seen["messages"].append(data)
            await websocket.send(data)

    return app, wire, seen


async def test_messages_wait_for_the_view_instead_of_piling_up():
    app, wire, seen = websocket_app(WEBSOCKET_QUEUE=8)
    async with app.test_client().websocket("/slow") as ws:
        for n in range(1000):
            await ws.send(f"message {n}")
        pulled = await settled(lambda: wire.messages)
        seen["go"].set()
        await settled(lambda: len(seen["messages"]))
    assert pulled <= 8 + 2, f"{pulled} messages pulled while the view had taken 1"
    assert seen["messages"][:3] == ["message 0", "message 1", "message 2"]  # nothing lost or reordered


async def test_a_view_that_takes_nothing_for_too_long_is_closed_with_1008():
    app, wire, seen = websocket_app(WEBSOCKET_QUEUE=4, WEBSOCKET_QUEUE_TIMEOUT=0.2)
    async with app.test_client().websocket("/slow") as ws:
        for n in range(20):
            await ws.send(f"m{n}")
        for _ in range(500):  # the view never goes on: the middleware gives up on it
            if seen["finally"]:
                break
            await asyncio.sleep(0.01)
    assert seen["finally"] and wire.close_code == 1008


@pytest.mark.parametrize("frame", ["x" * 1025, b"y" * 1025])
async def test_an_oversize_message_closes_with_1009_before_the_view_sees_it(frame):
    app, wire, seen = websocket_app(WEBSOCKET_MAX_MESSAGE=1024)
    async with app.test_client().websocket("/echo") as ws:
        await ws.send("fits")
        assert await ws.receive() == "fits"
        await ws.send(frame)
        await settled(lambda: len(wire.sent))
    assert seen["messages"] == ["fits"]
    assert wire.close_code == 1009


async def run_websocket(app: Quart, path: str, events: list[dict], until) -> list[dict]:
    """Run ``app``'s websocket at ``path`` on exactly these ASGI events (as a server would send
    them); disconnect once ``until()`` holds. Returns what the app sent."""
    incoming: asyncio.Queue = asyncio.Queue()
    for event in [{"type": "websocket.connect"}, *events]:
        incoming.put_nowait(event)
    sent: list[dict] = []
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"localhost")], "subprotocols": [], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "extensions": {"websocket.http.response": {}}}

    async def send(message):
        sent.append(message)

    task = asyncio.ensure_future(app(scope, incoming.get, send))
    for _ in range(2000):
        if until() or task.done():
            break
        await asyncio.sleep(0.005)
    incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 5)
    return sent


@pytest.mark.parametrize("event", [
    {"type": "websocket.receive", "bytes": b""},  # uvicorn: no "text" key (KeyError in Quart)
    {"type": "websocket.receive", "bytes": b"", "text": None},  # Hypercorn: Quart makes it None
])
async def test_an_empty_binary_frame_reaches_the_view_as_empty_bytes(event):
    app, wire, seen = websocket_app()
    after = {"type": "websocket.receive", "text": "after"}
    sent = await run_websocket(app, "/echo", [event, after], until=lambda: "after" in seen["messages"])
    assert seen["messages"] == [b"", "after"]
    echoed = [m["bytes"] if m.get("text") is None else m["text"] for m in sent if m["type"] == "websocket.send"]
    assert echoed == [b"", "after"]


def test_install_is_idempotent_and_keeps_settings():
    app = Quart(__name__)
    app.config["WEBSOCKET_QUEUE"] = 3
    limits.install(app)
    wrapped = app.asgi_app
    limits.install(app)
    assert app.asgi_app is wrapped
    assert app.config["WEBSOCKET_QUEUE"] == 3 and app.config["BODY_BUFFER"] == limits.DEFAULTS["BODY_BUFFER"]
