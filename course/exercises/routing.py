"""Exercises of 02_routing_requests_templates."""

from course.exercises import Exercise, expect


class Books(Exercise):
    """GET /books/<isbn>: the book as JSON, or a JSON 404 for an unknown ISBN."""

    id = "02_books"
    hints = [
        "`abort(404)` stops the view; the 404 error handler then builds the response.",
        'In the handler, return a tuple: `{"error": "no such book"}, 404` (without the status, '
        "the error would go out as 200).",
    ]
    wrong = [
        ('return {"error": "no such book"}, 404', 'return {"error": "no such book"}'),
        ("abort(404)", 'return {"error": "no such book"}'),
    ]

    async def _check(self, library):
        client = library.test_client()
        response = await client.get("/books/9780262510875")
        expect(response.status_code == 200,
               f"GET /books/9780262510875 (a known book) answered {response.status_code}, not 200.")
        response = await client.get("/books/0000000000")
        expect(response.status_code == 404,
               f"GET /books/0000000000 (unknown) answered {response.status_code}, not 404.")
        expect(response.mimetype == "application/json",
               f"the 404 came as {response.mimetype}, not JSON: return a dict from the error handler.")
        body = await response.get_json()
        expect(isinstance(body, dict) and "error" in body, f'the 404 body is {body!r}; expected {{"error": ...}}.')
        response = await client.get("/no/such/page")
        expect(response.status_code == 404 and response.mimetype == "application/json",
               "an unknown URL should get the same JSON 404 (the handler is for every 404).")


class Visits(Exercise):
    """GET /visits counts this client's visits in the session."""

    id = "02_visits"
    hints = [
        '`session` works like a dict: read with `session.get("visits", 0)`.',
        'Assign the new count: `session["visits"] = session.get("visits", 0) + 1`.',
    ]
    wrong = [
        ('session["visits"] = session.get("visits", 0) + 1', 'session["visits"] = 1'),
        ('session["visits"] = session.get("visits", 0) + 1',
         'counter.config["N"] = session["visits"] = counter.config.get("N", 0) + 1'),
    ]

    async def _check(self, counter):
        first, second = counter.test_client(), counter.test_client()
        seen = []
        for _ in range(3):
            response = await first.get("/visits")
            expect(response.status_code == 200, f"GET /visits answered {response.status_code}.")
            seen.append((await response.get_json()).get("visits"))
        expect(seen == [1, 2, 3], f"one client's three visits counted {seen}, not [1, 2, 3].")
        other = await (await second.get("/visits")).get_json()
        expect(other == {"visits": 1}, f"a second client's first visit answered {other!r}: each "
                                       "client needs its own count, so keep it in the session.")


q1 = Books()
q2 = Visits()
