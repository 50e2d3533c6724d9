"""apps/events.py: the SSE counter's framing, the course's SSE parser, resumption, bad input, stopping."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time

import httpx
import pytest
import quart

from apps.events import EventStreamParser, create_app, read_events, sse
from conftest import app_command, below_a_notebook_frame
from course import serve, serve_command


@pytest.fixture
def app():
    return create_app()


async def _read_events(app, path: str, count: int, headers: dict | None = None) -> list[dict]:
    """Read events through the test client until ``count`` numbered ones arrived, then hang up."""
    parser, events = EventStreamParser(), []
    async with app.test_client().request(path, headers=headers) as connection:
        while len([e for e in events if e["id"]]) < count:
            events += parser.feed((await asyncio.wait_for(connection.receive(), 5)).decode())
        await connection.disconnect()
    return events


# --- writing events -------------------------------------------------------------------------------


@pytest.mark.parametrize("args, kwargs, expected", [
    (("hi",), {}, "data: hi\n\n"),
    (("two\nlines",), {}, "data: two\ndata: lines\n\n"),
    (("",), {}, "data: \n\n"),
    ((7,), {"id": 7}, "id: 7\ndata: 7\n\n"),
    (("x",), {"event": "tick", "retry": 500}, "event: tick\nretry: 500\ndata: x\n\n"),
])
def test_sse_formats_one_event(args, kwargs, expected):
    assert sse(*args, **kwargs) == expected


@pytest.mark.parametrize("text", ["a\r\nb", "a\rb", "a\nb"])
def test_every_line_ending_splits_data_lines(text):
    assert sse(text) == "data: a\ndata: b\n\n"


@pytest.mark.parametrize("field", ["event", "id"])
def test_line_breaks_cannot_inject_fields(field):
    with pytest.raises(ValueError):
        sse("x", **{field: "1\ndata: injected"})


@pytest.mark.parametrize("data", ["a\nb\nc", "a\x0cb", "", "  spaced  ", "ünï ✓", ": not a comment"])
def test_what_sse_writes_read_events_reads_back(data):
    assert read_events(sse(data, event="e", id=3)) == [{"event": "e", "data": data, "id": "3"}]


# --- reading events: the course's one parser, as a browser's EventSource reads ---------------------


def msg(data: str, id: str = "", event: str = "message", **extra) -> dict:
    return {"event": event, "data": data, "id": id, **extra}


PARSER_CASES = [
    ("data: hi\n\n", [msg("hi")]),
    ("data:no space\n\n", [msg("no space")]),
    ("data:  two spaces\n\n", [msg(" two spaces")]),  # only one space is dropped
    ("data: a\ndata: b\n\n", [msg("a\nb")]),
    ("data\n\n", [msg("")]),  # a field name alone has an empty value
    ("event: tick\ndata: x\n\n", [msg("x", event="tick")]),
    ("event: tick\n\ndata: x\n\n", [msg("x")]),  # no data: nothing dispatched, and the type resets
    ("id: 7\ndata: x\n\ndata: y\n\n", [msg("x", "7"), msg("y", "7")]),  # the last id carries on
    ("id: 7\n\ndata: y\n\n", [msg("y", "7")]),  # an id alone is kept for later events
    ("id: 7\ndata: x\n\nid\ndata: y\n\n", [msg("x", "7"), msg("y", "")]),  # an empty id resets it
    ("id: a\0b\ndata: x\n\n", [msg("x")]),  # an id holding NUL is ignored
    ("retry: 500\ndata: x\n\n", [msg("x", retry=500)]),
    ("retry: 5s\ndata: x\n\nretry: -1\ndata: y\n\n", [msg("x"), msg("y")]),  # digits only
    (": heartbeat\ndata: x\n\n: heartbeat\n\n", [msg("x")]),  # comments are ignored
    ("unknown: 1\nDATA: no\ndata: x\n\n", [msg("x")]),  # unknown (and wrongly cased) fields too
    ("data: a\r\ndata: b\r\n\r\n", [msg("a\nb")]),
    ("data: a\rdata: b\r\r", [msg("a\nb")]),
    ("data: a\ndata: b\r\n\r", [msg("a\nb")]),  # mixed endings; a last CR ends the line
    ("\ufeffdata: bom\n\n", [msg("bom")]),  # a byte order mark may open the stream
    ("data: unfinished", []),
    ("data: x\n\ndata: unfinished\n", [msg("x")]),  # an event without its blank line is dropped
]


@pytest.mark.parametrize("text, expected", PARSER_CASES)
def test_read_events_follows_eventsource(text, expected):
    assert read_events(text) == expected


@pytest.mark.parametrize("text, expected", PARSER_CASES)
def test_feeding_one_character_at_a_time_reads_the_same(text, expected):
    parser = EventStreamParser()
    events = [event for character in text for event in parser.feed(character)]
    assert events + parser.close() == expected


def test_a_crlf_split_between_chunks_is_one_line_end():
    parser = EventStreamParser()
    assert parser.feed("data: a\r") == []
    assert parser.feed("\ndata: b\r") == []
    assert parser.feed("\n\r\n") == [msg("a\nb")]  # not a blank line after "a": one event
    assert parser.last_event_id == "" and parser.retry is None


# --- the stream -----------------------------------------------------------------------------------


async def test_index_redirects_to_the_page_with_a_relative_url(client):
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "static/events.html"


async def test_events_page_uses_a_relative_url(client):
    response = await client.get("/static/events.html")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'new URL("../events", location.href)' in page and "EventSource" in page
    assert "http://" not in page and "'/" not in page and '"/' not in page
    assert "color-scheme: light dark" in page


async def test_stream_headers_and_first_events(app):
    async with app.test_client().request("/events?interval=0.05") as connection:
        first = await connection.receive()
        await connection.disconnect()
    assert connection.status_code == 200
    assert connection.headers["Content-Type"] == "text/event-stream"
    assert connection.headers["Cache-Control"] == "no-cache"
    assert read_events(first.decode()) == [msg("counting from 1\none every 0.05 s", event="hello", retry=1000)]


async def test_counter_counts_with_matching_ids(app):
    numbered = [e for e in await _read_events(app, "/events?interval=0.05", 5) if e["id"]]
    assert [(e["id"], e["data"]) for e in numbered[:5]] == [(str(n), str(n)) for n in range(1, 6)]


@pytest.mark.parametrize("last_id, first", [("41", 42), ("0", 1), ("", 1), ("9" * 18, 10**18)])
async def test_last_event_id_resumes_after_it(app, last_id, first):
    events = await _read_events(app, "/events?interval=0.05", 2, headers={"Last-Event-ID": last_id})
    assert [e["id"] for e in events if e["id"]][:2] == [str(first), str(first + 1)]


@pytest.mark.parametrize("last_id", [
    "abc", "-5", "²", "1.5", "0x10", "9" * 19,
    "9" * 4301,  # int() refuses more than 4,300 digits: this was a 500 with a traceback
])
async def test_a_last_event_id_this_stream_never_sent_is_a_json_400(client, last_id):
    response = await client.get("/events", headers={"Last-Event-ID": last_id})
    assert response.status_code == 400
    assert "Last-Event-ID" in (await response.get_json())["error"]


@pytest.mark.parametrize("interval, message", [
    ("soon", "a number"), ("0", "between"), ("0.01", "between"), ("-1", "between"),
    ("nan", "between"), ("inf", "between"), ("1e9", "between"),
])
async def test_bad_interval_is_a_json_400(client, interval, message):
    response = await client.get(f"/events?interval={interval}")
    assert response.status_code == 400
    assert message in (await response.get_json())["error"]


@pytest.mark.parametrize("method, path, status", [("GET", "/nowhere", 404), ("POST", "/events", 405)])
async def test_other_errors_are_json_too(client, method, path, status):
    response = await client.open(path, method=method)
    assert response.status_code == status
    assert "error" in await response.get_json()


async def test_stream_has_no_response_timeout(app):
    async with app.test_request_context("/events"):
        response = await app.view_functions["events"]()
    assert response.timeout is None


async def test_quiet_stream_sends_heartbeat_comments():
    app = create_app({"SSE_HEARTBEAT": 0.05})
    text = ""
    async with app.test_client().request("/events?interval=0.3") as connection:
        while text.count("id:") < 2:
            text += (await asyncio.wait_for(connection.receive(), 5)).decode()
        await connection.disconnect()
    between = text.split("id: 1\n", 1)[1].split("id: 2\n", 1)[0]
    assert between.count(": heartbeat\n\n") >= 3  # 0.3 s of quiet, a comment every 0.05 s
    assert [e["data"] for e in read_events(text) if e["id"]] == ["1", "2"]  # comments are not events


# --- the real hypercorn and uvicorn commands ------------------------------------------------------


def _stream(url: str, count: int, headers: dict | None = None) -> list[dict]:
    """Read ``count`` numbered events over HTTP, then drop the connection mid-stream."""
    parser, events = EventStreamParser(), []
    with httpx.stream("GET", url, headers=headers, timeout=10) as response:
        assert response.headers["content-type"] == "text/event-stream"
        for chunk in response.iter_text():
            events += parser.feed(chunk)
            if len([e for e in events if e["id"]]) >= count:
                break
    return [e for e in events if e["id"]]


def test_drop_and_resume_under_the_real_servers(run_app):
    server = run_app("apps.events:app")
    seen = _stream(server.url + "/events?interval=0.05", 3)
    seen += _stream(server.url + "/events?interval=0.05", 3, headers={"Last-Event-ID": seen[-1]["id"]})
    assert [e["id"] for e in seen] == ["1", "2", "3", "4", "5", "6"]
    for last_id in ["abc", "9" * 4301]:
        assert httpx.get(server.url + "/events", headers={"Last-Event-ID": last_id}).status_code == 400
    assert httpx.get(server.url + "/events?interval=x").status_code == 400


GRACEFUL = {"hypercorn": ["--graceful-timeout", "1"], "uvicorn": ["--timeout-graceful-shutdown", "1"]}


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
def test_sigterm_stops_a_server_with_an_open_stream(kind):
    """Without --timeout-graceful-shutdown, uvicorn waits for the endless stream forever (SIGKILL).

    Started with serve_command (run_app's own helper) rather than run_app: on Quart 0.22,
    uvicorn logs its own cancellation of the stream's task ("Task cancelled, timeout graceful
    shutdown exceeded") as a traceback, which run_app would count as the app's.
    """
    server = serve_command(app_command(kind, "apps.events:app", *GRACEFUL[kind]))
    streaming = threading.Event()

    def listen():
        try:
            with httpx.stream("GET", server.url + "/events?interval=0.1", timeout=30) as response:
                for line in response.iter_lines():
                    streaming.set()
        except httpx.HTTPError:
            pass  # the server went away: expected

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    try:
        assert streaming.wait(10), "the stream never started"
    finally:
        returncode = server.stop(grace=8)  # SIGTERM, then SIGKILL after 8 s
    reader.join(10)
    assert returncode != -signal.SIGKILL, f"{kind} ignored SIGTERM with a stream open:\n{server.output}"
    allowed = "timeout graceful shutdown exceeded" if kind == "uvicorn" and _quart_022() else None
    assert [t for t in server.tracebacks if not (allowed and allowed in t)] == [], server.output


def _quart_022() -> bool:
    return not hasattr(sys.modules[quart.__name__].wrappers.base, "ClientDisconnectedError")


# --- the kit's server and a real browser ------------------------------------------------------------


async def test_stopping_the_kit_server_ends_an_open_stream(app):
    server = serve(app)
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        async with client.stream("GET", "/events?interval=0.05") as response:
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith("event: hello")
            await asyncio.to_thread(server.stop)
            rest = [line async for line in lines]  # ends instead of hanging
    assert not server.running
    assert rest is not None


def _count(browser) -> int:
    text = browser.find_element("id", "count").text
    return int(text) if text.isdigit() else 0


def _wait(browser, condition, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


@pytest.mark.browser
def test_events_page_shows_the_counter_rising(browser, served):
    browser.get(served.url + "/static/events.html?interval=0.1")
    _wait(browser, lambda b: _count(b) >= 1)
    first = _count(browser)
    _wait(browser, lambda b: _count(b) >= first + 3)
    assert browser.find_element("id", "status").text == "connected"
    assert browser.find_element("id", "hello").text == "counting from 1\none every 0.1 s"
    browser.get("about:blank")  # close the EventSource before the server stops


@pytest.mark.browser
def test_events_page_resumes_after_a_server_restart(browser, app):
    """EventSource reconnects by itself and sends Last-Event-ID: the count carries on, not from 1."""
    server = serve(app)
    port = server.port
    try:
        browser.get(server.url + "/static/events.html?interval=0.1")
        _wait(browser, lambda b: _count(b) >= 3)
        server.stop()
        seen = _count(browser)
        server = serve(app, port=port)
        _wait(browser, lambda b: b.find_element("id", "hello").text.startswith("counting from ")
              and b.find_element("id", "hello").text != "counting from 1\none every 0.1 s")
        resumed_from = int(browser.find_element("id", "hello").text.split()[2])
        assert resumed_from == seen + 1  # the browser sent the id of the last event it showed
        _wait(browser, lambda b: _count(b) > resumed_from)
    finally:
        browser.get("about:blank")
        server.stop()


@pytest.mark.browser
def test_the_page_says_when_its_server_stopped_instead_of_retrying_forever(browser, served):
    browser.get(served.url + "/static/events.html?interval=0.1")
    _wait(browser, lambda b: _count(b) >= 1)
    served.stop()
    _wait(browser, lambda b: "Run the notebook cell" in b.find_element("id", "status").text, timeout=30)
    assert browser.find_element("id", "reconnect").is_displayed()
    browser.get("about:blank")



FRAME = 220  # the height chapter 09 shows the page at: show(events_server, "static/events.html", height=220)
HELLO = "document.getElementById('hello').textContent"  # the page has heard the stream's first event


@pytest.mark.browser
def test_the_counter_fits_a_notebook_frame(browser, served):
    below = below_a_notebook_frame(browser, served.url, "static/events.html", FRAME, ["status", "count", "hello"],
                                   ready=HELLO)
    assert all(overflow <= 0 for overflow in below.values()), below


@pytest.mark.browser
def test_the_stopped_message_and_its_button_fit_the_notebook_frame(browser, served):
    stopped = "stopped('The server stopped. Run the notebook cell that serves this app again, then press Reconnect.')"
    below = below_a_notebook_frame(browser, served.url, "static/events.html", FRAME,
                                   ["status", "count", "hello", "reconnect"], ready=HELLO, then=stopped)
    assert all(overflow <= 0 for overflow in below.values()), below
