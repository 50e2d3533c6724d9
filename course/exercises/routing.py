"""Exercises of chapter 02, routing, requests and templates."""

from course.exercises import Exercise, NotAttempted, checklist, quiet

SICP = "9780262510875"
NEW = {"isbn": "9780131103627", "title": "The C Programming Language"}


class Books(Exercise):
    """Build GET /books/<isbn>, POST /books and JSON 404s, from a blank cell."""

    id = "02_books"
    hints = [
        "Three functions: a GET view with an `<isbn>` part in its rule, a POST view that reads "
        "`await request.get_json()`, and `@library.errorhandler(404)`. `abort(status)` stops a view "
        "with that status.",
        'The error handler returns a tuple: `{"error": "not found"}, 404` (without the status the '
        "error would go out as 200). POST answers `books[isbn], 201`.",
    ]
    wrong = [
        ('return {"error": "not found"}, 404', 'return {"error": "not found"}'),
        ("abort(422)", 'return {"error": "a book needs an isbn and a title"}'),
        ('books[data["isbn"]] = {"title": data["title"]}', "pass"),
        ('@library.post("/books")', '@library.put("/books")'),
    ]

    async def _check(self, library):
        if not any(rule.rule.startswith("/books") for rule in library.url_map.iter_rules()):
            raise NotAttempted("Write the routes in the exercise cell, run it, then check again.")
        client = library.test_client()
        with quiet(library), checklist() as expect:
            response = await client.get(f"/books/{SICP}")
            body = await response.get_json() if response.status_code == 200 else None
            expect(response.status_code == 200 and isinstance(body, dict) and "title" in body,
                   f"GET /books/{SICP} (a known book) answered {response.status_code} {body!r}.")
            for path in ("/books/0000000000", "/no/such/page"):
                response = await client.get(path)
                body = await response.get_json() if response.mimetype == "application/json" else None
                expect(response.status_code == 404, f"GET {path} answered {response.status_code}, not 404.")
                expect(isinstance(body, dict) and "error" in body,
                       f"the 404 for GET {path} is {response.mimetype}, not JSON "
                       '{"error": ...}: handle every 404 with @library.errorhandler(404).')
            response = await client.post("/books", json=NEW)
            body = await response.get_json() if response.status_code == 201 else None
            expect(response.status_code == 201, f"POST /books with a new book answered "
                                                f"{response.status_code}, not 201.")
            expect(response.status_code != 201 or (isinstance(body, dict) and body.get("title") == NEW["title"]),
                   f"POST /books answered {body!r}: expected the stored book.")
            response = await client.get(f"/books/{NEW['isbn']}")
            expect(response.status_code == 200, f"after POST /books, GET /books/{NEW['isbn']} answered "
                                                f"{response.status_code}: was the book stored?")
            for what, kwargs, allowed in (("no title", {"json": {"isbn": "9780000000001"}}, (422,)),
                                          ("an empty title", {"json": {"isbn": "9780000000001", "title": ""}}, (422,)),
                                          ("a body that is not JSON", {"data": "hello"}, (415, 422))):
                response = await client.post("/books", **kwargs)
                expect(response.status_code in allowed, f"POST /books with {what} answered "
                                                        f"{response.status_code}, not {' or '.join(map(str, allowed))}.")


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
        with checklist() as expect:
            seen = []
            for _ in range(3):
                response = await first.get("/visits")
                seen.append((await response.get_json()).get("visits") if response.status_code == 200
                            else response.status_code)
            expect(seen == [1, 2, 3], f"one client's three visits counted {seen}, not [1, 2, 3].")
            response = await second.get("/visits")
            other = await response.get_json() if response.status_code == 200 else response.status_code
            expect(other == {"visits": 1}, f"a second client's first visit answered {other!r}: each "
                                           "client needs its own count, so keep it in the session.")


q1 = Books()
q2 = Visits()
