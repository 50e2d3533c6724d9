"""The course's apps work behind jupyter-server-proxy, exactly as on Binder and JupyterHub.

A real Jupyter server runs on loopback with a hub-like ``base_url`` (``/user/learner/``) and
token auth. A kernel started through its REST API serves the course's apps with the kit, and
everything below reaches them only through ``/user/learner/proxy/{port}/...``: plain HTTP, a
websocket round trip, a Server-Sent Events stream arriving event by event, and headless
Chromium chatting with a client in the kernel.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
import websockets.sync.client

from jupyter import AUTH, BASE_URL, TOKEN, Kernel, jupyter_server


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    with jupyter_server(tmp_path_factory.mktemp("jupyter")) as server:
        yield server


@pytest.fixture(scope="module")
def kernel(jupyter):
    kernel = Kernel(jupyter)
    try:
        yield kernel
    finally:
        kernel.shutdown()


SERVE_CELL = """
import json
from quart import Quart, redirect, request
from course import serve, public_url
from apps.chat import app as chat_app
from apps.events import app as events_app

probe_app = Quart("probe")

@probe_app.get("/where/<path:rest>")
async def where(rest):
    return {"path": request.path, "query": request.query_string.decode(),
            "forwarded_prefix": request.headers.get("X-Forwarded-Prefix")}

@probe_app.get("/go-home")
async def go_home():
    return redirect("/where/home")

@probe_app.post("/upload")
async def upload():
    size = sum([len(chunk) async for chunk in request.body])
    return {"size": size, "content_length": request.headers.get("Content-Length"),
            "transfer_encoding": request.headers.get("Transfer-Encoding")}

chat, events, probe = serve(chat_app), serve(events_app), serve(probe_app)
print(json.dumps({"chat": chat.port, "events": events.port, "probe": probe.port,
                  "page": public_url(chat, "/static/chat.html")}))
"""


@pytest.fixture(scope="module")
def ports(kernel):
    """The kernel serves apps/chat.py, apps/events.py and a probe app with ``serve()``."""
    return json.loads(kernel.execute(SERVE_CELL))


@pytest.fixture
def client():
    with httpx.Client(headers=AUTH, trust_env=False, timeout=15) as client:
        yield client


def test_show_points_the_browser_at_the_proxy(ports):
    assert ports["page"] == f"{BASE_URL}proxy/{ports['chat']}/static/chat.html"


def test_plain_http_arrives_with_the_prefix_stripped(jupyter, ports, client):
    response = client.get(jupyter.proxy(ports["probe"], "/where/a/b?x=1"))
    assert response.status_code == 200
    assert response.json() == {"path": "/where/a/b", "query": "x=1",
                               "forwarded_prefix": f"{BASE_URL}proxy/{ports['probe']}"}


def test_redirects_keep_the_proxy_prefix(jupyter, ports, client):
    relative = client.get(jupyter.proxy(ports["chat"], "/"))  # apps/chat.py: a relative Location
    assert relative.status_code in (301, 302, 303, 307, 308)
    assert relative.headers["location"] == "static/chat.html"
    absolute = client.get(jupyter.proxy(ports["probe"], "/go-home"))  # rewritten by the proxy
    assert absolute.headers["location"] == f"{BASE_URL}proxy/{ports['probe']}/where/home"


def test_static_page_through_the_proxy(jupyter, ports, client):
    response = client.get(jupyter.proxy(ports["chat"], "/static/chat.html"))
    assert response.status_code == 200
    assert 'id="messages"' in response.text


def test_the_proxy_needs_the_learners_login(jupyter, ports):
    with httpx.Client(trust_env=False, timeout=15) as anonymous:
        page = anonymous.get(jupyter.proxy(ports["probe"], "/where/x"))
        assert page.status_code == 302 and "/login" in page.headers["location"]
        assert anonymous.post(jupyter.proxy(ports["probe"], "/where/x")).status_code == 403
    with pytest.raises(websockets.InvalidStatus) as refused:
        websockets.sync.client.connect(jupyter.proxy(ports["chat"], "/ws", "ws"), proxy=None)
    assert refused.value.response.status_code == 403


def test_websocket_round_trip(jupyter, ports):
    with websockets.sync.client.connect(jupyter.proxy(ports["chat"], "/ws", "ws"),
                                        additional_headers=AUTH, proxy=None) as socket:
        for text in ("hello", "through the proxy"):
            socket.send(text)
            assert socket.recv(timeout=10) == f"You said: {text}"


def test_sse_arrives_event_by_event(jupyter, ports, client):
    """The stream never ends, so any event that arrives at all was streamed, not buffered."""
    interval, arrivals = 0.2, []
    url = jupyter.proxy(ports["events"], f"/events?interval={interval}")
    with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:") and line[5:].strip().isdigit():  # the counter's events
                arrivals.append((time.monotonic(), line))
            if len(arrivals) == 5:
                break
    assert [line for _, line in arrivals] == [f"data: {n}" for n in range(1, 6)]
    # Produced over 4 intervals; buffered they would arrive together. Only a lower bound.
    assert arrivals[-1][0] - arrivals[0][0] >= 2 * interval


@pytest.mark.parametrize("accept", ["*/*", "text/event-stream, */*"])
def test_other_requests_are_buffered_whole(jupyter, ports, client, accept):
    """Without exactly `Accept: text/event-stream` the proxy waits for the end, which never comes."""
    url = jupyter.proxy(ports["events"], "/events?interval=0.05")
    with pytest.raises(httpx.ReadTimeout):
        with client.stream("GET", url, headers={"Accept": accept}, timeout=1.5):
            pass


def test_uploads_are_read_whole_before_the_app_sees_them(jupyter, ports, client):
    """A body sent in chunks reaches the app with a Content-Length: the proxy read all of it first."""
    def pieces():
        for _ in range(3):
            yield b"x" * 1000

    response = client.post(jupyter.proxy(ports["probe"], "/upload"), content=pieces())
    assert response.json() == {"size": 3000, "content_length": "3000", "transfer_encoding": None}


def test_uploads_over_512_mib_are_refused(jupyter, ports):
    """jupyter_server's max_body_size (512 MiB) applies to what the proxy forwards too."""
    host, port = jupyter.origin.split("://")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=15) as connection:
        connection.sendall(
            f"POST {BASE_URL}proxy/{ports['probe']}/upload HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: token {TOKEN}\r\nContent-Length: {513 * 2**20}\r\n\r\n".encode())
        assert connection.recv(200).startswith(b"HTTP/1.1 400 ")


BOB_JOINS = """
import asyncio, json, websockets
bob = await websockets.connect({url!r}, additional_headers={auth!r}, proxy=None)
await bob.send(json.dumps({{"text": "hello from the notebook"}}))

async def next_message(socket, sender):
    while True:
        data = json.loads(await socket.recv())
        if data.get("type") == "message" and data["name"] == sender:
            return data

print(json.dumps(await asyncio.wait_for(next_message(bob, "bob"), 10)))
"""

BOB_HEARS_ADA = """
print(json.dumps(await asyncio.wait_for(next_message(bob, "ada"), 10)))
await bob.close()
"""


@pytest.mark.browser
def test_browser_chats_with_the_notebook_through_the_proxy(browser, jupyter, kernel, ports):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{jupyter.url}api/status?token={TOKEN}")  # logs in: the learner's cookie
    browser.get(jupyter.origin + ports["page"] + "?room=lobby&name=ada")
    wait = WebDriverWait(browser, 15)
    wait.until(lambda b: b.find_element(By.ID, "status").text.strip() == "connected")

    url = jupyter.proxy(ports["chat"], "/chat/lobby?name=bob", "ws")
    echoed = json.loads(kernel.execute(BOB_JOINS.format(url=url, auth=AUTH)))
    assert echoed["text"] == "hello from the notebook"
    wait.until(lambda b: "hello from the notebook" in b.find_element(By.ID, "messages").text)
    assert "bob" in browser.find_element(By.ID, "messages").text

    browser.find_element(By.ID, "message").send_keys("hello from the browser")
    browser.find_element(By.ID, "send").click()
    heard = json.loads(kernel.execute(BOB_HEARS_ADA))
    assert (heard["name"], heard["text"], heard["room"]) == ("ada", "hello from the browser", "lobby")


def test_doctor_checks_the_proxy_from_the_kernel(kernel, ports, certs):
    report = kernel.execute("from course._doctor import main\nprint('exit', main())", timeout=60)
    assert f"✓ pages open at {BASE_URL}proxy/PORT/ (this kernel runs under the Jupyter server" in report
    assert f"✓ HTTP and websockets reach the kernel through {BASE_URL}proxy/PORT/" in report
    assert "✗" not in report and report.rstrip().endswith("exit 0"), report


@pytest.mark.browser
def test_browser_event_source_counts_through_the_proxy(browser, jupyter, ports):
    """EventSource sends `Accept: text/event-stream`, so the endless counter streams to the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def count(b) -> int:
        text = b.find_element(By.ID, "count").text.strip()
        return int(text) if text.isdigit() else 0

    browser.get(f"{jupyter.url}api/status?token={TOKEN}")  # logs in: the learner's cookie
    browser.get(jupyter.proxy(ports["events"], "/static/events.html"))
    wait = WebDriverWait(browser, 15)
    wait.until(lambda b: count(b) >= 1)
    first = count(browser)
    wait.until(lambda b: count(b) > first)  # a later event reached the page: not buffered
