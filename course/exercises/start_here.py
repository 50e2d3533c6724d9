"""Exercises of chapter 00, start here."""

from course.exercises import Exercise, NotAttempted, checklist, peak_concurrency, quiet


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
        with checklist() as expect:
            for name in ("Ada", "Grace"):
                response = await client.get(f"/hello/{name}")
                body = await response.get_json() if response.status_code == 200 else None
                expect(response.status_code == 200, f"GET /hello/{name} answered {response.status_code}, not 200.")
                expect(body == {"hello": name}, f'GET /hello/{name} answered {body!r}; expected {{"hello": "{name}"}}.')


class Wait(Exercise):
    """Build an app whose GET /slow waits 0.2 s without blocking, and GET /ping."""

    id = "00_wait"
    hints = [
        "Two views, as in Flask, each `async def`. `time.sleep()` would block the event loop's only "
        "thread, so no other request could run while it sleeps. Which call waits *and* lets the loop "
        "carry on?",
        '`await asyncio.sleep(0.2)` in `/slow`, then `return {"waited": 0.2}`; `/ping` returns '
        '`{"pong": True}`.',
    ]
    wrong = [
        ("await asyncio.sleep(0.2)", "time.sleep(0.2)"),
        ('@sleeper.get("/ping")', '@sleeper.get("/pong")'),
        ('return {"waited": 0.2}', 'return {"waited": "0.2"}'),
    ]

    async def _check(self, sleeper):
        rules = {rule.rule for rule in sleeper.url_map.iter_rules()}
        if not rules & {"/slow", "/ping"}:
            raise NotAttempted("Write the two routes in the exercise cell, run it, then check again.")
        client = sleeper.test_client()
        with quiet(sleeper), checklist() as expect:
            response = await client.get("/ping")
            expect(response.status_code == 200, f"GET /ping answered {response.status_code}, not 200.")
            if response.status_code == 200:
                body = await response.get_json()
                expect(body == {"pong": True}, f'GET /ping answered {body!r}; expected {{"pong": true}}.')
            response = await client.get("/slow")
            expect(response.status_code == 200, f"GET /slow answered {response.status_code}, not 200.")
            if response.status_code == 200:
                body = await response.get_json()
                expect(body == {"waited": 0.2}, f'GET /slow answered {body!r}; expected {{"waited": 0.2}}.')
                # Order, not time: how many of 5 simultaneous requests were inside /slow at once.
                peak = await peak_concurrency(sleeper, "/slow", 5)
                expect(peak > 1, "5 requests to /slow sent at once ran one after another: while one "
                                 "waited, no other request could run. Wait with `await`, so the event "
                                 "loop serves other requests meanwhile.")


q1 = Greeting()
q2 = Wait()
