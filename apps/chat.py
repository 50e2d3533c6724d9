"""Chat over websockets: an echo endpoint, and rooms that broadcast through a small in-memory broker.

Run it:  hypercorn apps.chat:app   or   uvicorn apps.chat:app   then open /static/chat.html?room=lobby
Test it: ``create_app()`` makes a fresh app with its own broker, so a test never shares one.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

from quart import Blueprint, Quart, abort, current_app, redirect, websocket

STATIC = Path(__file__).resolve().parent.parent / "static"

INBOX_SIZE = 1000  # messages waiting for one slow client before it is dropped


class Broker:
    """Rooms of subscribers; ``publish`` puts a message in every subscriber's queue of a room."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[asyncio.Queue]] = {}

    def publish(self, room: str, message: dict) -> None:
        # No await between the puts: every subscriber gets messages in the same order.
        for inbox in list(self.rooms.get(room, ())):
            if inbox.qsize() < INBOX_SIZE:
                inbox.put_nowait(message)
            else:  # a client that stopped reading must not stall the room or fill the memory
                self.rooms[room].discard(inbox)
                inbox.put_nowait(None)  # the spare slot: tells that client's sender to close

    @asynccontextmanager
    async def subscribe(self, room: str) -> AsyncIterator[asyncio.Queue]:
        inbox: asyncio.Queue = asyncio.Queue(INBOX_SIZE + 1)  # created here, on the serving loop
        self.rooms.setdefault(room, set()).add(inbox)
        try:
            yield inbox
        finally:  # runs on every way out: leave, disconnect, error, server stop
            members = self.rooms.get(room, set())
            members.discard(inbox)
            if not members:
                self.rooms.pop(room, None)


# The routes live in a blueprint so that create_app() (at the end) can make independent apps.
blueprint = Blueprint("chat", __name__)


@blueprint.before_app_serving
async def create_broker() -> None:
    """Make a fresh broker on the loop that serves the app (its queues belong to that loop)."""
    current_app.extensions["broker"] = Broker()


@blueprint.get("/")
async def index():
    """Send browsers to the chat page (a relative URL, so it works behind a proxy prefix)."""
    return redirect("static/chat.html")


def _check_origin() -> None:
    """Refuse browsers on other sites: any page may open a websocket to any host, cookies included."""
    origin = websocket.headers.get("Origin")
    if origin is None:  # not a browser (a script, the test client): nothing to ride on
        return
    same_site = urlsplit(origin).netloc == websocket.headers.get("Host")
    if same_site or origin in current_app.config["ALLOWED_ORIGINS"]:
        return
    abort(403)  # before accept(): the client gets an HTTP 403 instead of a websocket


@blueprint.websocket("/ws")
async def echo():
    """Answer every text message with "You said: <message>"."""
    _check_origin()
    while True:
        message = await websocket.receive()
        if isinstance(message, bytes):
            await websocket.close(1003, "text messages only")  # 1003: cannot accept this data type
            return
        if len(message) > current_app.config["MAX_MESSAGE_SIZE"]:
            await websocket.close(1009, "message too big")
            return
        await websocket.send(f"You said: {message}")


@blueprint.websocket("/chat/<room>")
async def chat(room: str):
    """Join a room: every message sent to the room reaches every member, sender included."""
    _check_origin()
    name = (websocket.args.get("name") or "").strip()[:32] or "anonymous"
    room = room[:64]
    broker: Broker = current_app.extensions["broker"]
    async with broker.subscribe(room) as inbox:
        await websocket.accept()  # after subscribing: once connected, a client hears everything
        broker.publish(room, {"type": "join", "room": room, "name": name})
        try:
            # Sending and receiving run at the same time: a client that only listens still
            # gets the room's messages, and a slow send never blocks reading.
            async with asyncio.TaskGroup() as group:
                sending = group.create_task(_send_from(inbox))
                await _receive_into(broker, room, name)  # returns when we close the socket
                sending.cancel()
        finally:  # a vanished client cancels this handler: CancelledError passes through, this runs
            broker.publish(room, {"type": "leave", "room": room, "name": name})


async def _send_from(inbox: asyncio.Queue) -> None:
    while (message := await inbox.get()) is not None:
        await websocket.send_json(message)
    await websocket.close(1013, "too slow: try again later")  # the broker dropped us


async def _receive_into(broker: Broker, room: str, name: str) -> None:
    while True:
        data = await websocket.receive()
        if len(data) > current_app.config["MAX_MESSAGE_SIZE"]:
            await websocket.close(1009, "message too big")
            return
        try:
            text = _text_of(data)
        except ValueError as error:  # bad input is answered, never a crash
            await websocket.send_json({"type": "error", "error": str(error)})
            continue
        broker.publish(room, {"type": "message", "room": room, "name": name, "text": text})


def _text_of(data: str | bytes) -> str:
    """The "text" of a frame holding JSON ``{"text": "..."}``, or ValueError saying what is wrong."""
    if isinstance(data, bytes):
        raise ValueError('send text frames holding JSON like {"text": "hello"}')
    try:
        payload: Any = json.loads(data)
    except json.JSONDecodeError as error:
        raise ValueError(f"malformed JSON: {error.msg} at position {error.pos}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise ValueError('expected a JSON object with a string "text", like {"text": "hello"}')
    if not payload["text"].strip():
        raise ValueError('"text" is empty')
    return payload["text"]


def create_app() -> Quart:
    """A new chat app with its own config and, once served, its own broker."""
    new_app = Quart(__name__, static_folder=str(STATIC), static_url_path="/static")
    # Our own limits, checked by the app so they hold under any server (Hypercorn's own
    # limit is 16 MiB, uvicorn's 16 MiB too: far more than a chat line needs).
    new_app.config["MAX_MESSAGE_SIZE"] = 4096  # characters in one incoming frame
    new_app.config["ALLOWED_ORIGINS"] = set()  # extra browser origins allowed besides the page's own
    new_app.register_blueprint(blueprint)
    return new_app


app = create_app()
