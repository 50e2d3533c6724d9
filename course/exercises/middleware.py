"""Exercises of 12_asgi_middleware."""

import inspect

from course.exercises import Exercise, NotAttempted, has_blank, expect


def _expect_attempted(cls) -> None:
    """A middleware class still holding ``____`` in a method has not been attempted."""
    methods = [value for value in vars(cls).values() if inspect.isfunction(value)]
    if any(has_blank(method) for method in methods):
        raise NotAttempted("Replace every `____` in the exercise cell, run it, then check again.")


class ServedBy(Exercise):
    """Write an ASGI middleware that adds `X-Served-By: quart-course` to every HTTP response."""

    id = "16_served_by"
    hints = [
        "Headers are a list of `(name, value)` byte pairs: `(b\"x-served-by\", b\"quart-course\")`.",
        "Pass the app your own `send_wrapper`, not the server's `send`, or your wrapper never runs.",
    ]
    wrong = [('b"quart-course"', 'b"flask"'), ("await self.app(scope, receive, send_wrapper)",
                                              "await self.app(scope, receive, send)")]

    async def _check(self, tagged, ServedBy):
        _expect_attempted(ServedBy)
        expect(isinstance(tagged.asgi_app, ServedBy),
               "wrap the app: `tagged.asgi_app = ServedBy(tagged.asgi_app)`.")
        async with tagged.test_app() as test_app:  # the lifespan scope must pass through too
            client = test_app.test_client()
            response = await client.get("/")
            expect(response.status_code == 200, f"GET / answered {response.status_code}.")
            served_by = response.headers.get("X-Served-By")
            expect(served_by == "quart-course",
                   f"GET / came back with X-Served-By: {served_by!r}, not 'quart-course'.")
            expect(await response.get_json() == {"ok": True}, "the response body changed.")
            async with client.websocket("/ws") as ws:
                expect(await ws.receive() == "hello", "the websocket no longer works.")


class MaxBody(Exercise):
    """Refuse a request body over the limit with 413 before the app reads it."""

    id = "16_max_body"
    hints = [
        "Compare the Content-Length with `self.limit`: exactly `limit` bytes is still allowed.",
        "413 is 'Content Too Large'.",
    ]
    wrong = [("> self.limit", ">= self.limit"), ('"status": 413', '"status": 400')]

    async def _check(self, uploads, seen, MaxBody):
        _expect_attempted(MaxBody)
        expect(isinstance(uploads.asgi_app, MaxBody),
               "wrap the app: `uploads.asgi_app = MaxBody(uploads.asgi_app, limit=1024)`.")
        seen.clear()
        client = uploads.test_client()
        ok = await client.post("/upload", data=b"x" * 1024, headers={"Content-Length": "1024"})
        expect(ok.status_code == 200, f"a body of exactly 1024 bytes got {ok.status_code}; it is allowed.")
        big = await client.post("/upload", data=b"x" * 1025, headers={"Content-Length": "1025"})
        expect(big.status_code == 413, f"a body of 1025 bytes got {big.status_code}, not 413.")
        expect(seen == [1024], f"the app itself saw bodies of {seen} bytes: refuse before calling it.")
        expect("error" in (await big.get_json() or {}), 'answer 413 with JSON {"error": "..."}.')
        small = await client.get("/")
        expect(small.status_code == 404, "requests without a body must reach the app unchanged.")


q1 = ServedBy()
q2 = MaxBody()
