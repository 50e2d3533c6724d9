"""Accept large uploads safely: stream to disk, check the name, limit the size, clean up.

Run it: ``hypercorn apps.upload:app`` or ``uvicorn apps.upload:app``, then open
http://127.0.0.1:8000/ for a page with a progress bar, or upload from a shell:
``curl -T big.iso http://127.0.0.1:8000/files/big.iso``.

``PUT /files/<name>`` takes the raw file as the request body (no multipart
form): the body arrives in chunks, and each chunk goes straight to disk, so a
1 GiB upload needs no more memory than a 1 KiB one.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path

import aiofiles
from quart import Quart, Request, abort, redirect, request
from quart.asgi import ASGIHTTPConnection
from quart.wrappers.request import Body

from apps.errors import json_errors

ROOT = Path(__file__).resolve().parent.parent
# Generated, never committed (git-ignored); COURSE_UPLOAD_DIR points elsewhere (tests, benchmarks).
UPLOADS = Path(os.environ.get("COURSE_UPLOAD_DIR") or ROOT / "uploads")
MAX_UPLOAD = 2 * 1024**3  # 2 GiB: our own limit, enforced while streaming
WRITE_SIZE = 1024 * 1024  # gather the body's small chunks into 1 MiB writes
IDLE_TIMEOUT = 60  # seconds without a single byte from the client: give up (408)

# A name we are happy to put on disk: letters, digits, dot, dash, underscore; no
# leading dot (hidden files, "." and ".."), no slash or backslash, at most 100 characters.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class BoundedBody(Body):
    """A request body that holds at most ~1 MiB that the view has not read yet.

    Quart 0.22 reads the network as fast as it can and appends every chunk to
    the body, whether or not the view keeps up: when the disk is slower than the
    network, a "streamed" upload piles up in memory (we measured 85 MiB for a
    512 MiB upload). With ``room()`` the reader waits instead, so TCP's own flow
    control slows the client down. A view that awaits the whole body
    (``await request.get_data()``) never has to wait for room.
    """

    high_water = 1024 * 1024

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._room = asyncio.Event()
        self._room.set()
        self._whole = False

    def append(self, data: bytes) -> None:
        super().append(data)
        if len(self._data) >= self.high_water and not self._whole:
            self._room.clear()

    async def __anext__(self) -> bytes:
        try:
            return await super().__anext__()
        finally:
            self._room.set()  # the view took what was buffered

    def __await__(self):
        self._whole = True  # the view wants everything at once: never hold the reader back
        self._room.set()
        return super().__await__()

    async def room(self) -> None:
        await self._room.wait()


class BoundedRequest(Request):
    body_class = BoundedBody


class BackpressureConnection(ASGIHTTPConnection):
    """Quart's ASGI glue, but the reader waits for room before receiving more."""

    async def handle_messages(self, request: Request, receive) -> None:
        while True:
            if isinstance(request.body, BoundedBody):
                await request.body.room()
            message = await receive()
            if message["type"] == "http.request":
                request.body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    request.body.set_complete()
            elif message["type"] == "http.disconnect":
                return


def is_safe_name(name: str) -> bool:
    """True if ``name`` can be used as a file name in the upload folder as it is."""
    return SAFE_NAME.fullmatch(name) is not None


async def save_body(destination: Path, limit: int, idle_timeout: float = IDLE_TIMEOUT) -> int:
    """Stream the request body into ``destination``; return the number of bytes written.

    The bytes go to a hidden temporary file next to the destination, which is
    renamed only when the whole body has arrived: nobody ever sees half a file
    under the real name. If anything goes wrong (too large, too slow, or the
    client disconnects, which cancels this coroutine), the partial file is deleted.
    """
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.part")
    size = 0
    try:
        async with aiofiles.open(partial, "wb") as out:
            buffer = bytearray()
            writing = None  # the previous 1 MiB write, still running in aiofiles' thread
            try:
                chunks = aiter(request.body)
                while True:
                    try:
                        async with asyncio.timeout(idle_timeout):  # BODY_TIMEOUT only covers whole-body reads
                            chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        abort(408, f"no data for {idle_timeout} s")
                    size += len(chunk)
                    if size > limit:  # Content-Length was absent or lied: count what really arrives
                        abort(413, f"upload larger than {limit} bytes")
                    buffer += chunk
                    if len(buffer) >= WRITE_SIZE:
                        # Let a thread write this MiB while we receive the next one; wait for
                        # the previous write first, so that only one is ever in flight.
                        if writing is not None:
                            await writing
                        writing, buffer = asyncio.ensure_future(out.write(buffer)), bytearray()
                if writing is not None:
                    await writing  # a failed write (disk full) raises here
                    writing = None
                await out.write(buffer)
            finally:
                if writing is not None:  # never close the file under a running write
                    await asyncio.gather(writing, return_exceptions=True)
        os.replace(partial, destination)  # atomic: the old file or the new one, never a mix
    except BaseException:  # includes CancelledError (the client went away): clean up, re-raise
        partial.unlink(missing_ok=True)
        raise
    return size


def create_app(upload_dir: Path | str | None = None, max_upload: int = MAX_UPLOAD) -> Quart:
    app = Quart(__name__, static_folder=str(ROOT / "static"))
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    app.request_class = BoundedRequest
    app.asgi_http_class = BackpressureConnection
    app.config["UPLOAD_DIR"] = Path(upload_dir or UPLOADS)
    app.config["MAX_UPLOAD"] = max_upload
    app.config["UPLOAD_IDLE_TIMEOUT"] = IDLE_TIMEOUT
    # Quart checks MAX_CONTENT_LENGTH (16 MiB by default) against the Content-Length
    # header, and against the bytes received but not yet read by the view; it never
    # counts the running total of a streamed body. The 16 MiB default could answer 413
    # in the middle of a good upload whenever the view falls behind, so we lift it to
    # our own limit, and save_body() counts the bytes itself (a chunked body declares
    # no length at all).
    app.config["MAX_CONTENT_LENGTH"] = max_upload

    @app.before_serving
    async def make_folder() -> None:
        app.config["UPLOAD_DIR"].mkdir(parents=True, exist_ok=True)

    @app.get("/")
    async def index():
        """The upload page (a relative redirect, so it works behind a proxy prefix too)."""
        return redirect("static/upload.html")

    @app.get("/files")
    async def list_files():
        """The uploaded files and their sizes."""
        folder = app.config["UPLOAD_DIR"]
        files = sorted(p for p in folder.glob("*") if p.is_file() and is_safe_name(p.name))
        return {"files": [{"name": p.name, "size": p.stat().st_size} for p in files]}

    # <path:name> lets names with slashes reach the view, so "../x" gets a clear 400
    # instead of a confusing 404 from the router.
    @app.put("/files/<path:name>")
    async def upload(name: str):
        """Store the request body as the file ``name``."""
        if not is_safe_name(name):
            abort(400, "file names may use letters, digits, '.', '-' and '_' (not first), "
                       "at most 100 characters")
        limit = app.config["MAX_UPLOAD"]
        if request.content_length is not None and request.content_length > limit:
            abort(413, f"upload larger than {limit} bytes")  # refuse before reading a byte
        folder = app.config["UPLOAD_DIR"]
        folder.mkdir(parents=True, exist_ok=True)
        destination = folder / name
        existed = destination.exists()
        size = await save_body(destination, limit, app.config["UPLOAD_IDLE_TIMEOUT"])
        return {"name": name, "size": size}, 200 if existed else 201

    return app


app = create_app()
