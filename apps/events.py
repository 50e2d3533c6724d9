"""Server-Sent Events: a counter stream that a browser's EventSource can resume after a drop.

Run it:  hypercorn apps.events:app
    or:  uvicorn --timeout-graceful-shutdown 5 apps.events:app
then open /static/events.html. Without ``--timeout-graceful-shutdown`` uvicorn waits
for every open stream to end before it stops, and an event stream never ends: Ctrl-C
or SIGTERM would hang as long as one page stays open.

The module also holds the course's one SSE parser, ``read_events(text)`` and
``EventStreamParser().feed(chunk)``, used by the notebooks, the exercises and the tests.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from quart import Quart, abort, make_response, redirect, request

from apps.errors import json_errors

STATIC = Path(__file__).resolve().parent.parent / "static"
MAX_ID_DIGITS = 18  # a Last-Event-ID longer than any id this stream sends is refused


def sse(data: object, *, event: str | None = None, id: object = None, retry: int | None = None) -> str:
    """One event in the text/event-stream format; a blank line ends it.

    Each line of ``data`` gets its own ``data:`` field (a bare newline would end the event
    early); the browser joins them back with newlines.
    """
    for name, value in (("event", event), ("id", id)):
        if value is not None and ("\n" in str(value) or "\r" in str(value)):
            raise ValueError(f"an SSE {name} cannot contain a line break: {value!r}")
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    if retry is not None:
        lines.append(f"retry: {retry}")
    text = str(data).replace("\r\n", "\n").replace("\r", "\n")  # SSE's three line endings
    lines += [f"data: {line}" for line in text.split("\n")]
    return "\n".join(lines) + "\n\n"


class EventStreamParser:
    """Read a text/event-stream the way a browser's EventSource does, chunk by chunk.

    ``feed(chunk)`` returns the events completed by that chunk, each a dict::

        {"event": "message", "data": "line 1\\nline 2", "id": "7"}      # + "retry": 1000 if sent

    - lines end with CRLF, LF or CR, even when a chunk splits a CRLF in two;
    - ``data:`` lines join with newlines; an event without data is not dispatched;
    - ``event`` defaults to "message"; ``id`` is the last id seen so far, kept across
      events (EventSource's ``lastEventId``), and an id containing NUL is ignored;
    - ``retry`` only counts when it is all digits (``parser.retry`` keeps the last one);
    - lines starting with ":" are comments (heartbeats) and are ignored, as are unknown fields.
    """

    _LINE = re.compile(r"\r\n|\r|\n")

    def __init__(self) -> None:
        self.last_event_id = ""  # as EventSource's lastEventId: set when an event block ends
        self.retry: int | None = None
        self._id = ""
        self._pending = ""
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._event_retry: int | None = None

    def feed(self, chunk: str) -> list[dict]:
        if not self._started and chunk:
            chunk = chunk.removeprefix("\ufeff")  # a byte order mark may open the stream
            self._started = True
        text = self._pending + chunk
        # A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
        held_cr = text.endswith("\r")
        lines = self._LINE.split(text[:-1] if held_cr else text)
        self._pending = lines.pop() + ("\r" if held_cr else "")  # the unfinished last line
        return [event for line in lines if (event := self._line(line)) is not None]

    def close(self) -> list[dict]:
        """The stream ended: a last CR was a line end after all (anything unfinished is dropped)."""
        return self.feed("\n") if self._pending.endswith("\r") else []

    def _line(self, line: str) -> dict | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = self._event_retry = int(value)
        return None

    def _dispatch(self) -> dict | None:
        data, kind, retry = self._data, self._event, self._event_retry
        self._data, self._event, self._event_retry = [], "", None
        self.last_event_id = self._id  # kept for the events that follow, as EventSource does
        if not data:
            return None
        event = {"event": kind or "message", "data": "\n".join(data), "id": self.last_event_id}
        if retry is not None:
            event["retry"] = retry
        return event


def read_events(text: str) -> list[dict]:
    """Every complete event in ``text`` (an unfinished last event is dropped, as EventSource does)."""
    parser = EventStreamParser()
    return parser.feed(text) + parser.close()


def parse_last_event_id(header: str | None) -> int:
    """The number to resume after: 0 (from the top) when absent, 400 when it is not ours."""
    if not header:
        return 0
    if not (header.isascii() and header.isdigit() and len(header) <= MAX_ID_DIGITS):
        # int() of 4,301 digits raises ValueError: without this check, a 500.
        abort(400, f"Last-Event-ID must be the id of an event of this stream "
                   f"(a number of at most {MAX_ID_DIGITS} digits)")
    return int(header)


def create_app(config: dict | None = None) -> Quart:
    """A new events app; ``config`` may set SSE_HEARTBEAT and SSE_RETRY_MS."""
    app = Quart(__name__, static_folder=str(STATIC), static_url_path="/static")
    # Proxies close a connection that stays silent for a while; a comment line (":") every
    # SSE_HEARTBEAT seconds of quiet keeps it open, and EventSource ignores comments.
    app.config["SSE_HEARTBEAT"] = 15.0
    app.config["SSE_RETRY_MS"] = 1000  # how long EventSource waits before it reconnects after a drop
    app.config.update(config or {})
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py

    @app.get("/")
    async def index():
        """Send browsers to the page that shows the counter (a relative URL works behind a proxy)."""
        return redirect("static/events.html")

    @app.get("/events")
    async def events():
        """Count up once a second (``?interval=`` seconds, at least 0.05), resuming after Last-Event-ID."""
        try:
            interval = float(request.args.get("interval", 1.0))
        except ValueError:
            abort(400, "interval must be a number of seconds")
        if not 0.05 <= interval <= 3600:
            abort(400, "interval must be between 0.05 and 3600 seconds")
        # EventSource sends back the last id it saw when it reconnects: carry on after it.
        start = parse_last_event_id(request.headers.get("Last-Event-ID")) + 1
        heartbeat, retry = app.config["SSE_HEARTBEAT"], app.config["SSE_RETRY_MS"]

        async def stream():
            # A named event with two lines of data, and the reconnection delay for EventSource.
            yield sse(f"counting from {start}\none every {interval:g} s", event="hello", retry=retry)
            number = start
            while True:
                yield sse(number, id=number)
                number += 1
                # A counter knows when its next event is due, so it sleeps in heartbeat-sized slices.
                # A stream fed by a queue cannot: it waits with a limit instead, and sends the
                # comment when the limit runs out (see the board app in chapter 09).
                remaining = interval
                while remaining > heartbeat:
                    await asyncio.sleep(heartbeat)
                    remaining -= heartbeat
                    yield ": heartbeat\n\n"
                await asyncio.sleep(remaining)
                # A client that goes away cancels this generator at an await: there is nothing
                # to clean up here, and the CancelledError is left to propagate.

        response = await make_response(stream(), {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",  # every client must see the live stream
            "X-Accel-Buffering": "no",  # tell nginx-like proxies not to buffer it
        })
        response.timeout = None  # RESPONSE_TIMEOUT (60 s) would otherwise cut the stream off
        return response

    return app


app = create_app()
