import asyncio

from quart import Quart, websocket

ticker = Quart("ticker")
INBOX = 5  # prices waiting for one client, at most
subscribers = set()  # the inbox (an asyncio.Queue) of every connected client


def publish(price):
    """Put {"price": price} in every subscriber's inbox, without ever waiting.

    A subscriber whose inbox is full is dropped: taken out of `subscribers`, and its
    websocket closes with 1013 ("try again later"). Nobody else waits for it.
    """
    for inbox in list(subscribers):
        if inbox.qsize() < INBOX:
            inbox.put_nowait({"price": price})
        else:  # this client is INBOX prices behind: drop it rather than hold more for it
            subscribers.discard(inbox)
            inbox.put_nowait(None)  # the spare place: tells its handler to say goodbye


@ticker.websocket("/prices")
async def prices():
    """Send every published price to this client, until it leaves or falls INBOX behind."""
    inbox = asyncio.Queue(INBOX + 1)  # made here, on the server's loop; one spare place for None
    subscribers.add(inbox)
    try:
        await websocket.accept()  # the handshake completes now, before the first price
        while (message := await inbox.get()) is not None:
            await websocket.send_json(message)
        await websocket.close(1013, "too slow: try again later")
    finally:
        subscribers.discard(inbox)
