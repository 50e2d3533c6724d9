from quart import Quart, websocket

lobby = Quart("lobby")
online = set()

@lobby.get("/count")
async def count():
    return {"online": len(online)}

@lobby.websocket("/online")
async def join():
    me = object()
    online.add(me)
    try:
        while True:
            await websocket.receive()
    finally:
        online.discard(me)
