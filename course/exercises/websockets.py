"""Exercises of chapter 07, websockets.

Every receive has a timeout: Quart 0.23's test client waits for ever when the app closes
a websocket, so close codes are checked against a real server (``serve()``).
"""

from __future__ import annotations

import asyncio
import json

from course.exercises import Exercise, Incorrect, NotAttempted, checklist, expect, quiet


async def _receive(ws, what: str, timeout: float = 2):
    try:
        return await asyncio.wait_for(ws.receive(), timeout)
    except asyncio.TimeoutError:
        raise Incorrect(f"no answer within {timeout} s after {what}.") from None
    except Incorrect:
        raise
    except Exception as error:  # the test client re-raises the handler's crash, or reports a close
        raise Incorrect(f"the websocket closed after {what} ({type(error).__name__}: {error}): "
                        "the handler must answer, not crash.") from None


class Adder(Exercise):
    """A websocket /add: {"a": 2, "b": 3} -> {"sum": 5}; malformed JSON -> {"error": ...}, then carry on."""

    id = "07_adder"
    hints = [
        "`websocket.receive_json()` raises `json.JSONDecodeError` (a kind of `ValueError`) when the "
        "frame is not JSON: catch that one, answer with `send_json`, and `continue` the loop.",
        'The answer is `{"sum": numbers["a"] + numbers["b"]}`, and the except clause is '
        "`except json.JSONDecodeError:`.",
    ]
    wrong = [
        ("except json.JSONDecodeError:", "except KeyError:"),
        ('numbers["a"] + numbers["b"]', 'numbers["a"]'),
        ("            continue\n", "            return\n"),
    ]

    async def _check(self, adder):
        with quiet(adder):
            async with adder.test_app() as app:
                try:
                    async with app.test_client().websocket("/add") as ws:
                        await ws.send(json.dumps({"a": 2, "b": 3}))
                        answer = json.loads(await _receive(ws, '{"a": 2, "b": 3}'))
                        expect(answer == {"sum": 5}, f'{{"a": 2, "b": 3}} got {answer!r}, not {{"sum": 5}}.')
                        await ws.send("{oops")
                        answer = json.loads(await _receive(ws, "malformed JSON"))
                        expect(isinstance(answer, dict) and "error" in answer,
                               f'malformed JSON got {answer!r}: answer with {{"error": "..."}}.')
                        await ws.send(json.dumps({"a": 10, "b": -4}))
                        answer = json.loads(await _receive(ws, "a good message after a bad one"))
                        expect(answer == {"sum": 6}, f'{{"a": 10, "b": -4}} got {answer!r}, not {{"sum": 6}}.')
                except Incorrect:
                    raise
                except Exception as error:
                    raise Incorrect(f"the handler crashed: {type(error).__name__}: {error}") from None


class Online(Exercise):
    """A websocket /online that keeps `online` up to date: add on connect, remove however the client leaves."""

    id = "07_online"
    hints = [
        "A client that goes away *cancels* the handler: `asyncio.CancelledError` is raised at the "
        "`await`, and it is not an `Exception`, so `except Exception:` never sees it.",
        "Wrap the receive loop in `try:` ... `finally: online.discard(me)`: `finally` runs on "
        "every way out, cancellation included, and lets the cancellation carry on.",
    ]
    wrong = [
        ("    finally:\n", "    except Exception:\n"),
        ("        online.discard(me)\n", "        pass\n"),
    ]

    async def _check(self, lobby):
        async def count(client) -> int:
            return (await (await client.get("/count")).get_json())["online"]

        async def wait_for_count(client, expected: int) -> int:
            for _ in range(100):
                if (now := await count(client)) == expected:
                    break
                await asyncio.sleep(0.01)
            return now

        with quiet(lobby):
            async with lobby.test_app() as app:
                client = app.test_client()
                start = await count(client)
                async with client.websocket("/online") as first:
                    async with client.websocket("/online") as second:
                        now = await wait_for_count(client, start + 2)
                        expect(now == start + 2, f"with two clients connected /count says {now}, "
                                                 f"expected {start + 2}.")
                        del second
                    now = await wait_for_count(client, start + 1)
                    expect(now == start + 1, f"a client left, but /count still says {now}: the clean-up "
                                             "did not run when the handler was cancelled.")
                    del first
                now = await wait_for_count(client, start)
                expect(now == start, f"every client left, but /count says {now}.")


class GuardedEcho(Exercise):
    """Build the websocket /shout: capitals back, other sites' pages refused, 1003 for bytes, 1009 past 100."""

    id = "07_shout"
    hints = [
        "Check the page first: `origin = websocket.headers.get(\"Origin\")`; a script sends none. For a "
        "page that is not on the list, `abort(403)` before anything else: the handshake gets a plain "
        "HTTP 403 and the websocket never opens. `origin_allowed(origin, ALLOWED)` reads the list.",
        "Then loop: `message = await websocket.receive()`; bytes are `isinstance(message, bytes)`. "
        "`await websocket.close(1003, \"text only\")` (or 1009 for `len(message) > 100`), then `return`; "
        "otherwise `await websocket.send(message.upper())`.",
    ]
    wrong = [
        ("        abort(403)", "        pass"),
        ("origin is not None and not origin_allowed(origin, ALLOWED)", 'not origin_allowed(origin or "", ALLOWED)'),
        ("len(message) > 100", "len(message) >= 100"),
        ("websocket.close(1009", "websocket.close(1008"),
        ("        await websocket.send(message.upper())\n", "        await websocket.send(message.upper())\n        return\n"),
    ]

    def _check(self, shouter):
        from websockets.exceptions import ConnectionClosed, InvalidStatus
        from websockets.sync.client import connect

        from course import serve

        if not any(rule.rule == "/shout" and rule.websocket for rule in shouter.url_map.iter_rules()):
            raise NotAttempted("Write the websocket route /shout in the exercise cell, run it, then check again.")

        def talk(frames, origin=None):
            """Send each frame; return what came back, or ("closed", code) or ("refused", status)."""
            answers = []
            try:
                with connect(server.ws_url + "/shout", origin=origin, proxy=None, open_timeout=5) as ws:
                    for frame in frames:
                        ws.send(frame)
                        answers.append(ws.recv(timeout=3))
            except InvalidStatus as refused:
                return [("refused", refused.response.status_code)]
            except ConnectionClosed as closed:
                answers.append(("closed", closed.rcvd.code if closed.rcvd else 1006))
            except TimeoutError:
                answers.append("no answer within 3 s")
            return [f"<{len(a)} characters>" if isinstance(a, str) and len(a) > 20 else a for a in answers]

        long = "a" * 100
        with quiet(shouter), serve(shouter, name="07-check") as server, checklist() as expect:
            got = talk(["hi", "again"])
            expect(got == ["HI", "AGAIN"], f'a script (no Origin) sent "hi", "again" and got {got}, not '
                                           '["HI", "AGAIN"]: answer every message, for as long as the client stays.')
            got = talk(["hi"], origin="http://127.0.0.1:8888")
            expect(got == ["HI"], f"a page of http://127.0.0.1:8888 (on ALLOWED) got {got}, not ['HI'].")
            got = talk(["hi"], origin="https://evil.example")
            expect(got == [("refused", 403)], f"a page of https://evil.example got {got}, not a refused handshake "
                                              "(403): refuse it before accepting.")
            got = talk([b"\x00\x01"])
            expect(got == [("closed", 1003)], f"a binary message got {got}, not a close with 1003.")
            got = talk([long, long + "a"])
            expect(got == ["<100 characters>", ("closed", 1009)],
                   f"100 characters, then 101, got {got}: 100 are fine, 101 close with 1009.")


q1 = Adder()
q2 = Online()
q3 = GuardedEcho()
