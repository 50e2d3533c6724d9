"""Server-Sent Events: a counter stream that a browser's EventSource can resume after a drop.

Run it:  hypercorn apps.events:app   or   uvicorn apps.events:app   then open /static/events.html
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from quart import Quart, jsonify, make_response, redirect, request

STATIC = Path(__file__).resolve().parent.parent / "static"

app = Quart(__name__, static_folder=str(STATIC), static_url_path="/static")
# Proxies close a connection that stays silent for a while; a comment line (":") every
# HEARTBEAT seconds of quiet keeps it open, and EventSource ignores comments.
app.config["SSE_HEARTBEAT"] = 15.0
RETRY_MS = 1000  # how long EventSource waits before it reconnects after a drop


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
        return jsonify(error="interval must be a number of seconds"), 400
    if not 0.05 <= interval <= 3600:
        return jsonify(error="interval must be between 0.05 and 3600 seconds"), 400
    # EventSource sends back the last id it saw when it reconnects: carry on after it.
    last_id = request.headers.get("Last-Event-ID", "")
    start = int(last_id) + 1 if last_id.isascii() and last_id.isdigit() else 1  # else: from the top

    heartbeat = app.config["SSE_HEARTBEAT"]

    async def stream():
        # A named event with two lines of data, and the reconnection delay for EventSource.
        yield sse(f"counting from {start}\none every {interval:g} s", event="hello", retry=RETRY_MS)
        number = start
        while True:
            yield sse(number, id=number)
            number += 1
            # A counter knows when its next event is due, so it sleeps in heartbeat-sized slices.
            # A stream fed by a queue cannot: it waits with a limit instead, and sends the
            # comment when the limit runs out (see the board app in notebook 07, Step 5).
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

