"""Exercises of 11_lifespan_and_background_work."""

from course.exercises import Exercise, expect


class SharedDatabase(Exercise):
    """Open one SQLite connection in before_serving and close it in after_serving."""

    id = "13_database"
    hints = [
        "`await aiosqlite.connect(\":memory:\")` opens a connection; it runs on the server's loop "
        "because `before_serving` does.",
        "`after_serving` is the mirror image: `await counter.extensions[\"db\"].close()`.",
    ]
    wrong = [('await counter.extensions["db"].close()', "pass")]

    async def _check(self, counter):
        async with counter.test_app() as test_app:  # runs before_serving ... after_serving
            client = test_app.test_client()
            counts = []
            for _ in range(3):
                response = await client.post("/hit")
                expect(response.status_code == 200, f"POST /hit answered {response.status_code}.")
                counts.append((await response.get_json())["hits"])
            expect(counts == [1, 2, 3], f"three POST /hit answered the counts {counts}, not [1, 2, 3]: "
                                        "is the same connection used for every request?")
            db = counter.extensions["db"]
        try:
            await db.execute("SELECT 1")  # aiosqlite refuses a query on a closed connection
        except ValueError:
            return
        await db.close()  # tidy up for the learner, then say what was missing
        expect(False, "the connection is still open after the server stopped: close it in after_serving.")


class WelcomeMail(Exercise):
    """Answer POST /signup at once and send the welcome mail after the response."""

    id = "13_background"
    hints = [
        "`await send_welcome(email)` makes the client wait for the mail server.",
        "`signup.add_background_task(send_welcome, email)` runs it after the response, and Quart "
        "waits for it when the server stops.",
    ]
    wrong = [("signup.add_background_task(send_welcome, email)", "await send_welcome(email)"),
             ("signup.add_background_task(send_welcome, email)", "pass")]

    async def _check(self, signup, outbox):
        outbox.clear()
        async with signup.test_app() as test_app:
            response = await test_app.test_client().post("/signup", json={"email": "ada@example.org"})
            expect(response.status_code == 202, f"POST /signup answered {response.status_code}, not 202.")
            expect("ada@example.org" not in outbox,
                   "the mail was already sent when the response arrived: the client waited for it.")
        # Leaving test_app() runs after_serving, and Quart waits for background tasks.
        expect(outbox == ["ada@example.org"],
               f"after the server stopped the outbox holds {outbox!r}: the mail was never sent.")


q1 = SharedDatabase()
q2 = WelcomeMail()
