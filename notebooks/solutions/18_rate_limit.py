import time

from quart import Quart, websocket

talk = Quart("talk")
RATE, BURST = 1.0, 3  # each sender: 3 messages at once, then 1 a second on average


def now():
    """Seconds on a clock that only goes forward (the check swaps in a clock it controls)."""
    return time.monotonic()


@talk.websocket("/say")
async def say():
    """Say each message back, at most BURST at once and RATE a second per sender."""
    tokens, last = BURST, now()  # this connection's own budget: a flooder spends only its own
    while True:
        text = await websocket.receive()
        current = now()
        tokens = min(BURST, tokens + (current - last) * RATE)  # what the quiet time earned, up to BURST
        last = current
        if tokens < 1:
            await websocket.send_json({"error": "slow down"})  # told, and still connected
            continue
        tokens -= 1
        await websocket.send_json({"said": text})
