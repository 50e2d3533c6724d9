from quart import Quart, Response, request

from apps.video import Unsatisfiable, parse_range

clip = Quart("clip")
DATA = bytes(range(256)) * 4


@clip.get("/data")
async def data():
    try:
        wanted = parse_range(request.headers.get("Range"), len(DATA))
    except Unsatisfiable:
        return Response("", 416, {"Content-Range": f"bytes */{len(DATA)}"})
    if wanted is None:
        return Response(DATA, 200, {"Accept-Ranges": "bytes"})
    start, end = wanted
    return Response(DATA[start:end + 1], 206, {"Content-Range": f"bytes {start}-{end}/{len(DATA)}"})
