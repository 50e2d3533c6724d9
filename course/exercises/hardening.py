"""Exercises of chapter 18, hardening.

The checks count and order what comes back; they never time anything. The rate limit
runs on a clock the check controls (it swaps the cell's ``now()``), and the bounded feed
is checked against a real server (``serve()``), since Quart 0.23's test client waits for
ever when the app closes a websocket.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time

from course.exercises import Exercise, Incorrect, NotAttempted, checklist, quiet


def _view(app, path: str):
    """The websocket view of ``app`` at ``path``, or None."""
    return next((app.view_functions[rule.endpoint] for rule in app.url_map.iter_rules()
                 if rule.rule == path and rule.websocket), None)


def _inboxes(subscribers) -> str:
    return f"{len(subscribers)} inbox" + ("" if len(subscribers) == 1 else "es")


def _short(answer) -> str:
    """An answer as the feedback shows it: 'said a1', 'error', 'no answer', ..."""
    if isinstance(answer, dict) and set(answer) == {"said"}:
        return f"said {answer['said']}"
    if isinstance(answer, dict) and "error" in answer:
        return "error"
    return answer if isinstance(answer, str) else repr(answer)


class _Sender:
    """One test-client websocket: send a text, return the short form of the answer."""

    def __init__(self, ws) -> None:
        self.ws, self.gone = ws, None

    async def say(self, text: str) -> str:
        if self.gone:  # no answer came once: do not wait again on every message
            return self.gone
        await self.ws.send(text)
        try:
            frame = await asyncio.wait_for(self.ws.receive(), 2)
        except asyncio.TimeoutError:
            self.gone = "no answer"
            return self.gone
        except Exception as error:  # the handler crashed or closed the websocket
            self.gone = f"closed ({type(error).__name__})"
            return self.gone
        try:
            return _short(json.loads(frame))
        except (TypeError, ValueError):
            return f"not JSON: {frame!r}"


class SenderLimit(Exercise):
    """Build the websocket /say: {"said": text} back, at most BURST at once and RATE a second per sender."""

    id = "18_rate_limit"
    hints = [
        "Keep the budget in the handler, so that every connection has its own: `tokens, last = "
        "BURST, now()` before the loop. For each message, add what the time since `last` earned "
        "(`(now() - last) * RATE`), but never more than `BURST` in all, and remember the time.",
        "With `tokens >= 1`: `tokens -= 1` and `await websocket.send_json({\"said\": text})`. Otherwise "
        "`await websocket.send_json({\"error\": \"slow down\"})` and `continue`: the sender is told and "
        "slowed down, and stays connected.",
    ]
    wrong = [
        # one budget for every sender: a flooder spends everybody's share
        ("    tokens, last = BURST, now()  # this connection's own budget: a flooder spends only its own\n",
         "    global tokens, last\n    tokens, last = globals().get(\"tokens\", BURST), globals().get(\"last\", now())\n"),
        ("tokens = min(BURST, tokens + (current - last) * RATE)", "tokens = tokens + (current - last) * RATE"),
        ("tokens = min(BURST, tokens + (current - last) * RATE)", "tokens = min(BURST, tokens)"),
        ("            await websocket.send_json({\"error\": \"slow down\"})  # told, and still connected\n"
         "            continue\n",
         "            await websocket.close(1008, \"slow down\")\n            return\n"),
    ]

    async def _check(self, talk):
        view = _view(talk, "/say")
        if view is None:
            raise NotAttempted("Write the websocket route /say in the exercise cell, run it, then check again.")
        namespace = getattr(view, "__globals__", {})
        if "now" not in namespace:
            raise NotAttempted("Run the whole exercise cell: it defines now().")
        saved = {name: namespace.get(name) for name in ("now", "RATE", "BURST")}
        clock = [1000.0]
        # The view looks these up in the cell's globals when it runs: a clock the check moves.
        namespace.update(now=lambda: clock[0], RATE=1.0, BURST=3)
        said, error = "said {}".format, "error"
        try:
            with quiet(talk), checklist() as expect:
                async with talk.test_app() as app:
                    client = app.test_client()
                    async with client.websocket("/say") as first:
                        ada = _Sender(first)
                        got = [await ada.say(f"a{n}") for n in range(1, 6)]
                        expect(got == [said("a1"), said("a2"), said("a3"), error, error],
                               f"ada sent a1 ... a5 at once and got {got}: the first BURST (3) are said, the "
                               'next two answered {"error": "slow down"}, and the websocket stays open.')
                        async with client.websocket("/say") as second:
                            got = await _Sender(second).say("b1")
                            expect(got == said("b1"), f"bob, a second sender, sent his first message at the same "
                                                      f"moment and got {got!r}: each sender has a budget of its "
                                                      "own, or one flooder silences everybody.")
                        clock[0] += 1.0
                        got = [await ada.say("a6"), await ada.say("a7")]
                        expect(got == [said("a6"), error], f"one second later (RATE is 1 a second) ada sent a6 and a7 "
                                                           f"and got {got}: one more is earned, not more, and not none. "
                                                           "Take the time from now().")
                        clock[0] += 100.0
                        got = [await ada.say(f"c{n}") for n in range(1, 6)]
                        expect(got == [said("c1"), said("c2"), said("c3"), error, error],
                               f"after 100 quiet seconds ada sent c1 ... c5 at once and got {got}: a quiet sender "
                               "saves up BURST (3) messages, never more.")
        finally:
            namespace.update(saved)


class BoundedFeed(Exercise):
    """Build the websocket /prices with an inbox of INBOX per client; publish() drops a full one (1013)."""

    id = "18_bounded_feed"
    hints = [
        "In the handler: `inbox = asyncio.Queue(INBOX + 1)` (one spare place, see below), "
        "`subscribers.add(inbox)`, `await websocket.accept()`, then `try:` a loop that sends "
        "`await inbox.get()` with `send_json`, and `finally: subscribers.discard(inbox)`, which "
        "runs however the connection ends.",
        "In `publish`: for each inbox in `list(subscribers)`, `put_nowait({\"price\": price})` while "
        "`inbox.qsize() < INBOX`; otherwise `subscribers.discard(inbox)` and `put_nowait(None)` in the "
        "spare place. The handler stops at `None` and calls `await websocket.close(1013, \"too slow\")`.",
    ]
    wrong = [
        ("        if inbox.qsize() < INBOX:\n", "        if True:\n"),
        ("            inbox.put_nowait(None)  # the spare place: tells its handler to say goodbye\n",
         "            pass\n"),
        ("websocket.close(1013,", "websocket.close(1000,"),
        ("    finally:\n        subscribers.discard(inbox)\n", "    finally:\n        pass\n"),
    ]

    def _check(self, ticker, publish, subscribers):
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        from course import serve

        if _view(ticker, "/prices") is None:
            raise NotAttempted("Write the websocket route /prices in the exercise cell, run it, then check again.")
        namespace = getattr(publish, "__globals__", {})
        saved_inbox = namespace.get("INBOX")
        namespace["INBOX"] = 5
        subscribers.clear()  # what an earlier check left behind

        async def published(prices) -> list[int]:
            """Call publish() for each price in one go (on the server's loop); the fullest inbox after each."""
            fullest = []
            for price in prices:
                try:
                    result = publish(price)
                except Exception as error:  # asyncio.QueueFull, most likely
                    raise Incorrect(f"publish({price}) raised {type(error).__name__}: an inbox was full. Drop that "
                                    "subscriber instead of putting more in its inbox.") from None
                if inspect.isawaitable(result):
                    if inspect.iscoroutine(result):
                        result.close()  # never started: no "was never awaited" warning
                    raise Incorrect("publish() must be a plain `def` that never waits: a slow client must "
                                    "not hold up the others.")
                fullest.append(max((inbox.qsize() for inbox in list(subscribers)), default=0))
            return fullest

        def until(condition) -> bool:
            for _ in range(300):  # a bounded number of looks: order, not time
                if condition():
                    return True
                time.sleep(0.01)
            return condition()

        def price(ws):
            """The next price the client gets, or what came instead: ("closed", code), "nothing", ..."""
            try:
                message = json.loads(ws.recv(timeout=2))
            except ConnectionClosed as closed:
                return "closed", closed.rcvd.code if closed.rcvd else 1006
            except TimeoutError:
                return "nothing"
            except ValueError:
                return "not JSON"
            return message.get("price") if isinstance(message, dict) else message

        def receive(ws) -> list:
            """Prices until the connection closes or nothing more comes."""
            got = [price(ws)]
            while isinstance(got[-1], int):
                got.append(price(ws))
            return got

        try:
            with quiet(ticker), serve(ticker, name="18-check") as server, checklist() as expect:
                try:
                    reader = connect(server.ws_url + "/prices", proxy=None, open_timeout=3)
                except TimeoutError:
                    raise Incorrect("the websocket never opened: `await websocket.accept()` before waiting "
                                    "for the first price.") from None
                with reader:
                    if not until(lambda: len(subscribers) == 1):
                        raise Incorrect(f"a client connected, but `subscribers` holds {_inboxes(subscribers)}, "
                                        "not 1: add this connection's inbox to it.")
                    got = []
                    for number in (1, 2, 3):
                        server.call(published([number]))
                        got.append(price(reader))
                    expect(got == [1, 2, 3], f"prices 1, 2, 3 published one at a time reached the client as {got}: "
                                             'send each as JSON {"price": ...}.')
                    fullest = server.call(published(range(4, 24)))
                    expect(max(fullest) <= 6, f"20 prices published at once: one inbox held {max(fullest)} of them. "
                                              "Bound it: at most INBOX (5) prices, and a spare place for the goodbye.")
                    got = receive(reader)
                    expect(got == [4, 5, 6, 7, 8, ("closed", 1013)],
                           f"a client that could not keep up with a burst of 20 got {got}: the 5 prices that fit "
                           "in its inbox, then a close with 1013 (try again later).")
                left = until(lambda: not subscribers)
                expect(left, f"the dropped client is gone, but `subscribers` still holds {_inboxes(subscribers)}.")
                with connect(server.ws_url + "/prices", proxy=None, open_timeout=3) as late:
                    until(lambda: len(subscribers) == 1)
                    server.call(published([100]))
                    got = price(late)
                    expect(got == 100, f"a client that came later got {got!r}, not the next price (100): "
                                       "the feed goes on for the others.")
                left = until(lambda: not subscribers)
                expect(left, f"a client left, but `subscribers` still holds {_inboxes(subscribers)}: take it out "
                             "in a `finally:`, which runs however the connection ends.")
        finally:
            namespace["INBOX"] = saved_inbox
            subscribers.clear()


q1 = SenderLimit()
q2 = BoundedFeed()
