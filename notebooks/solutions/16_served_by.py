from quart import Quart, websocket

tagged = Quart("tagged")


@tagged.get("/")
async def index():
    return {"ok": True}


@tagged.websocket("/ws")
async def hello():
    await websocket.send("hello")


class ServedBy:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)  # websocket and lifespan pass through

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-served-by", b"quart-course")]}
            await send(message)

        await self.app(scope, receive, send_wrapper)


tagged.asgi_app = ServedBy(tagged.asgi_app)
