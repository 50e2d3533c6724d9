"""Exercises of chapter 01, from Flask to Quart."""

from course.exercises import Exercise, NotAttempted, checklist, quiet


class Port(Exercise):
    """Port POST /greet (JSON or form field "name") from Flask to Quart."""

    id = "01_port"
    hints = [
        "Reading the body waits for the network, so both lines need `await`.",
        'Mind the parentheses: `(await request.get_json())["name"]` and `(await request.form)["name"]`.',
    ]
    wrong = [
        ('(await request.get_json())["name"]', 'request.get_json()["name"]'),
        ('(await request.form)["name"]', 'request.args.get("name")'),
    ]

    async def _check(self, greeter):
        client = greeter.test_client()
        with quiet(greeter), checklist() as expect:
            for how, kwargs, name in (("JSON", {"json": {"name": "Ada"}}, "Ada"),
                                      ("a form", {"form": {"name": "Grace"}}, "Grace")):
                response = await client.post("/greet", **kwargs)
                body = await response.get_json() if response.status_code == 200 else None
                expect(response.status_code == 200,
                       f"POST /greet with {how} answered {response.status_code}. A forgotten `await` "
                       "gives a coroutine where you expected the data.")
                expect(response.status_code != 200 or body == {"greeting": f"Hello, {name}!"},
                       f"POST /greet with {how} answered {body!r}.")


class Bookmarks(Exercise):
    """Port a small Flask app (JSON, abort, a template) to Quart, from a blank cell."""

    id = "01_bookmarks"
    hints = [
        "Start from the Flask code: import from `quart`, put `async` in front of each `def`, and "
        "`await` whatever reads the body or renders a template. Routes, `abort()` and the dict "
        "return values stay as they are.",
        "`data = await request.get_json(silent=True)` and "
        "`return await render_template_string(...)`; `%load solutions/01_bookmarks.py` shows all of it.",
    ]
    wrong = [
        ("await request.get_json(silent=True)", "request.get_json(silent=True)"),
        ("return await render_template_string(", "return render_template_string("),
        ("abort(422)", "abort(400)"),
        ("    if mark_id not in bookmarks:\n        abort(404)\n", ""),
        ("return await render_template_string(PAGE, url=bookmarks[mark_id][\"url\"])",
         "return f'<a href=\"{bookmarks[mark_id][\"url\"]}\">{bookmarks[mark_id][\"url\"]}</a>'"),
    ]

    async def _check(self, bookmarks_app):
        if not any(rule.rule.startswith("/bookmarks") for rule in bookmarks_app.url_map.iter_rules()):
            raise NotAttempted("Write the two routes in the exercise cell, run it, then check again.")
        client = bookmarks_app.test_client()
        url = "https://quart.palletsprojects.com/"
        with quiet(bookmarks_app), checklist() as expect:
            response = await client.post("/bookmarks", json={"url": url})
            created = await response.get_json() if response.status_code == 201 else None
            expect(response.status_code == 201,
                   f"POST /bookmarks with JSON answered {response.status_code}, not 201. Is "
                   "`request.get_json()` awaited?")
            expect(response.status_code != 201 or (isinstance(created, dict) and created.get("url") == url
                                                   and isinstance(created.get("id"), int)),
                   f'POST /bookmarks answered {created!r}; expected {{"id": ..., "url": "{url}"}}.')
            if isinstance(created, dict) and isinstance(created.get("id"), int):
                response = await client.get(f"/bookmarks/{created['id']}")
                page = await response.get_data(as_text=True)
                expect(response.status_code == 200,
                       f"GET /bookmarks/{created['id']} answered {response.status_code}, not 200. Is "
                       "`render_template_string()` awaited?")
                expect(response.status_code != 200 or f'<a href="{url}">' in page,
                       f"GET /bookmarks/{created['id']} answered {page[:80]!r}: expected the link.")
            for what, kwargs in (("an empty JSON object", {"json": {}}),
                                 ("a body that is not JSON", {"data": "hello"})):
                response = await client.post("/bookmarks", **kwargs)
                expect(response.status_code == 422, f"POST /bookmarks with {what} answered "
                                                    f"{response.status_code}, not 422.")
            response = await client.get("/bookmarks/987654")
            expect(response.status_code == 404, f"GET /bookmarks/987654 (no such bookmark) answered "
                                                f"{response.status_code}, not 404.")
            hostile = "https://x.example/<script>alert(1)</script>"
            response = await client.post("/bookmarks", json={"url": hostile})
            mark = await response.get_json() if response.status_code == 201 else None
            if isinstance(mark, dict) and isinstance(mark.get("id"), int):
                response = await client.get(f"/bookmarks/{mark['id']}")
                page = await response.get_data(as_text=True)
                expect("<script>" not in page, "a URL with <script> in it came back as HTML: render "
                                               "the page with the template, which escapes it.")


q1 = Port()
q2 = Bookmarks()
