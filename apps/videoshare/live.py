"""What happens live: notifications over server-sent events, and a chat per video over a websocket.

Both are checked at the handshake, before anything is sent: the accounts' ``require_handshake``
(chapter 15) refuses another site's page (403) and a signed-out visitor (401); every websocket
of the app gets the same check from ``init_accounts``. Both read from the relay (``relay.py``),
so they work across workers, and both end when the worker drains (``shutdown.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from typing import Any

from quart import Blueprint, abort, current_app, make_response, websocket
from sqlalchemy import select

from apps.accounts import current_account, require_handshake
from apps.chat import RateLimit
from apps.events import sse

from .models import Video, db
from .relay import RelayUnavailable

bp = Blueprint("live", __name__)

SNAPSHOT_VIDEOS = 20  # the user's newest videos, sent when an event stream opens


# --- notifications: GET /events ----------------------------------------------------------------


@bp.get("/events")
async def events():
    """The signed-in user's notifications: their videos' processing, and new videos on the site.

    It opens with a snapshot of the user's newest videos in whatever state they are (so a
    page that connects late, or reconnects, misses nothing), then forwards what the relay
    brings. It ends after SSE_MAX_AGE seconds (the browser reconnects and is checked again)
    or when the worker drains (at once, if it is draining already).
    """
    await require_handshake()
    user = await current_account()
    app, config = current_app._get_current_object(), current_app.config
    relay, drain = app.extensions["relay"], app.extensions["drain"]

    async def stream():
        async with relay.subscribe(f"user:{user.id}") as mine, relay.subscribe("site") as site:
            # Subscribed first, the snapshot second: nothing can happen unseen in between.
            # (News from before the snapshot may follow it: the page keeps the newest state.)
            yield sse(json.dumps(await _snapshot(app, user.id)), event="hello", retry=config["SSE_RETRY_MS"])
            # Not asyncio.timeout() for the maximum age: in a generator its cancellation would
            # hit whatever task is iterating it (Quart's sender), not the wait it was meant for.
            until = asyncio.get_running_loop().time() + config["SSE_MAX_AGE"]
            async for message in _merged([mine, site], drain.started, config["SSE_HEARTBEAT"], until):
                if message is None:
                    yield ": heartbeat\n\n"
                else:
                    yield sse(json.dumps(message), event=message["type"])
        yield sse("{}", event="restart")  # max age, draining, or too slow: reconnect and catch up

    response = await make_response(stream(), {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                              "X-Accel-Buffering": "no"})
    response.timeout = None  # RESPONSE_TIMEOUT would cut the stream off
    return response


async def _snapshot(app, user_id: int) -> dict:
    """This worker, the relay's state, and the user's newest videos in whatever state they are."""
    async with db.new_session(app) as session:  # a short session: a stream must not hold a connection
        newest = (await session.scalars(select(Video).where(Video.owner_id == user_id)
                                        .order_by(Video.id.desc()).limit(SNAPSHOT_VIDEOS))).all()
    return {"worker": app.extensions["worker"], "relay": app.extensions["relay"].state,
            "videos": [video.to_dict() for video in newest]}


async def _merged(inboxes: list[asyncio.Queue], stop: asyncio.Event, heartbeat: float, until: float):
    """Messages from several inboxes as they come; None after ``heartbeat`` seconds of quiet.

    Ends when ``stop`` is set, at loop time ``until``, or when an inbox says its reader was
    dropped (None). The ``get()`` calls still waiting are cancelled.
    """
    loop = asyncio.get_running_loop()
    getters = {asyncio.ensure_future(inbox.get()): inbox for inbox in inboxes}
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set() and (left := until - loop.time()) > 0:
            done, _ = await asyncio.wait([*getters, stopping], timeout=min(heartbeat, left),
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done and loop.time() < until:
                yield None
            for task in done - {stopping}:
                inbox = getters.pop(task)
                if (message := task.result()) is None:
                    return
                yield message
                getters[asyncio.ensure_future(inbox.get())] = inbox
    finally:
        for task in [*getters, stopping]:
            task.cancel()


# --- chat: WS /videos/<id>/chat -----------------------------------------------------------------


@bp.websocket("/videos/<id:video_id>/chat")
async def chat(video_id: int):
    """Chat about one video; a message may carry ``at``, the moment of the video it is about.

    Client -> server: ``{"text": "nice jump", "at": 12.5}``. Server -> client: ``welcome``
    (your name, your worker), ``message``, ``join``/``leave``, ``relay`` (down/up) and
    ``error`` (to you alone: bad input, too fast, not sent).
    """
    # init_accounts has checked the sign-in and the Origin already (401/403 before accept).
    user = await current_account()
    extensions = current_app.extensions
    relay, drain = extensions["relay"], extensions["drain"]
    async with db.new_session() as session:  # a short session: the websocket may last an hour
        video = await session.get(Video, video_id)
    if video is None or video.status != "ready":
        abort(404, f"there is no video {video_id} ready to watch")
    if drain.started.is_set():
        abort(503, "this server is restarting: connect again")
    room = f"chat:{video_id}"
    async with relay.subscribe(room) as inbox:
        await websocket.accept()  # after subscribing: once connected, a client hears everything
        relay.broker.tell(inbox, {"type": "welcome", "name": user.username, "worker": extensions["worker"],
                                  "relay": relay.state})
        with contextlib.suppress(RelayUnavailable):
            await relay.publish(room, {"type": "join", "name": user.username})
        tasks = [asyncio.ensure_future(_send_from(inbox)),
                 asyncio.ensure_future(_receive_into(relay, inbox, room, user.username, video.duration)),
                 asyncio.ensure_future(_close_on_drain(drain))]
        try:
            # Sending, receiving and waiting for a drain at once; the first to end (we closed
            # the socket: too slow, or draining) ends the others.
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a bug in one of them is raised here, not lost
        finally:  # a client that vanished cancels this handler: this still runs
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(RelayUnavailable):
                await asyncio.shield(relay.publish(room, {"type": "leave", "name": user.username}))


async def _send_from(inbox: asyncio.Queue) -> None:
    while (message := await inbox.get()) is not None:
        await websocket.send_json(message)
    await websocket.close(1013, "too slow: try again later")  # the broker dropped us


async def _close_on_drain(drain) -> None:
    await drain.started.wait()
    await websocket.close(1012, "server restarting: reconnect")  # 1012: service restart


async def _receive_into(relay, inbox: asyncio.Queue, room: str, name: str, duration: float | None) -> None:
    config = current_app.config
    rate = RateLimit(config["CHAT_RATE"], config["CHAT_BURST"])
    refused = 0  # messages refused since the sender was last told
    while True:
        data = await websocket.receive()  # apps/limits.py has refused oversize frames already
        try:
            text, at = _message_of(data, config["CHAT_MAX_TEXT"], duration)
        except ValueError as error:  # bad input is answered, never a crash
            relay.broker.tell(inbox, {"type": "error", "error": str(error)})
            continue
        if not rate.allow():
            # The sender is slowed down, never the readers: extra messages do not reach the room.
            refused += 1
            if refused == 1:
                relay.broker.tell(inbox, {"type": "error", "error": f"too many messages: at most "
                                          f"{config['CHAT_RATE']:g} a second; the extra ones were not sent"})
            continue
        refused = 0
        try:
            await relay.publish(room, {"type": "message", "name": name, "text": text, "at": at})
        except RelayUnavailable as error:
            relay.broker.tell(inbox, {"type": "error", "error": str(error)})


def _message_of(data: Any, max_text: int, duration: float | None) -> tuple[str, float | None]:
    """``(text, at)`` from a frame holding ``{"text": ..., "at": ...}``, or ValueError saying what is wrong."""
    if not isinstance(data, str):
        raise ValueError('send text frames holding JSON like {"text": "hello"}')
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise ValueError('malformed JSON: send {"text": "hello", "at": 12.5}') from None
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise ValueError('expected a JSON object with a string "text"')
    text = payload["text"].strip()
    if not 0 < len(text) <= max_text:
        raise ValueError(f'"text" must have 1 to {max_text} characters')
    at = payload.get("at")
    if at is not None:
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) or at < 0:
            raise ValueError('"at" must be a number of seconds into the video')
        at = round(min(float(at), duration or float(at)), 2)
    return text, at
