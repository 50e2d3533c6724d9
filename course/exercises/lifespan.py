"""Exercises of chapter 13, lifespan and background work.

The checks look at order (was the response there before the mail went out? did Quart
still hold the task?), never at elapsed time.
"""

import asyncio

from course.exercises import Exercise, NotAttempted, checklist, quiet


class SharedDatabase(Exercise):
    """Open one SQLite connection in before_serving and close it in after_serving."""

    id = "13_database"
    hints = [
        "`await aiosqlite.connect(\":memory:\")` opens a connection; in `before_serving` that happens "
        "once each time the server starts, before the first request.",
        "`after_serving` is the mirror image: `await counter.extensions[\"db\"].close()`.",
    ]
    wrong = [('await counter.extensions["db"].close()', "pass"),
             ('counter.extensions["db"] = await aiosqlite.connect(":memory:")',
              'counter.extensions["db"] = counter.extensions.get("db") or await aiosqlite.connect(":memory:")')]

    async def _check(self, counter):
        with quiet(counter), checklist() as expect:
            for start in (1, 2):  # every start of the server gets a connection of its own
                db, counts = None, []
                try:
                    async with counter.test_app() as test_app:  # runs before_serving ... after_serving
                        client = test_app.test_client()
                        for _ in range(3):
                            response = await client.post("/hit")
                            counts.append((await response.get_json())["hits"] if response.status_code == 200
                                          else response.status_code)
                        db = counter.extensions.get("db")
                except Exception as error:
                    expect(False, f"start {start} of the server failed with {type(error).__name__}: {error}")
                    return
                expect(counts == [1, 2, 3], f"start {start}: three POST /hit answered {counts}, not the counts "
                                            "[1, 2, 3] of a fresh database shared by every request.")
                if db is None:
                    return
                try:
                    await db.execute("SELECT 1")  # aiosqlite refuses a query on a closed connection
                except ValueError:
                    continue
                await db.close()  # tidy up for the learner, then say what was missing
                expect(False, "the connection is still open after the server stopped: close it in after_serving.")
                return


class WelcomeMail(Exercise):
    """Build POST /signup: 422 for a bad email, else 202 at once and the mail in the background."""

    id = "13_background"
    hints = [
        "Read the body with `data = await request.get_json()`, check `data.get(\"email\")`, and "
        "`return {\"error\": \"...\"}, 422` for a bad one. `await send_welcome(email)` would make the "
        "client wait for the mail server; `asyncio.create_task(...)` would lose the mail at shutdown.",
        "`signup.add_background_task(send_welcome, email)`, then "
        "`return {\"status\": \"welcome mail queued\"}, 202`: Quart starts the task alongside the view "
        "and waits for it when the server stops.",
    ]
    wrong = [
        ("signup.add_background_task(send_welcome, email)", "await send_welcome(email)"),
        ("signup.add_background_task(send_welcome, email)", "asyncio.create_task(send_welcome(email))"),
        ('not isinstance(email, str) or "@" not in email', "not isinstance(email, str)"),
    ]
    # How long the check waits for a response held up by the mail (a wrong answer), not a timing.
    GUARD = 3

    async def _check(self, signup, outbox):
        view = next((signup.view_functions[rule.endpoint] for rule in signup.url_map.iter_rules()
                     if rule.rule == "/signup" and "POST" in rule.methods), None)
        if view is None:
            raise NotAttempted("Write the view POST /signup in the exercise cell, run it, then check again.")
        namespace = getattr(view, "__globals__", {})
        original = namespace.get("send_welcome")
        if original is None:
            raise NotAttempted("Run the whole exercise cell: it defines `send_welcome`.")
        mail_server = asyncio.Event()  # made here, on the check's own loop

        async def held_mail(*args, **kwargs):
            """``send_welcome`` as the view calls it, held until the check has seen the response."""
            await mail_server.wait()
            return await original(*args, **kwargs)

        outbox.clear()
        namespace["send_welcome"] = held_mail  # the view looks ``send_welcome`` up in the cell's globals
        try:
            with quiet(signup), checklist() as expect:
                async with signup.test_app() as test_app:  # leaving it runs the shutdown
                    client = test_app.test_client()
                    for body in ({"email": "no-at-sign"}, {"name": "Ada"}, {"email": 42}):
                        response = await client.post("/signup", json=body)
                        data = await response.get_json(silent=True) if response.status_code == 422 else None
                        expect(response.status_code == 422 and isinstance(data, dict) and "error" in data,
                               f"POST /signup {body} answered {response.status_code}, not 422 with "
                               'JSON {"error": ...}.')
                    posted = asyncio.ensure_future(client.post("/signup", json={"email": "ada@example.org"}))
                    done, _ = await asyncio.wait({posted}, timeout=self.GUARD)
                    expect(done, "the response never came while the mail server was busy: the view waits "
                                 "for the mail. Start it in the background.")
                    queued = len(signup.background_tasks)  # what Quart will wait for at shutdown
                    mail_server.set()
                    response = await posted
                    data = await response.get_json(silent=True)
                    expect(response.status_code == 202 and data == {"status": "welcome mail queued"},
                           f"POST /signup with a good email answered {response.status_code} {data!r}, not "
                           '202 {"status": "welcome mail queued"}.')
                    if done:
                        expect(queued >= 1, "Quart does not know about the mail task, so it will not wait "
                                            "for it at shutdown: start it with add_background_task.")
                expect(outbox == ["ada@example.org"],
                       f"after the server stopped, the outbox holds {outbox!r}, not ['ada@example.org']: "
                       "one mail, for the good address only, sent before shutdown ended.")
        finally:
            mail_server.set()
            namespace["send_welcome"] = original
            await asyncio.sleep(0)  # let a task the check released finish its step


q1 = SharedDatabase()
q2 = WelcomeMail()
