from quart import Quart, make_response, request

from apps.events import sse

launch = Quart("launch")


@launch.get("/countdown")
async def countdown():
    """Count down from 10, or from just below the Last-Event-ID a reconnecting client sends."""
    last_id = request.headers.get("Last-Event-ID", "")
    start = int(last_id) - 1 if last_id.isdigit() else 10

    async def stream():
        for n in range(start, 0, -1):
            yield sse(n, id=n)
        yield sse("liftoff", event="done")

    response = await make_response(stream(), {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    response.timeout = None  # no RESPONSE_TIMEOUT for a stream
    return response
