import json

from quart import Quart, websocket

adder = Quart("adder")

@adder.websocket("/add")
async def add():
    while True:
        try:
            numbers = await websocket.receive_json()
        except json.JSONDecodeError:
            await websocket.send_json({"error": "malformed JSON: send {\"a\": 1, \"b\": 2}"})
            continue
        await websocket.send_json({"sum": numbers["a"] + numbers["b"]})
