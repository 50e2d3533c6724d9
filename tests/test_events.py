"""apps/events.py: the SSE counter's framing, resumption, heartbeats, bad input and dropped clients."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from apps.events import app, sse
from course import serve
from cli_server import cli_server


def parse(text: str) -> list[dict]:
    """Split an event stream into events: {"data": ..., "id": ..., "event": ..., "retry": ...}."""
    events, fields = [], {}
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if fields:
                events.append(fields)
            fields = {}
        elif line.startswith(":"):
            fields.setdefault("comments", []).append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data" and "data" in fields:
                fields["data"] += "\n" + value
            else:
                fields[name] = value
    return events


async def _read_events(path: str, count: int, headers: dict | None = None) -> list[dict]:
    """Read ``count`` data events through the test client, then hang up."""
    text = ""
    async with app.test_client().request(path, headers=headers) as connection:
        while len([e for e in parse(text) if "id" in e]) < count:
            text += (await asyncio.wait_for(connection.receive(), 5)).decode()
        await connection.disconnect()
    return parse(text)


# --- framing --------------------------------------------------------------------------------------


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


def test_form_feed_is_data_not_a_line_break():
    assert parse(sse("a\x0cb")) == [{"data": "a\x0cb"}]


@pytest.mark.parametrize("field", ["event", "id"])
def test_line_breaks_cannot_inject_fields(field):
    with pytest.raises(ValueError):
        sse("x", **{field: "1\ndata: injected"})


def test_multi_line_data_survives_a_round_trip():
    assert parse(sse("a\nb\nc", event="e")) == [{"event": "e", "data": "a\nb\nc"}]


# --- the Quart test client -----------------------------------------------------------------------


async def test_index_redirects_to_the_page_with_a_relative_url():
    response = await app.test_client().get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "static/events.html"


async def test_events_page_uses_a_relative_url():
    response = await app.test_client().get("/static/events.html")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'new URL("../events", location.href)' in page and "EventSource" in page
    assert "http://" not in page and "'/" not in page and '"/' not in page


async def test_stream_headers_and_first_events():
    async with app.test_client().request("/events?interval=0.05") as connection:
        first = await connection.receive()
        await connection.disconnect()
    assert connection.status_code == 200
    assert connection.headers["Content-Type"] == "text/event-stream"
    assert connection.headers["Cache-Control"] == "no-cache"
    hello = parse(first.decode())[0]
    assert hello == {"event": "hello", "retry": "1000", "data": "counting from 1\none every 0.05 s"}


async def test_counter_counts_with_matching_ids():
    events = await _read_events("/events?interval=0.05", 5)
    numbered = [e for e in events if "id" in e]
    assert numbered, "no numbered events"
    assert [(e["id"], e["data"]) for e in numbered[:5]] == [(str(n), str(n)) for n in range(1, 6)]


@pytest.mark.parametrize("last_id, first", [("41", 42), ("0", 1), ("", 1), ("abc", 1), ("-5", 1), ("²", 1)])
async def test_last_event_id_resumes_after_it(last_id, first):
    events = await _read_events("/events?interval=0.05", 2, headers={"Last-Event-ID": last_id})
    assert [e["id"] for e in events if "id" in e][:2] == [str(first), str(first + 1)]


@pytest.mark.parametrize("interval, message", [
    ("soon", "a number"), ("0", "between"), ("0.01", "between"), ("-1", "between"),
    ("nan", "between"), ("inf", "between"), ("1e9", "between"),
])
async def test_bad_interval_is_a_json_400(interval, message):
    response = await app.test_client().get(f"/events?interval={interval}")
    assert response.status_code == 400
    assert message in (await response.get_json())["error"]


async def test_stream_has_no_response_timeout():
    async with app.test_request_context("/events"):
        response = await app.view_functions["events"]()
    assert response.timeout is None


async def test_quiet_stream_sends_heartbeat_comments(monkeypatch):
    monkeypatch.setitem(app.config, "SSE_HEARTBEAT", 0.05)
    text = ""
    async with app.test_client().request("/events?interval=0.3") as connection:
        while text.count("id:") < 2:
            text += (await asyncio.wait_for(connection.receive(), 5)).decode()
        await connection.disconnect()
    assert ": heartbeat\n\n" in text
    between = text.split("id: 1\n", 1)[1].split("id: 2\n", 1)[0]
    assert between.count(": heartbeat") >= 3  # 0.3 s of quiet, a comment every 0.05 s


# --- a real server --------------------------------------------------------------------------------


async def test_drop_and_resume_over_a_real_server(caplog):
    caplog.set_level(logging.INFO)
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            seen = []
            async with client.stream("GET", "/events?interval=0.05") as response:
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        seen.append(int(line[4:]))
                    if len(seen) == 3:
                        break  # leaving the block drops the connection mid-stream
            async with client.stream("GET", "/events?interval=0.05",
                                     headers={"Last-Event-ID": str(seen[-1])}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        seen.append(int(line[4:]))
                    if len(seen) == 6:
                        break
        await asyncio.sleep(0.2)  # let the server notice the second drop too
    assert seen == [1, 2, 3, 4, 5, 6]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_stopping_the_server_ends_an_open_stream():
    server = serve(app)
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        async with client.stream("GET", "/events?interval=0.05") as response:
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith("event: hello")
            await asyncio.to_thread(server.stop)
            rest = [line async for line in lines]  # ends instead of hanging
    assert not server.running
    assert isinstance(rest, list)


# --- real hypercorn and uvicorn processes ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
def test_runs_under_a_real_server_process(kind):
    with cli_server(kind, "apps.events:app") as server:
        text = ""
        with httpx.stream("GET", server.url + "/events?interval=0.05",
                          headers={"Last-Event-ID": "9"}) as response:
            assert response.headers["content-type"] == "text/event-stream"
            for chunk in response.iter_text():
                text += chunk
                if text.count("id:") >= 3:
                    break  # drop mid-stream
        assert [e["id"] for e in parse(text) if "id" in e][:3] == ["10", "11", "12"]
        assert httpx.get(server.url + "/events?interval=x").status_code == 400
        time.sleep(0.3)  # the server notices the drop
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output


# --- a real browser --------------------------------------------------------------------------------


@pytest.mark.browser
def test_events_page_shows_the_counter_rising(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with serve(app) as server:
        browser.get(server.url + "/static/events.html?interval=0.1")
        wait = WebDriverWait(browser, 10)
        wait.until(lambda b: b.find_element(By.ID, "count").text.isdigit())
        first = int(browser.find_element(By.ID, "count").text)
        wait.until(lambda b: int(b.find_element(By.ID, "count").text) >= first + 3)
        assert browser.find_element(By.ID, "status").text == "connected"
        assert browser.find_element(By.ID, "hello").text == "counting from 1\none every 0.1 s"
        browser.get("about:blank")  # close the EventSource before the server stops


@pytest.mark.browser
def test_events_page_resumes_after_a_server_restart(browser):
    """EventSource reconnects by itself and sends Last-Event-ID: the count carries on, not from 1."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = serve(app)
    port = server.port
    try:
        browser.get(server.url + "/static/events.html?interval=0.1")
        wait = WebDriverWait(browser, 15)

        def count(b) -> int:
            return int(b.find_element(By.ID, "count").text or 0)

        wait.until(lambda b: b.find_element(By.ID, "count").text.isdigit() and count(b) >= 3)
        server.stop()
        seen = count(browser)
        server = serve(app, port=port)
        wait.until(lambda b: b.find_element(By.ID, "hello").text.startswith("counting from ")
                   and b.find_element(By.ID, "hello").text != "counting from 1\none every 0.1 s")
        resumed_from = int(browser.find_element(By.ID, "hello").text.split()[2])
        assert resumed_from == seen + 1  # the browser sent the id of the last event it showed
        wait.until(lambda b: count(b) > resumed_from)
    finally:
        browser.get("about:blank")
        server.stop()
