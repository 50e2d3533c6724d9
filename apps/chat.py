"""Chat over websockets: an echo endpoint, and rooms that broadcast through a small in-memory broker.

Run it:  uvicorn --ws-max-size 65536 --ws-per-message-deflate false apps.chat:app
    or:  hypercorn apps.chat:app
then open /static/chat.html?room=lobby. A server holds each message whole before the app
sees it, so limits belong at the server too: uvicorn's flags above cap a message at 64 KiB
and turn compression off (a 15 KiB compressed frame can inflate to 16 MiB). Hypercorn 0.18
always offers compression and keeps what arrives past its ``websocket_max_message_size``, so
a smaller value there makes things worse (chapter 18 shows how to fix both). The
app sets its own, smaller limits in any case (apps/limits.py).

Test it: ``create_app({...})`` makes a fresh app with its own config and broker.
Reuse it: ``app.register_blueprint(blueprint)`` adds the routes to another app; the
blueprint brings its limits and makes its broker when that app starts serving.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

from quart import Blueprint, Quart, abort, current_app, redirect, websocket
from werkzeug.routing import BaseConverter

from apps import limits
from apps.errors import json_errors

STATIC = Path(__file__).resolve().parent.parent / "static"

DEFAULTS = {
    "WEBSOCKET_MAX_MESSAGE": 4096,  # characters in one incoming frame: a chat line, not a file
    # Browser pages allowed to open these websockets (any page may try, cookies included).
    # "scheme://host:*" allows every port. Loopback only by default: add your site's origin.
    "ALLOWED_ORIGINS": ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*",
                        "https://localhost:*", "https://127.0.0.1:*", "https://[::1]:*"],
    "CHAT_RATE": 5.0,  # messages a second one sender may keep up ...
    "CHAT_BURST": 20,  # ... after a burst of this many
    "CHAT_INBOX": 1000,  # messages waiting for one slow reader before it is dropped
    "CHAT_HISTORY": 20,  # recent messages a newcomer to a room is shown
    "CHAT_HISTORY_ROOMS": 100,  # rooms whose recent messages are kept
}


class Broker:
    """Rooms of subscribers; ``publish`` puts a message in every subscriber's queue of a room.

    It also keeps the last ``history`` messages of the most recent ``history_rooms`` rooms,
    so that someone who joins late (a page opened after a notebook cell spoke) sees them.
    """

    def __init__(self, inbox_size: int = 1000, history: int = 20, history_rooms: int = 100) -> None:
        self.rooms: dict[str, set[asyncio.Queue]] = {}
        self.inbox_size, self.history, self.history_rooms = inbox_size, history, history_rooms
        self.recent: OrderedDict[str, deque] = OrderedDict()  # bounded: rooms x messages

    def publish(self, room: str, message: dict) -> None:
        if message["type"] == "message":
            self._remember(room, message)
        # No await between the puts: every subscriber gets messages in the same order.
        for inbox in list(self.rooms.get(room, ())):
            self.tell(inbox, message, room)

    def tell(self, inbox: asyncio.Queue, message: dict, room: str | None = None) -> None:
        """Put ``message`` in one inbox; a reader that fell ``inbox_size`` behind is dropped."""
        if inbox.qsize() < self.inbox_size:
            inbox.put_nowait(message)
        elif room is not None:  # a client that stopped reading must not stall the room or fill memory
            self.rooms.get(room, set()).discard(inbox)
            inbox.put_nowait(None)  # the spare slot: tells that client's sender to close

    @asynccontextmanager
    async def subscribe(self, room: str) -> AsyncIterator[asyncio.Queue]:
        inbox: asyncio.Queue = asyncio.Queue(self.inbox_size + 1)  # created here, on the serving loop
        for message in self.recent.get(room, ()):
            inbox.put_nowait({**message, "replay": True})  # what was said before we came
        self.rooms.setdefault(room, set()).add(inbox)
        try:
            yield inbox
        finally:  # runs on every way out: leave, disconnect, error, server stop
            members = self.rooms.get(room, set())
            members.discard(inbox)
            if not members:
                self.rooms.pop(room, None)

    def _remember(self, room: str, message: dict) -> None:
        if self.history <= 0:
            return
        recent = self.recent.pop(room, None) or deque(maxlen=self.history)
        recent.append(message)
        self.recent[room] = recent  # now the most recent room
        while len(self.recent) > self.history_rooms:
            self.recent.popitem(last=False)  # forget the room that was quiet longest


class RateLimit:
    """A token bucket: ``burst`` messages at once, then ``rate`` a second on average."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class RoomConverter(BaseConverter):
    """``<room:name>``: any text, slashes included ("team/ops" is one room, not two path parts)."""

    regex = ".+"
    part_isolating = False


# The routes live in a blueprint, so that create_app() (at the end) can make independent apps
# and another app can add the chat to its own routes.
blueprint = Blueprint("chat", __name__)


@blueprint.record_once
def _set_up(state) -> None:
    """When an app registers the blueprint: the chat's defaults, its URL converter, its limits."""
    for key, value in DEFAULTS.items():
        state.app.config.setdefault(key, value)
    state.app.url_map.converters["room"] = RoomConverter
    limits.install(state.app)  # bounded queues and message sizes: see apps/limits.py


@blueprint.before_app_serving
async def create_broker() -> None:
    """Make a fresh broker on the loop that serves the app (its queues belong to that loop)."""
    config = current_app.config
    current_app.extensions["broker"] = Broker(config["CHAT_INBOX"], config["CHAT_HISTORY"],
                                              config["CHAT_HISTORY_ROOMS"])


@blueprint.get("/")
async def index():
    """Send browsers to the chat page (a relative URL, so it works behind a proxy prefix)."""
    return redirect("static/chat.html")


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    """Is ``origin`` ("https://chat.example:8443") on the list? "scheme://host:*" is any port."""
    try:
        parts = urlsplit(origin)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # "http://x:99999": not a valid origin
        return False
    for entry in allowed:
        pattern = urlsplit(entry.replace(":*", ""))
        if (parts.scheme, parts.hostname) != (pattern.scheme, pattern.hostname):
            continue
        if entry.endswith(":*") or port == (pattern.port or {"http": 80, "https": 443}.get(pattern.scheme)):
            return True
    return False


def _check_origin() -> None:
    """Refuse browser pages of other sites: any page may open a websocket to any host.

    Compare ``Origin`` with a list, never with ``Host``: a page of evil.example whose
    name is made to point at 127.0.0.1 (DNS rebinding) sends matching Origin and Host.
    """
    origin = websocket.headers.get("Origin")
    if origin is None:  # not a browser (a script, the test client): nothing to ride on
        return
    if not origin_allowed(origin, current_app.config["ALLOWED_ORIGINS"]):
        abort(403, f"origin {origin} is not allowed: add it to ALLOWED_ORIGINS")  # before accept()


@blueprint.websocket("/ws")
async def echo():
    """Answer every text message with "You said: <message>"."""
    _check_origin()
    while True:
        message = await websocket.receive()  # apps/limits.py already refused oversize ones
        if isinstance(message, bytes):
            await websocket.close(1003, "text messages only")  # 1003: cannot accept this data type
            return
        await websocket.send(f"You said: {message}")


@blueprint.websocket("/chat/<room:room>", merge_slashes=False)
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
                await _receive_into(broker, inbox, room, name)  # returns when we close the socket
                sending.cancel()
        finally:  # a vanished client cancels this handler: CancelledError passes through, this runs
            broker.publish(room, {"type": "leave", "room": room, "name": name})


async def _send_from(inbox: asyncio.Queue) -> None:
    try:
        while (message := await inbox.get()) is not None:
            await websocket.send_json(message)
        await websocket.close(1013, "too slow: try again later")  # the broker dropped us
    except limits.ClientGone:  # Quart 0.23: the client left between two messages; the view is
        return                 # being cancelled already, and this task has nothing left to do


async def _receive_into(broker: Broker, inbox: asyncio.Queue, room: str, name: str) -> None:
    config = current_app.config
    rate = RateLimit(config["CHAT_RATE"], config["CHAT_BURST"])
    refused = 0  # messages refused since the sender was last told
    while True:
        data = await websocket.receive()
        try:
            text = _text_of(data)
        except ValueError as error:  # bad input is answered, never a crash
            broker.tell(inbox, {"type": "error", "error": str(error)})
            continue
        if not rate.allow():
            # Slow the sender down, not the readers: its extra messages never reach the room.
            # Told once per burst: a flooder that does not read fills only its own inbox.
            refused += 1
            if refused == 1:
                broker.tell(inbox, {"type": "error", "error": f"too many messages: at most "
                                    f"{config['CHAT_RATE']:g} a second; the extra ones were not sent"})
            continue
        refused = 0
        broker.publish(room, {"type": "message", "room": room, "name": name, "text": text})


def _text_of(data: str | bytes) -> str:
    """The "text" of a frame holding JSON ``{"text": "..."}``, or ValueError saying what is wrong."""
    if isinstance(data, bytes):  # an empty binary frame arrives as b"" too (apps/limits.py)
        raise ValueError('send text frames holding JSON like {"text": "hello"}')
    try:
        payload: Any = json.loads(data)
    except json.JSONDecodeError as error:
        raise ValueError(f"malformed JSON: {error.msg} at position {error.pos}") from None
    except RecursionError:  # thousands of nested brackets
        raise ValueError("malformed JSON: nested too deeply") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise ValueError('expected a JSON object with a string "text", like {"text": "hello"}')
    if not payload["text"].strip():
        raise ValueError('"text" is empty')
    return payload["text"]


def create_app(config: dict | None = None) -> Quart:
    """A new chat app with its own config and, once served, its own broker."""
    new_app = Quart(__name__, static_folder=str(STATIC), static_url_path="/static")
    new_app.config.update(config or {})  # before the blueprint fills in the defaults
    json_errors(new_app)  # every HTTP error as JSON {"error": ...}: see apps/errors.py
    new_app.register_blueprint(blueprint)
    return new_app


app = create_app()
