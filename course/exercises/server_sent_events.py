"""Exercises of chapter 09, Server-Sent Events."""

from __future__ import annotations


from course.exercises import Exercise, Incorrect, expect, quiet

STANZAS = ["Roses are red,\nviolets are blue,", "Quart streams events\nand so can you."]


def read_events(text: str) -> list[dict]:
    """Parse an event stream the way a browser's EventSource does (comments and unknown fields dropped)."""
    events, event = [], {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if "data" in event:
                events.append(event)
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                event["data"] = event["data"] + "\n" + value if "data" in event else value
            elif field in ("event", "id", "retry"):
                event[field] = value
    return events


async def _stream(app, path: str, headers: dict | None = None) -> str:
    """The whole body of a finite stream, checked to be an event stream."""
    with quiet(app):
        response = await app.test_client().get(path, headers=headers)
    expect(response.status_code == 200, f"GET {path} answered {response.status_code}, not 200.")
    kind = response.headers.get("Content-Type", "")
    expect(kind.startswith("text/event-stream"), f"the Content-Type is {kind!r}, not text/event-stream.")
    return await response.get_data(as_text=True)


class Poem(Exercise):
    """Stream each stanza of a poem as one event, its lines kept together."""

    id = "09_poem"
    hints = [
        "A newline inside a `data:` field ends the field: the next line would be read as a field of "
        "its own. Each line of the text needs its own `data: ` prefix; the browser joins them with newlines.",
        "An event ends with a blank line. Build the lines with "
        '`"".join(f"data: {line}\\n" for line in text.split("\\n"))`, then add one more `"\\n"`.',
    ]
    wrong = [
        (r'"".join(f"data: {line}\n" for line in text.split("\n")) + "\n"', r'f"data: {text}\n\n"'),
        (r'for line in text.split("\n")) + "\n"', r'for line in text.split("\n"))'),
        (r'"".join(f"data: {line}\n"', r'"".join(f"data:{line}\n\n"'),
    ]

    async def _check(self, poet, frame):
        one = frame("one line")
        expect(isinstance(one, str), f"frame() returned {type(one).__name__}, not a str.")
        text = await _stream(poet, "/poem")
        events = read_events(text)
        expect(len(events) == len(STANZAS), f"a browser would see {len(events)} events, not "
                                            f"{len(STANZAS)} (one per stanza). The stream was:\n{text!r}")
        for got, stanza in zip(events, STANZAS):
            expect(got["data"] == stanza, f"a browser would read {got['data']!r} instead of {stanza!r}.")


class Countdown(Exercise):
    """A countdown from 10 that a reconnecting client resumes after the Last-Event-ID it sends."""

    id = "09_countdown"
    hints = [
        "A reconnecting EventSource sends the id of the last event it received in the "
        "`Last-Event-ID` header. Counting down, the next number is one below it.",
        "Headers are client input: only trust a value made of digits. "
        "`start = int(last_id) - 1 if last_id.isdigit() else 10`.",
    ]
    wrong = [
        ("int(last_id) - 1", "int(last_id)"),
        ("else 10", "else 1"),
        ("last_id.isdigit()", "last_id"),
    ]

    async def _check(self, launch):
        cases = [(None, list(range(10, 0, -1))), ("4", [3, 2, 1]), ("1", []), ("soon", list(range(10, 0, -1)))]
        for last_id, numbers in cases:
            headers = {"Last-Event-ID": last_id} if last_id is not None else None
            said = f"with Last-Event-ID: {last_id}" if last_id is not None else "for a new client"
            try:
                events = read_events(await _stream(launch, "/countdown", headers))
            except Incorrect as error:
                raise Incorrect(f"{said}: {error}") from None
            ids = [e.get("id") for e in events if e.get("event") != "done"]
            expect(ids == [str(n) for n in numbers], f"{said} the ids were {ids}, expected "
                                                     f"{[str(n) for n in numbers]}.")
            expect(events and events[-1].get("event") == "done", f"{said} the stream did not end with "
                                                                 "the done event.")


q1 = Poem()
q2 = Countdown()
