"""Accept large uploads safely: the finished app of 11_request_streaming.

It streams to disk, checks the name, limits size, time and crowd, and cleans up.

Run it: ``hypercorn apps.upload:app`` or ``uvicorn apps.upload:app``, then open
http://127.0.0.1:8000/ for a page with a progress bar, or upload from a shell:
``curl -T big.iso http://127.0.0.1:8000/files/big.iso``.

``PUT /files/<name>`` takes the raw file as the request body (no multipart
form): the body arrives in chunks, and each chunk goes straight to disk, so a
1 GiB upload needs no more memory than a 1 KiB one. ``apps/limits.py`` makes the
server wait while the view is a megabyte behind (backpressure), on Quart 0.22 and 0.23.

Every upload holds a connection, a file descriptor and a partial file, so each has
limits: a size (``MAX_UPLOAD``), a silence (``UPLOAD_IDLE_TIMEOUT``), an overall
deadline (``UPLOAD_DEADLINE``: a client sending one byte a second is never idle, yet
never done) and a number at once (``MAX_CONCURRENT_UPLOADS``: past it, 503 with
``Retry-After``).
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import uuid
from pathlib import Path

import aiofiles
from quart import Quart, abort, redirect, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from apps import limits
from apps.errors import json_errors

ROOT = Path(__file__).resolve().parent.parent
# Generated, never committed (git-ignored); COURSE_UPLOAD_DIR points elsewhere (tests, benchmarks).
UPLOADS = Path(os.environ.get("COURSE_UPLOAD_DIR") or ROOT / "uploads")
WRITE_SIZE = 1024 * 1024  # gather the body's small chunks into 1 MiB writes
# The disk, or the user's quota, is full (Windows has no EDQUOT).
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

# A name we are happy to put on disk: letters, digits, dot, dash, underscore; no
# leading dot (hidden files, "." and ".."), no slash or backslash, at most 100 characters.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Names Windows keeps for devices, whatever the extension ("nul.txt" too): a course
# folder may be opened on Windows, or synced to it.
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))}


class InsufficientStorage(HTTPException):
    """507 (RFC 4918): the disk is full. A state of the server, said as such, not a 500."""

    code = 507
    description = "the server has no room for this upload"


def is_safe_name(name: str) -> bool:
    """True if ``name`` can be used as a file name in the upload folder as it is, on any system."""
    return (SAFE_NAME.fullmatch(name) is not None
            and name.split(".")[0].upper() not in RESERVED
            and not name.endswith("."))  # Windows drops a trailing dot: "x." would become "x"


async def save_body(destination: Path, limit: int, idle_timeout: float, deadline: float) -> int:
    """Stream the request body into ``destination``; return the number of bytes written.

    The bytes go to a hidden temporary file next to the destination, which is
    renamed only when the whole body has arrived: nobody ever sees half a file
    under the real name. If anything goes wrong (too large, too slow, or the
    client disconnects, which cancels this coroutine), the partial file is deleted.
    """
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.part")
    size = 0
    try:
        async with asyncio.timeout(deadline):  # the whole upload, however steadily it trickles
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
    except TimeoutError:  # only the overall deadline gets here (the idle one became a 408 above)
        partial.unlink(missing_ok=True)
        abort(408, f"the upload took longer than {deadline} s")
    except IsADirectoryError:  # a folder of that name appeared meanwhile
        partial.unlink(missing_ok=True)
        abort(409, f"{destination.name} is a folder")
    except OSError as error:
        partial.unlink(missing_ok=True)
        if error.errno in DISK_FULL:  # not a bug: say so (507), and the partial file is gone
            raise InsufficientStorage() from None
        raise
    except BaseException:  # includes CancelledError (the client went away): clean up, re-raise
        partial.unlink(missing_ok=True)
        raise
    return size


def create_app(config: dict | None = None) -> Quart:
    """A new upload app; ``config`` may set any key below (tests use a temporary UPLOAD_DIR)."""
    app = Quart(__name__, static_folder=str(ROOT / "static"))
    app.config.update({
        "UPLOAD_DIR": UPLOADS,
        "MAX_UPLOAD": 2 * 1024**3,  # 2 GiB: our own limit, enforced while streaming
        "UPLOAD_IDLE_TIMEOUT": 60,  # seconds without a single byte from the client: 408
        "UPLOAD_DEADLINE": 3600,  # seconds for a whole upload, however steady: 408
        "MAX_CONCURRENT_UPLOADS": 16,  # uploads at once; the next ones get 503 and Retry-After
        "UPLOAD_RETRY_AFTER": 10,  # seconds a refused client is told to wait
        **(config or {}),
    })
    app.config["UPLOAD_DIR"] = Path(app.config["UPLOAD_DIR"])
    # Quart checks MAX_CONTENT_LENGTH (16 MiB by default) against the Content-Length
    # header, and (0.22) against the bytes received but not yet read by the view; it
    # never counts the running total of a streamed body. We lift it to our own limit,
    # and save_body() counts the bytes itself (a chunked body declares no length at all).
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD"]
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    limits.install(app)  # backpressure: at most BODY_BUFFER (1 MiB) unread bytes per upload
    app.extensions["uploads_running"] = 0  # per app, not per module: tests make many apps

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
        config = app.config
        if not is_safe_name(name):
            abort(400, "file names may use letters, digits, '.', '-' and '_' (not first, and no "
                       "'.' last), at most 100 characters, and not a device name such as CON or NUL")
        limit = config["MAX_UPLOAD"]
        if request.content_length is not None and request.content_length > limit:
            abort(413, f"upload larger than {limit} bytes")  # refuse before reading a byte
        destination = config["UPLOAD_DIR"] / name
        if destination.is_dir():
            abort(409, f"{name} is a folder, not a file")
        if app.extensions["uploads_running"] >= config["MAX_CONCURRENT_UPLOADS"]:
            raise ServiceUnavailable(f"{config['MAX_CONCURRENT_UPLOADS']} uploads are running: "
                                     f"try again later", retry_after=config["UPLOAD_RETRY_AFTER"])
        app.extensions["uploads_running"] += 1
        try:
            config["UPLOAD_DIR"].mkdir(parents=True, exist_ok=True)
            existed = destination.exists()
            size = await save_body(destination, limit, config["UPLOAD_IDLE_TIMEOUT"],
                                   config["UPLOAD_DEADLINE"])
        finally:
            app.extensions["uploads_running"] -= 1
        return {"name": name, "size": size}, 200 if existed else 201

    return app


app = create_app()
