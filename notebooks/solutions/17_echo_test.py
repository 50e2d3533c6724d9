async def test_echo(client):
    async with client.websocket("/ws") as ws:
        await ws.send("ping")
        assert await ws.receive() == "You said: ping"
