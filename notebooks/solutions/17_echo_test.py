import asyncio


async def test_echo(client):
    async with client.websocket("/ws") as ws:
        await ws.send("ping")
        answer = await asyncio.wait_for(ws.receive(), 1)  # fail, don't hang, if no answer comes
        assert answer == "You said: ping"
