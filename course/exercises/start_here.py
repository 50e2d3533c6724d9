"""Exercises of 00_start_here."""

import asyncio
import time

from course.exercises import Exercise, expect


class Greeting(Exercise):
    """Add GET /hello/<name> answering {"hello": name}."""

    id = "00_greeting"
    hints = [
        "A Quart view may return a `dict`: Quart turns it into a JSON response.",
        'Return `{"hello": name}`.',
    ]
    wrong = [('{"hello": name}', '{"hi": name}'), ('{"hello": name}', '{"hello": "name"}')]

    async def _check(self, greeter):
        client = greeter.test_client()
        response = await client.get("/hello/Ada")
        expect(response.status_code == 200, f"GET /hello/Ada answered {response.status_code}, not 200.")
        body = await response.get_json()
        expect(body == {"hello": "Ada"}, f'GET /hello/Ada answered {body!r}; expected {{"hello": "Ada"}}.')


class Wait(Exercise):
    """Make /slow wait 0.3 s without blocking other requests."""

    id = "00_wait"
    hints = [
        "`time.sleep()` blocks the event loop's only thread: no other request runs meanwhile.",
        "An async view waits with `await`: `await asyncio.sleep(0.3)`.",
    ]
    wrong = [("await asyncio.sleep(0.3)", "time.sleep(0.3)")]

    async def _check(self, sleeper):
        client = sleeper.test_client()
        start = time.perf_counter()
        responses = await asyncio.gather(*(client.get("/slow") for _ in range(5)))
        elapsed = time.perf_counter() - start
        statuses = [r.status_code for r in responses]
        expect(statuses == [200] * 5, f"/slow answered {statuses}.")
        expect(elapsed >= 0.3, f"5 requests took {elapsed:.2f} s: each should wait 0.3 s.")
        expect(elapsed < 1.2, f"5 requests at once took {elapsed:.2f} s: they waited one after "
                              "another, so the wait blocked the event loop.")


q1 = Greeting()
q2 = Wait()
