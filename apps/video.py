"""Stream a video the way players expect: byte ranges, so the player can seek.

Run it: ``hypercorn apps.video:app`` or ``uvicorn apps.video:app``, then open
http://127.0.0.1:8000/ (``python -m course setup`` makes the sample video first;
the app also makes it on start-up if it is missing).

A ``<video>`` element never downloads a file from start to end. It asks for
``Range: bytes=0-``, reads the header of the file, and when you drag the slider
it asks for ``Range: bytes=<somewhere in the middle>-``. A server that ignores
the header (a plain streamed 200) leaves the player unable to jump ahead.
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
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return Response("", 304, headers)
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
    response.timeout = None  # a film may take longer than RESPONSE_TIMEOUT (60 s) to send
    return response


def make_sample_media(directory: Path = MEDIA, seconds: int = 30, force: bool = False) -> Path:
    """Make ``sample.webm`` (VP8, 320x240, a counter and a moving bar) if it is missing.

    Generated locally with PyAV (its wheel ships the encoder), so nothing is
    downloaded and no video sits in git. Takes a few seconds; idempotent.
    """
    path = directory / SAMPLE
    if path.exists() and not force:
        return path
    import av
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    fps, width, height = 24, 320, 240
    with av.open(str(partial), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 800_000  # a ceiling: simple pictures like these compress to ~300 kB
        for index in range(seconds * fps):
            t = index / fps
            frame = np.zeros((height, width, 3), np.uint8)
            frame[..., 0] = int(127 + 127 * np.sin(t))  # the colour drifts with time
            frame[..., 2] = 90
            frame[height - 24:, : int(width * t / seconds)] = 255  # a progress bar
            _draw_number(frame, int(t), x=110, y=60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(path)
    return path


# Seven-segment digits: which of the segments a b c d e f g are lit.
_SEGMENTS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def _draw_number(frame, number: int, x: int, y: int, w: int = 40, h: int = 100, t: int = 10) -> None:
    for digit in f"{number:02d}":
        boxes = {"a": (0, 0, w, t), "b": (w - t, 0, t, h // 2), "c": (w - t, h // 2, t, h // 2),
                 "d": (0, h - t, w, t), "e": (0, h // 2, t, h // 2), "f": (0, 0, t, h // 2),
                 "g": (0, h // 2 - t // 2, w, t)}
        for segment in _SEGMENTS[int(digit)]:
            bx, by, bw, bh = boxes[segment]
            frame[y + by:y + by + bh, x + bx:x + bx + bw] = 255
        x += w + 20


def create_app(media_dir: Path | str | None = None) -> Quart:
    app = Quart(__name__, static_folder=str(ROOT / "static"))
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    app.config["MEDIA_DIR"] = Path(media_dir or MEDIA)

    @app.before_serving
    async def ensure_sample() -> None:
        if app.config["MEDIA_DIR"] == MEDIA:
            await asyncio.to_thread(make_sample_media)  # seconds of encoding: not on the event loop

    @app.get("/")
    async def index():
        """The player page (a relative redirect, so it works behind a proxy prefix too)."""
        return redirect("static/video.html")

    @app.route("/media/<name>", methods=["GET", "HEAD"])
    async def media(name: str):
        """One file of the media folder, with Range support so players can seek."""
        path = app.config["MEDIA_DIR"] / name
        if not NAME.fullmatch(name) or not path.is_file():
            return {"error": f"no media file named {name!r}"}, 404
        return send_ranged(path)

    return app


app = create_app()
