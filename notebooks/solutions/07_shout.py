from quart import Quart, abort, websocket

from apps.chat import origin_allowed

shouter = Quart("shouter")
ALLOWED = ["http://localhost:*", "http://127.0.0.1:*"]  # pages that may connect; scripts send no Origin


@shouter.websocket("/shout")
async def shout():
    """Answer in capitals; refuse other sites' pages, binary messages and long ones."""
    origin = websocket.headers.get("Origin")
    if origin is not None and not origin_allowed(origin, ALLOWED):
        abort(403)  # before accept(): the handshake gets a plain HTTP 403
    while True:
        message = await websocket.receive()
        if isinstance(message, bytes):
            await websocket.close(1003, "text messages only")
            return
        if len(message) > 100:
            await websocket.close(1009, "at most 100 characters")
            return
        await websocket.send(message.upper())
