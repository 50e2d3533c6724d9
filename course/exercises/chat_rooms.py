"""Exercises of chapter 08, chat rooms.

The checks talk to the learner's app through Quart's test client, with a timeout on every
receive, and wait for the broker by polling it a bounded number of times: order, not time.
"""

from __future__ import annotations

import asyncio
import json

from course.exercises import Exercise, NotAttempted, checklist, quiet


async def _until(condition, tries: int = 300) -> bool:
    """Let the app's tasks run until ``condition()`` holds (or give up)."""
    for _ in range(tries):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def _next(ws, kind: str | None = None, timeout: float = 2) -> dict | str | None:
    """The next JSON message (of ``kind``), or None when nothing comes within ``timeout`` s."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = await ws.receive()
                try:
                    message = json.loads(frame)
                except (TypeError, ValueError):
                    return f"not JSON: {frame!r}"
                if kind is None or (isinstance(message, dict) and message.get("type") == kind):
                    return message
    except TimeoutError:
        return None


class RoomCounts(Exercise):
    """Add GET /rooms to the chat: how many members each room has, {"tea": 2, "lobby": 1}."""

    id = "08_rooms"
    hints = [
        "`broker.rooms` maps each room's name to the set of its members' inboxes, one inbox per "
        "connection; a room with nobody in it is removed.",
        "`{room: len(inboxes) for room, inboxes in broker.rooms.items()}`.",
    ]
    wrong = [("len(inboxes)", "1"), ("len(inboxes)", "len(broker.recent.get(room, ()))")]

    async def _check(self, talk):
        async def counts(client):
            response = await client.get("/rooms")
            return await response.get_json() if response.status_code == 200 else response.status_code

        with quiet(talk), checklist() as expect:
            async with talk.test_app() as test_app:
                client = test_app.test_client()
                expect(await counts(client) == {}, f"with nobody connected GET /rooms said {await counts(client)}, not {{}}.")
                async with client.websocket("/chat/tea?name=a") as a, client.websocket("/chat/tea?name=b") as b, \
                        client.websocket("/chat/lobby?name=c") as c:
                    for ws in (a, b, c):
                        await _next(ws, "join")
                    await a.send('{"text": "a word before counting"}')
                    await _next(a, "message")
                    now = await counts(client)
                    expect(now == {"tea": 2, "lobby": 1}, f"with two members in tea and one in lobby GET /rooms "
                                                          f"said {now}, not {{'tea': 2, 'lobby': 1}}.")
                    del b
                await _until(lambda: not test_app.app.extensions["broker"].rooms)
                now = await counts(client)
                expect(now == {}, f"after everyone left GET /rooms said {now}, not {{}}.")


class Relay(Exercise):
    """Build the websocket /room/<room>: every text a member sends reaches every member of the room."""

    id = "08_relay"
    hints = [
        "Join with `async with broker.subscribe(room) as inbox:`: it gives this connection an inbox and "
        "takes it out of the room however the connection ends. `broker.publish(room, message)` puts a "
        "message in every inbox of the room.",
        "Two jobs at once: a task that sends what arrives in the inbox "
        "(`await websocket.send_json(await inbox.get())` in a loop), next to a loop that receives and "
        "publishes. `async with asyncio.TaskGroup() as group: group.create_task(forward(inbox))`, then "
        "the receiving loop inside the `async with`.",
    ]
    wrong = [
        ("        async with asyncio.TaskGroup() as group:\n"
         "            group.create_task(forward(inbox))\n"
         "            while True:\n"
         "                text = await websocket.receive()\n"
         '                broker.publish(room, {"type": "message", "room": room, "text": text})\n',
         "        while True:\n"
         "            text = await websocket.receive()\n"
         '            broker.publish(room, {"type": "message", "room": room, "text": text})\n'
         "            await websocket.send_json(await inbox.get())\n"),
        ('broker.publish(room, {"type": "message", "room": room,', 'broker.publish("tea", {"type": "message", "room": room,'),
        ("    async with broker.subscribe(room) as inbox:\n",  # joins, and never leaves
         "    inbox = asyncio.Queue()\n    broker.rooms.setdefault(room, set()).add(inbox)\n    if True:\n"),
    ]

    async def _check(self, relay):
        if not any(rule.rule == "/room/<room>" and rule.websocket for rule in relay.url_map.iter_rules()):
            raise NotAttempted("Write the websocket route /room/<room> in the exercise cell, run it, then check again.")

        def said(room: str, text: str) -> dict:
            return {"type": "message", "room": room, "text": text}

        with quiet(relay), checklist() as expect:
            async with relay.test_app() as test_app:
                broker = relay.extensions.get("broker")
                if broker is None:
                    raise NotAttempted("Run the whole exercise cell: it makes the broker in before_serving.")
                client = test_app.test_client()
                async with client.websocket("/room/tea") as ada, client.websocket("/room/tea") as bob, \
                        client.websocket("/room/garden") as eve:
                    joined = await _until(lambda: len(broker.rooms.get("tea", ())) == 2
                                          and len(broker.rooms.get("garden", ())) == 1)
                    members = {room: len(inboxes) for room, inboxes in broker.rooms.items()}
                    expect(joined, f"with two clients in tea and one in garden, broker.rooms holds {members}: "
                                   "subscribe each connection to its room with broker.subscribe(room).")
                    await ada.send("hello")
                    await ada.send("again")
                    heard = [await _next(bob)]
                    heard.append(await _next(bob) if heard[0] is not None else None)
                    expect(heard == [said("tea", "hello"), said("tea", "again")],
                           f'bob, who only listens in tea, heard {heard} after ada said "hello" and "again": '
                           "send what arrives in the inbox while waiting for the client (two tasks).")
                    own = await _next(ada)
                    expect(own == said("tea", "hello"), f"ada did not hear her own message, but {own}.")
                    await eve.send("only the garden")
                    mine = await _next(eve)
                    expect(mine == said("garden", "only the garden"),
                           f'eve said "only the garden" in garden and heard {mine}.')
                    leaked = await _next(bob, timeout=0.3)
                    expect(leaked is None, f"bob in tea heard {leaked}, which was said in another room.")
                left = await _until(lambda: not broker.rooms)
                rooms = {room: len(inboxes) for room, inboxes in broker.rooms.items()}
                expect(left, f"everyone left, but broker.rooms still holds {rooms}: leave the room when "
                             "the connection ends (broker.subscribe's async with does that).")


q1 = RoomCounts()
q2 = Relay()
