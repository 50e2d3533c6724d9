import asyncio

from quart import Quart, websocket

from apps.chat import Broker

relay = Quart("relay")


@relay.before_serving
async def make_broker():
    relay.extensions["broker"] = Broker()  # on the server's loop (chapter 00, Step 6)


@relay.websocket("/room/<room>")
async def room_relay(room):
    """Every text a member sends reaches every member of the room, this one included."""
    broker = relay.extensions["broker"]
    async with broker.subscribe(room) as inbox:
        async with asyncio.TaskGroup() as group:
            group.create_task(forward(inbox))
            while True:
                text = await websocket.receive()
                broker.publish(room, {"type": "message", "room": room, "text": text})


async def forward(inbox):
    """Send this member what arrives in its inbox, as it arrives."""
    while True:
        await websocket.send_json(await inbox.get())
