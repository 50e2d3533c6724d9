from quart import Quart, make_response, request

launch = Quart("launch")

@launch.get("/countdown")
async def countdown():
    last_id = request.headers.get("Last-Event-ID", "")
    start = int(last_id) - 1 if last_id.isdigit() else 10

    async def stream():
        for n in range(start, 0, -1):
            yield f"id: {n}\ndata: {n}\n\n"
        yield "event: done\ndata: liftoff\n\n"

    response = await make_response(stream(), {"Content-Type": "text/event-stream"})
    response.timeout = None
    return response
