"""Stream a video the way players expect, with byte ranges: the finished app of 12_response_streaming.

Run it: ``hypercorn apps.video:app`` or ``uvicorn apps.video:app``, then open
http://127.0.0.1:8000/. The sample video is made once by ``python -m course setup``
(in ``media/``, or ``$COURSE_MEDIA_DIR``); without it the app answers a 404 that says so.

A ``<video>`` element never downloads a file from start to end. It asks for
``Range: bytes=0-``, reads the header of the file, and when you drag the slider
it asks for ``Range: bytes=<somewhere in the middle>-``. A server that ignores
the header (a plain streamed 200) leaves the player unable to jump ahead.

Every response holds a connection and an open file until it ends, and a client that
reads a few bytes now and then never ends it: ``MEDIA_DEADLINE`` (an hour) does. A
player that is cut off can ask for the rest with a new Range request.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
from email.utils import format_datetime, parsedate_to_datetime
from datetime import datetime, timezone
from pathlib import Path

import aiofiles
from quart import Quart, Response, redirect, request

from apps.errors import json_errors

ROOT = Path(__file__).resolve().parent.parent
# Generated, never committed (git-ignored); COURSE_MEDIA_DIR points elsewhere (tests, benchmarks).
MEDIA = Path(os.environ.get("COURSE_MEDIA_DIR") or ROOT / "media")
SAMPLE = "sample.webm"
CHUNK = 1024 * 1024  # read 1 MiB at a time: memory stays flat whatever the file size

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class Unsatisfiable(Exception):
    """The Range asks for bytes the file does not have: answer 416."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The byte range ``(start, end)`` (end included) that ``header`` asks for.

    ``None`` means "send the whole file": there is no header, or it is not one
    we honour. RFC 9110 lets a server ignore any Range header, and requires it
    to ignore one with an unknown unit (``pages=``). An invalid one it may ignore
    or reject with 416; ignoring it (send the whole file, 200) is the friendlier,
    common choice, and the one made here. Examples for a 1000-byte file::

        bytes=0-99     -> (0, 99)       the first 100 bytes
        bytes=900-     -> (900, 999)    open-ended: from 900 to the end
        bytes=-100     -> (900, 999)    suffix: the LAST 100 bytes
        bytes=-5000    -> (0, 999)      a suffix longer than the file is the whole file
        bytes=5000-    -> Unsatisfiable (416)
        bytes=0-1,5-6  -> None          several ranges: we send the whole file instead
        pages=1-2      -> None          not a byte range: ignored
    """
    if header is None:
        return None
    match = RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None  # malformed, another unit, or several ranges ("0-1,5-6"): ignore it
    try:
        first = int(match.group(1)) if match.group(1) else None
        last = int(match.group(2)) if match.group(2) else None
    except ValueError:  # absurdly long digit strings
        return None
    if first is None:  # suffix range "-N": the last N bytes
        if last == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - last), size - 1
    if last is not None and last < first:
        return None  # "500-100" is invalid, so it is ignored
    if first >= size:
        raise Unsatisfiable
    return first, size - 1 if last is None else min(last, size - 1)


def _etag(stat: os.stat_result) -> str:
    # Changes whenever the file does: a player resuming with If-Range never
    # stitches bytes of two different versions together.
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def _if_range_allows(header: str | None, etag: str, modified: datetime) -> bool:
    """If-Range: serve the range only if the file is still the one the client has."""
    if header is None:
        return True
    header = header.strip()
    if header.startswith(('"', "W/")):
        return header == etag  # strong comparison: a weak tag never matches
    try:
        return parsedate_to_datetime(header) == modified
    except (TypeError, ValueError):
        return False


def _none_match(header: str | None, etag: str) -> bool:
    """If-None-Match: true when the client already has this version (RFC 9110 §13.1.2).

    The comparison is *weak*: ``W/"x"`` matches ``"x"``, since only the opaque part
    counts; ``*`` matches any current file. (If-Range, above, is strong on purpose.)
    """
    if header is None:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in [tag.removeprefix("W/") for tag in tags]


async def _file_chunks(path: Path, start: int, length: int):
    """Yield ``length`` bytes of ``path`` from ``start``, one chunk at a time."""
    async with aiofiles.open(path, "rb") as file:
        await file.seek(start)
        while length > 0:
            chunk = await file.read(min(CHUNK, length))
            if not chunk:
                break  # the file shrank meanwhile: end the body early rather than hang
            length -= len(chunk)
            yield chunk


async def _nothing():
    return
    yield  # an empty async generator: the body of a HEAD response


def send_ranged(path: Path) -> Response:
    """A response for ``path`` that honours Range, If-Range and If-None-Match."""
    stat = path.stat()
    size, etag = stat.st_size, _etag(stat)
    modified = datetime.fromtimestamp(int(stat.st_mtime), timezone.utc)
    headers = {
        "Accept-Ranges": "bytes",  # tells the player it may ask for ranges
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Content-Type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
    }
    if _none_match(request.headers.get("If-None-Match"), etag):
        return Response("", 304, headers)  # the client's copy is current: no body
    status, start, length = 200, 0, size
    if _if_range_allows(request.headers.get("If-Range"), etag, modified):
        try:
            wanted = parse_range(request.headers.get("Range"), size)
        except Unsatisfiable:
            headers["Content-Range"] = f"bytes */{size}"  # tells the client the real size
            headers["Content-Type"] = "application/json"
            return Response('{"error": "range not satisfiable"}', 416, headers)
        if wanted is not None:
            start, end = wanted
            status, length = 206, end - start + 1
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(length)
    body = _nothing() if request.method == "HEAD" else _file_chunks(path, start, length)
    response = Response(body, status, headers)
    response.timeout = None  # a film may take longer than RESPONSE_TIMEOUT (60 s): see Deadline
    return response


class Deadline:
    """ASGI middleware: give every HTTP exchange ``MEDIA_DEADLINE`` seconds, then end it.

    At the deadline the app hears that the client has gone (``http.disconnect``), as when
    a client hangs up: Quart cancels the response, the file is closed, and the server
    closes the connection, on Quart 0.22 and 0.23 alike. (Quart's own ``response.timeout``
    only stops the sending: on 0.23 the connection then stays open, Quart waiting to hear
    from the client.)
    """

    def __init__(self, app: Quart, asgi_app) -> None:
        self.app, self.asgi_app = app, asgi_app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.asgi_app(scope, receive, send)
        deadline = asyncio.get_running_loop().time() + self.app.config["MEDIA_DEADLINE"]

        async def receive_until_deadline() -> dict:
            try:
                async with asyncio.timeout_at(deadline):
                    return await receive()
            except TimeoutError:
                return {"type": "http.disconnect"}

        await self.asgi_app(scope, receive_until_deadline, send)


def create_app(config: dict | None = None) -> Quart:
    """A new video app; ``config`` may set MEDIA_DIR (tests use a temporary folder) and MEDIA_DEADLINE."""
    app = Quart(__name__, static_folder=str(ROOT / "static"))
    app.config.update({
        "MEDIA_DIR": MEDIA,
        "MEDIA_DEADLINE": 3600,  # seconds for one response, however steadily the client reads
        **(config or {}),
    })
    app.config["MEDIA_DIR"] = Path(app.config["MEDIA_DIR"])
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    app.asgi_app = Deadline(app, app.asgi_app)

    @app.get("/")
    async def index():
        """The player page (a relative redirect, so it works behind a proxy prefix too)."""
        return redirect("static/video.html")

    @app.route("/media/<name>", methods=["GET", "HEAD"])
    async def media(name: str):
        """One file of the media folder, with Range support so players can seek."""
        path = app.config["MEDIA_DIR"] / name
        if NAME.fullmatch(name) and path.is_file():
            return send_ranged(path)
        if name == SAMPLE:  # made at set-up time, not committed: say how to make it
            return {"error": f"the sample video is missing ({path}): run `python -m course setup` "
                             "in the course folder, then reload"}, 404
        return {"error": f"no media file named {name!r}"}, 404

    return app


app = create_app()
