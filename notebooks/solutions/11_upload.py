import os
import tempfile
import uuid
from pathlib import Path

import aiofiles
from quart import Quart, abort, request

from apps.errors import json_errors
from apps.upload import is_safe_name

inbox = Quart("inbox")
json_errors(inbox)  # errors as JSON, as in every app of the course (chapter 01)
FOLDER = Path(tempfile.mkdtemp(prefix="inbox-"))
LIMIT = 1000  # bytes


@inbox.put("/inbox/<path:name>")
async def store(name):
    """Stream the body into FOLDER / name: at most LIMIT bytes, never half a file."""
    if not is_safe_name(name):
        abort(400, "not a plain file name")
    if request.content_length is not None and request.content_length > LIMIT:
        abort(413, f"larger than {LIMIT} bytes")  # refused before reading a byte
    partial = FOLDER / f".{name}.{uuid.uuid4().hex}.part"
    size = 0
    try:
        async with aiofiles.open(partial, "wb") as out:
            async for chunk in request.body:
                size += len(chunk)
                if size > LIMIT:  # a chunked body declares no length: count what arrives
                    abort(413, f"larger than {LIMIT} bytes")
                await out.write(chunk)
        os.replace(partial, FOLDER / name)  # the whole file appears at once
    except BaseException:  # 413, a failed write, or CancelledError when the client leaves
        partial.unlink(missing_ok=True)
        raise
    return {"name": name, "size": size}, 201
