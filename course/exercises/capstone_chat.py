"""Exercises of chapter 23, the capstone's watching and chatting.

"Who is watching" is checked against a real server (``serve()``) with websocket clients that
come and go one at a time; after each step the check reads the next message of every client
still there, so a list that went to the wrong room, or never came, is found by its place in
the order. Each check uses video ids of its own, so what an earlier run left behind in your
dictionary cannot mix in.
"""

from __future__ import annotations

import contextlib
import json
import random

from course.exercises import Exercise, Incorrect, NotAttempted, checklist, quiet


def _route(app, path: str) -> bool:
    return any(rule.rule == path and rule.websocket for rule in app.url_map.iter_rules())


def _next(client) -> object:
    """The next list a client gets, or what came instead: "nothing", "closed", "not JSON ..."."""
    from websockets.exceptions import ConnectionClosed

    try:
        frame = client.recv(timeout=2)
    except TimeoutError:
        return "nothing"
    except ConnectionClosed:
        return "closed"
    try:
        message = json.loads(frame)
    except ValueError:
        return f"not JSON: {frame!r}"
    return message.get("watching", message) if isinstance(message, dict) else message


class Watching(Exercise):
    """Build the websocket /videos/<int:video_id>/watching: everyone on a video hears who is watching it."""

    id = "23_watching"
    hints = [
        "Keep one dict per video, `rooms[video_id]`, mapping each connection's inbox (an `asyncio.Queue`) to "
        "its person's name. In the handler: make the inbox, `await websocket.accept()`, add it to the room, "
        "tell everyone, then loop `await websocket.send_json(await inbox.get())`.",
        "Telling everyone: `names = sorted(set(room.values()))` (a person with two tabs is there once), then "
        "`inbox.put_nowait({\"watching\": names})` for every inbox of that room only. Take the connection out "
        "and tell the others again in a `finally:`, which runs however the connection ends.",
    ]
    wrong = [
        ("names = sorted(set(room.values()))", "names = sorted(room.values())"),
        ("room = rooms[video_id]", "room = rooms[0]"),
        ("    finally:  # however the connection ends: a tab closed, the network gone\n"
         "        del room[inbox]\n        tell_everyone(room)\n",
         "    finally:\n        pass\n"),
        ("    room[inbox] = name\n    tell_everyone(room)\n",
         "    room[inbox] = name\n    inbox.put_nowait({\"watching\": sorted(set(room.values()))})\n"),
    ]

    def _check(self, presence):
        from websockets.sync.client import connect

        from course import serve

        if not _route(presence, "/videos/<int:video_id>/watching"):
            raise NotAttempted("Write the websocket route /videos/<int:video_id>/watching on `presence`, run the "
                               "cell, then check again.")
        first, second = random.sample(range(1000, 10**6), 2)  # rooms no earlier run has used
        opened = contextlib.ExitStack()  # closes every client at the end, whatever happened

        def join(name: str, video: int):
            try:
                client = opened.enter_context(
                    connect(f"{server.ws_url}/videos/{video}/watching?name={name}", proxy=None, open_timeout=3))
            except Exception as error:  # refused, or never accepted
                raise Incorrect(f"{name} could not open the websocket ({type(error).__name__}: {error}): "
                                "accept it, then send the list.") from None
            return client

        def leave(client) -> None:
            client.close()

        with quiet(presence), serve(presence, name="23-check") as server, opened, checklist() as expect:
            ada = join("ada", first)
            got = _next(ada)
            if got == "nothing":
                raise Incorrect('ada joined and got nothing: send the newcomer (and everyone else in the room) '
                                '{"watching": [...]} as soon as they join.')
            expect(got == ["ada"], f'ada, alone on the video, got {got!r}, not ["ada"].')
            bob = join("bob", first)
            got = [_next(bob), _next(ada)]
            expect(got == [["ada", "bob"]] * 2, f"bob joined: bob and ada got {got}, not the list "
                                                "['ada', 'bob'] each: tell everyone in the room, not only the "
                                                "newcomer.")
            ada_again = join("ada", first)
            got = [_next(ada_again), _next(ada), _next(bob)]
            why = ("tell everyone in the room on every join" if "nothing" in got
                   else "a person with two tabs is there once")
            expect(got == [["ada", "bob"]] * 3, f"ada opened a second tab: the three connections got {got}, "
                                                f"not ['ada', 'bob'] each: {why}.")
            cyd = join("cyd", second)
            got = _next(cyd)
            expect(got == ["cyd"], f"cyd joined another video and got {got!r}, not [\"cyd\"]: each video has "
                                   "a room of its own.")
            leave(ada)
            got = [_next(bob), _next(ada_again)]
            expect(got == [["ada", "bob"]] * 2,
                   f"ada closed one of her two tabs: bob and her other tab got {got}, not ['ada', 'bob'] each "
                   "(she is still there). Take the connection out, and tell the others, in a `finally:`.")
            leave(ada_again)
            got = _next(bob)
            expect(got == ["bob"], f"ada closed her last tab: bob got {got!r}, not [\"bob\"].")
            leave(bob)
            dee = join("dee", first)
            got = _next(dee)
            expect(got == ["dee"], f"everyone left, then dee came and got {got!r}, not [\"dee\"]: nobody who "
                                   "left may stay in the list.")


q1 = Watching()
