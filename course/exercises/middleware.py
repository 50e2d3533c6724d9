"""Exercises of chapter 16, ASGI middleware.

Besides going through Quart's test client, the checks call the learner's middleware
directly around a small recording ASGI app, one scope at a time: that shows exactly which
scopes reached the app and what went out, with no server and no waiting.
"""

from __future__ import annotations

import asyncio
import json

from course.exercises import Exercise, Incorrect, checklist, quiet


class _Recorder:
    """An ASGI app that notes every scope it is called with and answers HTTP with 200 {"received": n}."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        self.reached.append(scope["type"])
        if scope["type"] != "http":
            return
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = json.dumps({"received": size}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _call(middleware, scope_type: str, body: bytes | None = None) -> list[dict]:
    """Call ``middleware`` once with a scope of ``scope_type``; return the messages it sent."""
    scope = {"type": scope_type, "asgi": {"version": "3.0", "spec_version": "2.3"}}
    if scope_type in ("http", "websocket"):
        headers = [(b"host", b"test")] + ([(b"content-length", str(len(body)).encode())] if body is not None else [])
        scope.update(http_version="1.1", scheme="http", path="/upload", raw_path=b"/upload", query_string=b"",
                     root_path="", headers=headers, client=("127.0.0.1", 50000), server=("test", 80))
        if scope_type == "http":
            scope["method"] = "POST" if body is not None else "GET"
    incoming = [{"type": "http.request", "body": body or b"", "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def _status(sent: list[dict]) -> int | None:
    return next((m.get("status") for m in sent if m["type"] == "http.response.start"), None)


def _json_body(sent: list[dict]):
    try:
        return json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    except ValueError:
        return None


MORE_BODY = ('an "http.response.body" message without "more_body" (ASGI allows leaving it out, but Quart '
             '0.23\'s test client reads message["more_body"]): add "more_body": False.')


async def _sent_or_failure(expect, middleware, scope_type: str, body: bytes | None = None) -> list[dict]:
    """``_call``, with a crash of the learner's middleware reported as a failed behaviour."""
    try:
        return await _call(middleware, scope_type, body)
    except Exception as error:
        what = f"a {scope_type} scope" + (f" with {len(body)} bytes" if body is not None else "")
        expect(False, f"called with {what}, your middleware raised {type(error).__name__}: {error}")
        return []


class ServedBy(Exercise):
    """Write an ASGI middleware that adds `X-Served-By: quart-course` to every HTTP response."""

    id = "16_served_by"
    hints = [
        "Headers are a list of `(name, value)` byte pairs: `(b\"x-served-by\", b\"quart-course\")`.",
        "Pass the app your own `send_wrapper`, not the server's `send`, or your wrapper never runs.",
    ]
    wrong = [('b"quart-course"', 'b"flask"'),
             ("await self.app(scope, receive, send_wrapper)", "await self.app(scope, receive, send)")]

    async def _check(self, tagged, ServedBy):
        if not isinstance(tagged.asgi_app, ServedBy):
            raise Incorrect("wrap the app: `tagged.asgi_app = ServedBy(tagged.asgi_app)`.")
        with quiet(tagged), checklist() as expect:
            recorder = _Recorder()
            for scope_type in ("lifespan", "websocket"):
                await _sent_or_failure(expect, ServedBy(recorder), scope_type)
            expect(recorder.reached == ["lifespan", "websocket"],
                   f"of a lifespan and a websocket scope, only {recorder.reached} reached the app: pass them on.")
            async with tagged.test_app() as test_app:
                client = test_app.test_client()
                response = await client.get("/")
                served_by = response.headers.get("X-Served-By")
                expect(response.status_code == 200 and served_by == "quart-course",
                       f"GET / came back {response.status_code} with X-Served-By: {served_by!r}, not 'quart-course'.")
                expect(await response.get_json() == {"ok": True}, "the response body changed.")
                async with client.websocket("/ws") as ws:
                    greeting = await asyncio.wait_for(ws.receive(), 3)  # a guard, not a timing
                expect(greeting == "hello", "the websocket no longer says hello.")


class MaxBody(Exercise):
    """Build a middleware that refuses a Content-Length over the limit with 413, before the app runs."""

    id = "16_max_body"
    hints = [
        "Only an `http` scope has a body. Find its Content-Length in `scope[\"headers\"]`, a list of "
        "`(name, value)` byte pairs with lower-case names: `b\"content-length\"`. Exactly `limit` bytes "
        "is still allowed. Every other request and scope goes to `await self.app(scope, receive, send)`.",
        "To answer yourself, send two messages and return: `{\"type\": \"http.response.start\", "
        "\"status\": 413, \"headers\": [(b\"content-type\", b\"application/json\")]}`, then "
        "`{\"type\": \"http.response.body\", \"body\": json.dumps({\"error\": ...}).encode(), "
        "\"more_body\": False}`.",
    ]
    wrong = [
        ("int(lengths[0]) > self.limit", "int(lengths[0]) >= self.limit"),
        ('"status": 413', '"status": 400'),
        ("        await self.app(scope, receive, send)",
         '        if scope["type"] == "http":\n            await self.app(scope, receive, send)'),
    ]

    async def _check(self, uploads, seen, MaxBody):
        if not isinstance(uploads.asgi_app, MaxBody):
            raise Incorrect("wrap the app: `uploads.asgi_app = MaxBody(uploads.asgi_app, limit=1024)`.")
        with quiet(uploads), checklist() as expect:
            # The class alone, around a recording app, one scope at a time.
            recorder = _Recorder()
            for scope_type, body in (("lifespan", None), ("websocket", None), ("http", None), ("http", b"x" * 1024)):
                sent = await _sent_or_failure(expect, MaxBody(recorder, limit=1024), scope_type, body)
            expect(recorder.reached == ["lifespan", "websocket", "http", "http"],
                   f"a lifespan, a websocket, a GET and a POST of 1024 bytes (the limit) should all reach the "
                   f"app; {recorder.reached} did.")
            expect(_status(sent) == 200, f"a body of exactly 1024 bytes got {_status(sent)}; it is allowed.")
            recorder.reached.clear()
            sent = await _sent_or_failure(expect, MaxBody(recorder, limit=1024), "http", b"x" * 1025)
            expect(_status(sent) == 413, f"a body of 1025 bytes got {_status(sent)}, not 413.")
            expect("http" not in recorder.reached, "a body over the limit reached the app: answer 413 yourself "
                                                   "and return, without calling self.app.")
            error = _json_body(sent)
            expect(isinstance(error, dict) and "error" in error, 'answer 413 with JSON {"error": "..."}.')
            # The same through Quart.
            seen.clear()
            client = uploads.test_client()
            try:
                # The test client sends no Content-Length of its own: a server would.
                ok = await client.post("/upload", data=b"x" * 1024, headers={"Content-Length": "1024"})
                big = await client.post("/upload", data=b"x" * 1025, headers={"Content-Length": "1025"})
            except KeyError as missing:
                if "more_body" not in str(missing):
                    raise
                expect(False, f"through Quart's test client, the 413 failed: {MORE_BODY}")
                return
            expect((ok.status_code, big.status_code) == (200, 413),
                   f"through Quart, 1024 and 1025 bytes got {ok.status_code} and {big.status_code}, not 200 and 413.")
            expect(seen == [1024], f"the view itself saw bodies of {seen} bytes; only the 1024-byte one should "
                                   "get there.")


q1 = ServedBy()
q2 = MaxBody()
