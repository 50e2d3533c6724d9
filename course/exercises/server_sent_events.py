"""Exercises of chapter 09, Server-Sent Events.

Streams are read with the course's one SSE parser, ``apps.events.read_events``, which reads
them as a browser's EventSource does; every read has a timeout, so an endless stream fails
the check instead of hanging it.
"""

from __future__ import annotations

import asyncio

from apps.events import read_events
from course.exercises import Exercise, Incorrect, NotAttempted, checklist, expect, quiet

STANZAS = ["Roses are red,\nviolets are blue,", "Quart streams events\nand so can you."]


async def _stream(app, path: str, headers: dict | None = None):
    """(response, body) of a finite stream; Incorrect if it is no event stream or never ends."""
    with quiet(app):
        try:
            response = await asyncio.wait_for(app.test_client().get(path, headers=headers), 3)
        except TimeoutError:
            raise Incorrect(f"GET {path} did not end within 3 s: the stream must end after its last event.") from None
    if response.status_code != 200:
        raise Incorrect(f"GET {path} answered {response.status_code}, not 200.")
    kind = response.headers.get("Content-Type", "")
    if not kind.startswith("text/event-stream"):
        raise Incorrect(f"the Content-Type is {kind!r}, not text/event-stream.")
    return response, await response.get_data(as_text=True)


def _show(events: list[dict]) -> str:
    """"10, 9, 8" for events whose id and data are the number; the others in full."""
    return ", ".join(e["data"] if e["id"] == e["data"] else f"{e['data']!r} (id {e['id']!r})" for e in events) or "none"


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
        _, text = await _stream(poet, "/poem")
        events = read_events(text)
        expect(len(events) == len(STANZAS), f"a browser would see {len(events)} events, not "
                                            f"{len(STANZAS)} (one per stanza). The stream was:\n{text!r}")
        for got, stanza in zip(events, STANZAS):
            expect(got["data"] == stanza, f"a browser would read {got['data']!r} instead of {stanza!r}.")


class Countdown(Exercise):
    """Build GET /countdown: 10 to 1 as events with ids, then "done"; a reconnecting client resumes."""

    id = "09_countdown"
    hints = [
        "A view returns `await make_response(stream(), headers)` where `stream()` is an async generator "
        "that yields events; `sse(n, id=n)` formats one, `sse(\"liftoff\", event=\"done\")` the last. Set "
        "`response.timeout = None` as for every stream. A reconnecting EventSource sends the id of the "
        "last event it received in the `Last-Event-ID` header: counting down, the next number is one below it.",
        "Headers are client input: only trust a value made of digits. "
        '`last_id = request.headers.get("Last-Event-ID", "")`, then '
        "`start = int(last_id) - 1 if last_id.isdigit() else 10` and `for n in range(start, 0, -1)`.",
    ]
    wrong = [
        ("int(last_id) - 1", "int(last_id)"),
        ("else 10", "else 1"),
        ("last_id.isdigit()", "last_id"),
        ('"Cache-Control": "no-cache"', '"Cache-Control": "max-age=60"'),
        ('sse("liftoff", event="done")', 'sse("liftoff")'),
    ]

    async def _check(self, launch):
        if not any(rule.rule == "/countdown" for rule in launch.url_map.iter_rules()):
            raise NotAttempted("Write the view GET /countdown in the exercise cell, run it, then check again.")
        cases = [(None, range(10, 0, -1)), ("4", range(3, 0, -1)), ("1", []), ("soon", range(10, 0, -1))]
        with checklist() as expect:
            for last_id, numbers in cases:
                headers = {"Last-Event-ID": last_id} if last_id is not None else None
                said = f"with Last-Event-ID: {last_id}" if last_id is not None else "for a new client"
                try:
                    response, text = await _stream(launch, "/countdown", headers)
                except Incorrect as error:
                    expect(False, f"{said}: {error}")
                    if "did not end" in str(error):
                        break  # the other cases would wait just as long
                    continue
                events = read_events(text)
                counted = [e for e in events if e["event"] == "message" and e["data"] != "liftoff"]
                wanted = ", ".join(map(str, numbers)) or "none"
                expect(_show(counted) == wanted, f"{said} the numbered events were {_show(counted)}, not {wanted} "
                                                 "(each with its number as id and data).")
                last = events[-1] if events else {}
                expect(last.get("event") == "done" and last.get("data") == "liftoff",
                       f"{said} the stream did not end with an event named done (data liftoff), but {last}.")
                if last_id is None:
                    cache = response.headers.get("Cache-Control")
                    expect(cache == "no-cache", f"Cache-Control is {cache!r}, not 'no-cache': nobody may cache a live stream.")


q1 = Poem()
q2 = Countdown()
