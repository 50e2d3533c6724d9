import json

from quart import Quart, request, websocket

uploads = Quart("uploads")
seen = []


@uploads.post("/upload")
async def upload():
    body = await request.get_data()
    seen.append(len(body))
    return {"received": len(body)}


@uploads.websocket("/ws")
async def hello():
    await websocket.send("hello")


class MaxBody:
    """Answer 413 with a JSON error, without calling the app, when Content-Length is over the limit."""

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            lengths = [value for name, value in scope["headers"] if name == b"content-length"]
            if lengths and int(lengths[0]) > self.limit:
                body = json.dumps({"error": f"the body is over {self.limit} bytes"}).encode()
                await send({"type": "http.response.start", "status": 413,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                # "more_body": False is ASGI's default; Quart 0.23's test client needs it spelt out.
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
        await self.app(scope, receive, send)


uploads.asgi_app = MaxBody(uploads.asgi_app, limit=1024)
