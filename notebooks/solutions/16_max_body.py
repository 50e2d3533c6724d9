import json

from quart import Quart, request

uploads = Quart("uploads")
seen = []

@uploads.post("/upload")
async def upload():
    body = await request.get_data()
    seen.append(len(body))
    return {"received": len(body)}

class MaxBody:
    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            lengths = [value for name, value in scope["headers"] if name == b"content-length"]
            if lengths and int(lengths[0]) > self.limit:
                body = json.dumps({"error": f"the body is over {self.limit} bytes"}).encode()
                await send({"type": "http.response.start", "status": 413,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

uploads.asgi_app = MaxBody(uploads.asgi_app, limit=1024)
