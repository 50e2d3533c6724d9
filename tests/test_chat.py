"""apps/chat.py: the echo websocket, rooms through the broker, and the limits that keep it safe."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from apps.chat import app, create_app
from course import serve
from cli_server import cli_server


@pytest.fixture
async def client():
    """A test client of the app with its lifespan run (the broker is made in before_serving)."""
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def _next_of_type(ws, kind: str, timeout: float = 5) -> dict:
    """The next JSON frame of the given type, skipping the others (joins, leaves)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.receive(), timeout))
        if message["type"] == kind:
            return message


# --- the Quart test client -----------------------------------------------------------------------


async def test_index_redirects_to_the_page_with_a_relative_url(client):
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "static/chat.html"


async def test_chat_page_is_served(client):
    response = await client.get("/static/chat.html")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert 'new URL("../chat/"' in page
    assert "ws://" not in page.replace('"ws:"', "") and 'src="/' not in page and 'href="/' not in page


async def test_echo_answers_every_message(client):
    async with client.websocket("/ws") as ws:
        for text in ["hello", "two words", "ünïcode ✓"]:
            await ws.send(text)
            assert await ws.receive() == f"You said: {text}"


async def test_room_message_reaches_every_member_sender_included(client):
    async with client.websocket("/chat/kitchen?name=ada") as ada, \
            client.websocket("/chat/kitchen?name=bob") as bob, \
            client.websocket("/chat/garden?name=eve") as eve:
        assert (await _next_of_type(ada, "join"))["name"] == "ada"
        assert (await _next_of_type(bob, "join"))["name"] == "bob"
        await ada.send(json.dumps({"text": "hi all"}))
        expected = {"type": "message", "room": "kitchen", "name": "ada", "text": "hi all"}
        assert await _next_of_type(ada, "message") == expected
        assert await _next_of_type(bob, "message") == expected
        await eve.send(json.dumps({"text": "only the garden"}))
        assert (await _next_of_type(eve, "message"))["room"] == "garden"
        with pytest.raises(asyncio.TimeoutError):  # other rooms hear nothing of it
            await _next_of_type(bob, "message", timeout=0.2)


async def test_name_defaults_and_is_trimmed(client):
    async with client.websocket("/chat/r") as anon, client.websocket("/chat/r?name=" + "x" * 100) as long:
        await anon.send('{"text": "a"}')
        assert (await _next_of_type(anon, "message"))["name"] == "anonymous"
        await long.send('{"text": "b"}')
        assert (await _next_of_type(long, "message"))["name"] == "x" * 32


BAD_FRAMES = [
    ("{not json", "malformed JSON"),
    ("", "malformed JSON"),
    ('"just a string"', 'a string "text"'),
    ("[1, 2]", 'a string "text"'),
    ('{"txt": "typo"}', 'a string "text"'),
    ('{"text": 42}', 'a string "text"'),
    ('{"text": "   "}', '"text" is empty'),
    (b'{"text": "bytes"}', "text frames"),
]


@pytest.mark.parametrize("frame, message", BAD_FRAMES)
async def test_bad_frames_get_an_error_and_the_connection_lives_on(client, frame, message):
    async with client.websocket("/chat/r?name=ada") as ws:
        await ws.send(frame)
        error = await _next_of_type(ws, "error")
        assert message in error["error"]
        await ws.send('{"text": "still here"}')
        assert (await _next_of_type(ws, "message"))["text"] == "still here"


@pytest.mark.parametrize("path", ["/ws", "/chat/r"])
async def test_oversize_message_closes_with_1009(client, path):
    async with client.websocket(path) as ws:
        await ws.send("x" * (app.config["MAX_MESSAGE_SIZE"] + 1))
        with pytest.raises(WebsocketDisconnectError) as closed:
            while True:
                await asyncio.wait_for(ws.receive(), 5)
        assert closed.value.args[0] == 1009


async def test_echo_closes_with_1003_on_binary_frames(client):
    async with client.websocket("/ws") as ws:
        await ws.send(b"bytes")
        with pytest.raises(WebsocketDisconnectError) as closed:
            await asyncio.wait_for(ws.receive(), 5)
        assert closed.value.args[0] == 1003


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:1"])
@pytest.mark.parametrize("path", ["/ws", "/chat/r"])
async def test_foreign_origin_is_refused_with_403(client, path, origin):
    async with client.websocket(path, headers={"Origin": origin, "Host": "localhost"}) as ws:
        with pytest.raises(WebsocketResponseError) as refused:
            await ws.receive()
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", ["http://chat.example:8000", "https://chat.example:8000"])
async def test_same_host_origin_is_accepted(client, origin):
    async with client.websocket("/ws", headers={"Origin": origin, "Host": "chat.example:8000"}) as ws:
        await ws.send("hi")
        assert await ws.receive() == "You said: hi"


async def test_allowed_origins_admit_another_site(client, monkeypatch):
    monkeypatch.setitem(app.config, "ALLOWED_ORIGINS", {"https://docs.example"})
    async with client.websocket("/ws", headers={"Origin": "https://docs.example", "Host": "chat.example"}) as ws:
        await ws.send("hi")
        assert await ws.receive() == "You said: hi"


async def test_leaving_announces_and_empties_the_room(client):
    broker = app.extensions["broker"]
    async with client.websocket("/chat/hall?name=ada") as ada:
        async with client.websocket("/chat/hall?name=bob") as bob:
            await _next_of_type(bob, "join")
            assert len(broker.rooms["hall"]) == 2
        leave = await _next_of_type(ada, "leave")
        assert leave["name"] == "bob"
    for _ in range(50):  # the handler's finally runs as the test client disconnects
        if "hall" not in broker.rooms:
            break
        await asyncio.sleep(0.01)
    assert "hall" not in broker.rooms


async def test_a_client_that_stops_reading_is_dropped(client, monkeypatch):
    import apps.chat

    monkeypatch.setattr(apps.chat, "INBOX_SIZE", 5)
    broker = app.extensions["broker"]
    async with client.websocket("/chat/slow?name=s") as ws:
        await ws.send('{"text": "x"}')
        await _next_of_type(ws, "message")
        inbox = next(iter(broker.rooms["slow"]))
        for n in range(10):  # published faster than anyone reads
            broker.publish("slow", {"type": "message", "room": "slow", "name": "b", "text": str(n)})
        assert inbox not in broker.rooms.get("slow", set())
        with pytest.raises(WebsocketDisconnectError) as closed:
            while True:
                await asyncio.wait_for(ws.receive(), 5)
        assert closed.value.args[0] == 1013


# --- a real server --------------------------------------------------------------------------------


@pytest.fixture
def served():
    with serve(app) as server:
        yield server


async def test_three_clients_chat_over_a_real_server(served, caplog):
    caplog.set_level(logging.INFO)
    url = served.ws_url + "/chat/lobby?name="
    async with connect(url + "ada", proxy=None) as ada, connect(url + "bob", proxy=None) as bob, \
            connect(url + "cy", proxy=None) as cy:
        clients = [ada, bob, cy]
        for ws in clients:  # every client sees cy join: all three are in the room
            while json.loads(await ws.recv()) != {"type": "join", "room": "lobby", "name": "cy"}:
                pass
        for ws, name in zip(clients, ["ada", "bob", "cy"]):
            await ws.send(json.dumps({"text": f"{name} here"}))
            for reader in clients:
                message = await _recv_type(reader, "message")
                assert (message["name"], message["text"]) == (name, f"{name} here")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_client_vanishing_mid_conversation_leaves_no_error(served, caplog):
    caplog.set_level(logging.INFO)
    url = served.ws_url + "/chat/drop?name="
    async with connect(url + "stay", proxy=None) as stay:
        gone = await connect(url + "gone", proxy=None)
        await gone.send('{"text": "bye"}')
        gone.transport.abort()  # no close frame: like a laptop lid closing
        left = None
        while left is None:
            message = json.loads(await asyncio.wait_for(stay.recv(), 5))
            left = message if message["type"] == "leave" else None
        assert left["name"] == "gone"
        await stay.send('{"text": "still works"}')
        while (message := json.loads(await stay.recv()))["type"] != "message" or message["name"] != "stay":
            pass
        assert message["text"] == "still works"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_stopping_the_server_closes_websockets_with_1001(served):
    async with connect(served.ws_url + "/chat/r", proxy=None) as ws:
        await ws.recv()
        await asyncio.to_thread(served.stop)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd.code == 1001


async def test_foreign_origin_is_refused_by_a_real_server(served):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(served.ws_url + "/chat/r", proxy=None, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with connect(served.ws_url + "/ws", proxy=None, origin=served.url) as ws:
        await ws.send("same origin")
        assert await ws.recv() == "You said: same origin"


async def test_create_app_makes_a_separate_app_a_test_cannot_disturb(served):
    """Testing a fresh create_app() while `app` is served leaves the served broker alone."""
    served_broker = app.extensions["broker"]
    other = create_app()
    async with other.test_app() as test_app:
        async with test_app.test_client().websocket("/chat/t?name=tester") as ws:
            assert await ws.receive_json() == {"type": "join", "room": "t", "name": "tester"}
        assert other.extensions["broker"] is not served_broker
    assert app.extensions["broker"] is served_broker
    async with connect(served.ws_url + "/chat/t?name=live", proxy=None) as ws:
        assert json.loads(await ws.recv()) == {"type": "join", "room": "t", "name": "live"}
        assert served_broker.rooms["t"]  # the served app's own broker carries its rooms


async def test_200_clients_in_one_room_each_get_every_message_once_in_order(served):
    clients, senders, per_sender = 200, 4, 10
    url = served.ws_url + "/chat/crowd?name=c"
    sockets = []
    try:
        for n in range(clients):
            sockets.append(await connect(f"{url}{n}", proxy=None))
        last_join = {"type": "join", "room": "crowd", "name": f"c{clients - 1}"}

        async def read_all(ws) -> list[tuple[str, str]]:
            while json.loads(await ws.recv()) != last_join:  # everyone is in the room now
                pass
            got = []
            while len(got) < senders * per_sender:
                message = json.loads(await ws.recv())
                if message["type"] == "message":
                    got.append((message["name"], message["text"]))
            try:  # nothing more may come: a duplicate would show up here
                got.append(("unexpected", await asyncio.wait_for(ws.recv(), 0.3)))
            except asyncio.TimeoutError:
                pass
            return got

        readers = [asyncio.create_task(read_all(ws)) for ws in sockets]

        async def send(ws, who: int) -> None:
            for i in range(per_sender):
                await ws.send(json.dumps({"text": f"{who}:{i}"}))

        await asyncio.gather(*(send(sockets[who], who) for who in range(senders)))
        received = await asyncio.wait_for(asyncio.gather(*readers), 60)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    assert len(received) == clients
    first = received[0]
    assert len(first) == senders * per_sender == len(set(first))  # every message, once
    for who in range(senders):  # each sender's messages in the order it sent them
        assert [text for name, text in first if name == f"c{who}"] == [f"{who}:{i}" for i in range(per_sender)]
    assert all(got == first for got in received)  # the same sequence for every client


# --- real hypercorn and uvicorn processes ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
async def test_runs_under_a_real_server_process(kind):
    with cli_server(kind, "apps.chat:app") as server:
        ws_url = server.url.replace("http", "ws", 1)
        assert httpx.get(server.url + "/").headers["location"] == "static/chat.html"
        async with connect(ws_url + "/ws", proxy=None) as ws:
            await ws.send("hi")
            assert await ws.recv() == "You said: hi"
        async with connect(ws_url + "/chat/r?name=a", proxy=None) as a, \
                connect(ws_url + "/chat/r?name=b", proxy=None) as b:
            await a.send("{oops")
            assert "malformed JSON" in (await _recv_type(a, "error"))["error"]
            await a.send('{"text": "hello"}')
            assert (await _recv_type(b, "message"))["text"] == "hello"
            dropped = await connect(ws_url + "/chat/r?name=c", proxy=None)
            dropped.transport.abort()
            assert (await _recv_type(b, "leave"))["name"] == "c"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url + "/ws", proxy=None, origin="http://evil.example"):
                pass
        assert refused.value.response.status_code == 403
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output


async def _recv_type(ws, kind: str) -> dict:
    while (message := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != kind:
        pass
    return message


# --- a real browser --------------------------------------------------------------------------------


@pytest.mark.browser
def test_chat_page_talks_to_a_notebook_client_through_the_broker(browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served.url + "/static/chat.html?room=tea&name=page")
    wait = WebDriverWait(browser, 10)
    wait.until(lambda b: b.find_element(By.ID, "status").text == "connected")

    async def notebook_side() -> dict:
        async with connect(served.ws_url + "/chat/tea?name=notebook", proxy=None) as ws:
            await ws.send(json.dumps({"text": "hello from the notebook"}))
            await asyncio.to_thread(wait.until, lambda b: "hello from the notebook" in
                                    b.find_element(By.ID, "messages").text)
            browser.find_element(By.ID, "message").send_keys("hello from the page")
            browser.find_element(By.ID, "send").click()
            message = await _recv_from(ws, "page")
            await ws.send(json.dumps({"text": HOSTILE}))
            await asyncio.to_thread(wait.until, lambda b: HOSTILE in b.find_element(By.ID, "messages").text)
            return message

    message = asyncio.run(notebook_side())
    assert message == {"type": "message", "room": "tea", "name": "page", "text": "hello from the page"}
    items = browser.find_elements(By.CSS_SELECTOR, "#messages > *")
    assert [item.text for item in items] == ["notebook: hello from the notebook", "page: hello from the page",
                                             f"notebook: {HOSTILE}"]
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages img")  # shown as text, never as HTML


HOSTILE = '<img src="x" onerror="document.title=1">'


async def _recv_from(ws, name: str) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] == "message" and message["name"] == name:
            return message
