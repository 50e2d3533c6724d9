import re

from quart import Quart, Response, request

clip = Quart("clip")
DATA = bytes(range(256)) * 4  # the 1,024 bytes to serve
# One range, digits only; at most 18 digits, so int() never meets a number too long to convert.
RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


@clip.get("/data")
async def data():
    """DATA, or the one byte range of it that the Range header asks for."""
    size = len(DATA)
    match = RANGE.fullmatch(request.headers.get("Range", ""))
    if match is None or match.groups() == ("", ""):
        return Response(DATA, 200, {"Accept-Ranges": "bytes"})  # nothing we honour: all of it
    first, last = match.groups()
    if first == "":  # bytes=-n: the last n bytes (all of them when n is larger than DATA)
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        return Response("", 416, {"Content-Range": f"bytes */{size}"})
    if end < start:  # bytes=9-5 is not a valid range: ignore it
        return Response(DATA, 200, {"Accept-Ranges": "bytes"})
    return Response(DATA[start:end + 1], 206, {"Content-Range": f"bytes {start}-{end}/{size}"})
