import asyncio
from collections import defaultdict

from quart import Quart, websocket

presence = Quart("presence")
rooms = defaultdict(dict)  # video id -> {a connection's inbox: the name of who is watching there}


def tell_everyone(room):
    """Put the names of the people in `room`, each once, into every inbox of that room."""
    names = sorted(set(room.values()))
    for inbox in room:
        if inbox.full():
            inbox.get_nowait()  # an older list not sent yet: only the newest one matters
        inbox.put_nowait({"watching": names})


@presence.websocket("/videos/<int:video_id>/watching")
async def watching(video_id):
    """Everyone watching this video hears, on every join and leave, who is watching it."""
    name = websocket.args.get("name", "someone")
    room = rooms[video_id]
    inbox = asyncio.Queue(1)  # bounded (chapter 18): one list waiting is all a reader needs
    await websocket.accept()
    room[inbox] = name
    tell_everyone(room)
    try:
        while True:
            await websocket.send_json(await inbox.get())
    finally:  # however the connection ends: a tab closed, the network gone
        del room[inbox]
        tell_everyone(room)
