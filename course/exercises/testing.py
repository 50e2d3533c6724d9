"""Exercises of chapter 17, testing: you write a test; the check runs it against a good app and broken ones.

A test that passes against a broken app tests nothing, so each check reports every broken
app your test lets through. Small apps of their own, so that the checks never depend on
the course's apps changing.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback

from quart import Quart, request, websocket

from course.exercises import Exercise, Incorrect, checklist, quiet

# The check gives up on a test after this long: it tells a test that hangs from one that fails.
GUARD = 3


def _notes_app(*, store_empty=False, created=201, mangle=False, missing=404) -> Quart:
    """The notes API of chapter 01, or a copy with one flaw."""
    app = Quart("notes-under-test")
    notes: dict[int, dict] = {}

    @app.post("/notes")
    async def create():
        data = await request.get_json(silent=True)
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not (text or store_empty):
            return {"error": 'the body must hold a non-empty string "text"'}, 422
        note = {"id": len(notes) + 1, "text": text}
        notes[note["id"]] = {**note, "text": text.upper()} if mangle else note
        return note, created

    @app.get("/notes/<int:note_id>")
    async def read(note_id):
        if note_id in notes:
            return notes[note_id]
        return ({"error": f"there is no note {note_id}"}, 404) if missing == 404 else ({}, missing)

    return app


def _echo_app(prefix: str = "You said: ", silent: bool = False) -> Quart:
    app = Quart("echo-under-test")

    @app.websocket("/ws")
    async def echo():
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if not silent:
                await websocket.send(f"{prefix}{message}")

    return app


async def _outcome(test, app: Quart) -> BaseException | None:
    """Run one test function with a fresh client of ``app``: its exception, or None if it passed."""
    guard = asyncio.timeout(GUARD)
    try:
        with quiet(app):
            async with guard:
                await test(client=app.test_client())
    except Exception as error:  # an AssertionError, a TimeoutError of the test's own, anything else
        return _Hung() if guard.expired() else error
    return None


class _Hung(Exception):
    """The check gave up on the test: it was still waiting."""


def _expect_async_test(test) -> None:
    if not inspect.iscoroutinefunction(test):
        raise Incorrect("make it an `async def` test: the test client is awaited.")


def _describe(error: BaseException | None, test) -> str:
    """What went wrong in the learner's test, with the line of the test where it happened."""
    if error is None:
        return ""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.name == test.__name__]
    where = "" if not frames else f" at `{frames[-1].line}`" if frames[-1].line else f" in line {frames[-1].lineno}"
    message = f": {error}" if str(error) else ""
    return f"{type(error).__name__}{message}{where}"


class EmptyNote(Exercise):
    """Write a test that proves POST /notes refuses an empty text with 422."""

    id = "17_empty_note"
    hints = [
        'Send `json={"text": ""}`: the empty text is the bad input under test.',
        "The contract says 422 Unprocessable Content, with a JSON body holding an `error` key.",
    ]
    wrong = [('== 422', '== 201'), ('{"text": ""}', '{"text": "milk"}')]

    async def _check(self, test_empty_note_is_refused):
        test = test_empty_note_is_refused
        _expect_async_test(test)
        with checklist() as expect:
            failure = await _outcome(test, _notes_app())
            expect(failure is None, f"your test fails against a correct app: {_describe(failure, test)}.")
            failure = await _outcome(test, _notes_app(store_empty=True))
            expect(failure is not None, "your test passes against a broken app that stores empty notes: "
                                        "send an empty text and check the status code.")


class EchoTest(Exercise):
    """Test the echo websocket, with a timeout on every receive so that a silent app fails the test."""

    id = "17_echo_test"
    hints = [
        "`asyncio.wait_for(ws.receive(), 1)` waits at most a second and then raises `TimeoutError`, "
        "which fails the test. Without it, a test against an app that never answers waits for ever.",
        'The whole answer is `"You said: ping"`.',
    ]
    wrong = [('== "You said: ping"', '== "ping"'),
             ("asyncio.wait_for(ws.receive(), 1)", "asyncio.wait_for(ws.receive(), None)")]

    async def _check(self, test_echo):
        _expect_async_test(test_echo)
        with checklist() as expect:
            failure = await _outcome(test_echo, _echo_app())
            expect(failure is None, f"your test fails against a correct echo app: {_describe(failure, test_echo)}.")
            failure = await _outcome(test_echo, _echo_app(prefix=""))
            expect(failure is not None, 'your test passes against a broken app that echoes without "You said: ": '
                                        "compare the whole message.")
            failure = await _outcome(test_echo, _echo_app(silent=True))
            expect(not isinstance(failure, _Hung),
                   f"against an app that never answers, your test was still waiting after {GUARD} s: "
                   "give every receive() a timeout of about a second (asyncio.wait_for).")


class NotesTests(Exercise):
    """Build a test of the notes API that passes on the real app and fails on each broken copy."""

    id = "17_notes_tests"
    hints = [
        "Four requests, each followed by asserts: create a note (status and JSON), read it back by its "
        "id, create an empty one, read an id that does not exist.",
        "`created = await client.post(\"/notes\", json={\"text\": \"milk\"})`, `assert created.status_code == "
        "201`, `note = await created.get_json()`; then `await client.get(f\"/notes/{note['id']}\")` must "
        "answer 200 with the same note; `{\"text\": \"\"}` must get 422; `/notes/999999` 404.",
    ]
    wrong = [
        ("assert created.status_code == 201", "assert created.status_code in (200, 201)"),
        ("assert await fetched.get_json() == note", "assert fetched.status_code == 200"),
        ("assert missing.status_code == 404", "assert missing.status_code < 500"),
        ('    assert empty.status_code == 422\n    assert "error" in await empty.get_json()\n',
         "    assert empty.status_code in (201, 422)\n"),
    ]
    BROKEN = {
        "stores an empty note": {"store_empty": True},
        "answers 200 instead of 201 to a new note": {"created": 200},
        "stores a different text than it was sent": {"mangle": True},
        "answers 200 for a note that does not exist": {"missing": 200},
    }

    async def _check(self, test_notes_api):
        _expect_async_test(test_notes_api)
        with checklist() as expect:
            failure = await _outcome(test_notes_api, _notes_app())
            expect(failure is None, f"your test fails against the correct app: {_describe(failure, test_notes_api)}.")
            for flaw, options in self.BROKEN.items():
                failure = await _outcome(test_notes_api, _notes_app(**options))
                expect(failure is not None, f"your test passes against an app that {flaw}.")


q1 = EmptyNote()
q2 = EchoTest()
q3 = NotesTests()
