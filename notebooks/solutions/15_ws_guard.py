from quart import Quart, abort, websocket
from quart_auth import QuartAuth, current_user

room = Quart("room")
room.secret_key = "an exercise key: a real one comes from the environment (chapter 06)"
QuartAuth(room, cookie_secure=False)
ALLOWED_ORIGINS = {"https://room.example"}


@room.websocket("/ws")
async def ws():
    origin = websocket.headers.get("Origin")
    if origin is not None and origin not in ALLOWED_ORIGINS:
        abort(403)  # refuse: 403 Forbidden, before accept()
    if not await current_user.is_authenticated:
        abort(401)  # refuse: 401 Unauthorized, before accept()
    await websocket.accept()
    await websocket.send(f"hello {current_user.auth_id}")
