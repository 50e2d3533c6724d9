"""Exercises of 13_testing: write a test, and the check runs it against a good and a broken app."""

import inspect

from quart import Quart, request, websocket

from course.exercises import Exercise, expect


def _notes_app(refuse_empty: bool) -> Quart:
    """A minimal notes API; the broken one stores an empty note instead of refusing it."""
    app = Quart("notes-under-test")

    @app.post("/notes")
    async def create():
        data = await request.get_json(silent=True)
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or (refuse_empty and not text.strip()):
            return {"error": 'the body must hold a non-empty string "text"'}, 422
        return {"id": 1, "text": text}, 201

    return app


def _echo_app(prefix: str) -> Quart:
    app = Quart("echo-under-test")

    @app.websocket("/ws")
    async def echo():
        while True:
            await websocket.send(f"{prefix}{await websocket.receive()}")

    return app


async def _outcome(test, **arguments) -> AssertionError | None:
    """Run one test function; return its AssertionError, or None if it passed."""
    try:
        result = test(**arguments)
        if inspect.isawaitable(result):
            await result
    except AssertionError as error:
        return error
    return None


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
        expect(inspect.iscoroutinefunction(test), "make it an `async def` test: the client is awaited.")
        failure = await _outcome(test, client=_notes_app(refuse_empty=True).test_client())
        expect(failure is None, f"your test fails against a correct app: {failure}")
        failure = await _outcome(test, client=_notes_app(refuse_empty=False).test_client())
        expect(failure is not None, "your test passes against a broken app that stores empty notes: "
                                    "it must check the status code.")


class EchoTest(Exercise):
    """Write a test for the echo websocket: "ping" must come back as "You said: ping"."""

    id = "17_echo_test"
    hints = [
        '`async with client.websocket("/ws") as ws:` opens it; `await ws.send(...)`, `await ws.receive()`.',
        'Compare what you receive with `"You said: ping"`.',
    ]
    wrong = [('== "You said: ping"', '== "ping"'), ('assert await ws.receive() == "You said: ping"',
                                                    'await ws.receive()')]

    async def _check(self, test_echo):
        expect(inspect.iscoroutinefunction(test_echo), "make it an `async def` test.")
        failure = await _outcome(test_echo, client=_echo_app("You said: ").test_client())
        expect(failure is None, f"your test fails against a correct echo app: {failure}")
        failure = await _outcome(test_echo, client=_echo_app("").test_client())
        expect(failure is not None, "your test passes against a broken app that echoes without "
                                    '"You said: ": compare the whole message.')


q1 = EmptyNote()
q2 = EchoTest()
