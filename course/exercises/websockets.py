"""Exercises of chapter 07, websockets."""

from __future__ import annotations

import asyncio
import json

from course.exercises import Exercise, Incorrect, expect, quiet


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


q1 = Adder()
q2 = Online()
