"""apps/chat.py: the echo websocket, rooms through the broker, and the limits that keep it safe."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from urllib.parse import quote

import psutil
import pytest
from quart import Quart
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from apps import chat
from apps.chat import create_app, origin_allowed, proxied_site
from conftest import below_a_notebook_frame, start_browser, stop_browser

FAST = {"CHAT_RATE": 1000.0, "CHAT_BURST": 1000}  # tests that are not about the rate limit


@pytest.fixture
def app():
    return create_app(FAST)



@pytest.fixture
def closes(app) -> list[int]:
    """The close codes the app sends (Quart 0.23's test client no longer reports them)."""
    codes: list[int] = []
    inner = app.asgi_app

    async def recording(scope, receive, send):
        async def recorded_send(message):
            if message["type"] == "websocket.close":
                codes.append(message.get("code", 1000))
            await send(message)
        await inner(scope, receive, recorded_send)

    app.asgi_app = recording
    return codes


async def _next_of_type(ws, kind: str, timeout: float = 5) -> dict:
    """The next JSON frame of the given type, skipping the others (joins, leaves)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.receive(), timeout))
        if message["type"] == kind:
            return message


async def _until(condition, timeout: float = 5) -> bool:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


# --- pages and routes -----------------------------------------------------------------------------


async def test_index_redirects_to_the_page_with_a_relative_url(client):
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "static/chat.html"


async def test_chat_page_uses_relative_urls_and_encodes_the_room(client):
    response = await client.get("/static/chat.html")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'new URL("../chat/" + encodeURIComponent(room)' in page
    assert "ws://" not in page.replace('"ws:"', "") and 'src="/' not in page and 'href="/' not in page
    assert "color-scheme: light dark" in page


@pytest.mark.parametrize("method, path, status", [("GET", "/nowhere", 404), ("POST", "/", 405)])
async def test_http_errors_are_json(client, method, path, status):
    response = await client.open(path, method=method)
    assert response.status_code == status
    assert "error" in await response.get_json()


# --- talking --------------------------------------------------------------------------------------


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
        while (message := await _next_of_type(long, "message"))["text"] != "b":
            pass  # anon's "a" comes first
        assert message["name"] == "x" * 32


ODD_ROOMS = ["team/ops", "/leading", "trailing/", "a//b", "tea & cake", "50%", "what?#now", "ünï ✓",
             "<b>bold</b>", "..hidden", "x" * 64]


@pytest.mark.parametrize("room", ODD_ROOMS)
async def test_any_room_name_is_one_room(client, room):
    async with client.websocket("/chat/" + quote(room, safe="")) as ws:
        assert (await _next_of_type(ws, "join"))["room"] == room


async def test_a_room_name_is_cut_at_64_characters(client):
    async with client.websocket("/chat/" + "r" * 100) as ws:
        assert (await _next_of_type(ws, "join"))["room"] == "r" * 64


async def test_a_newcomer_sees_the_rooms_recent_messages():
    app = create_app({**FAST, "CHAT_HISTORY": 2})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/chat/tea?name=notebook") as notebook:
            for text in ["one", "two", "three"]:
                await notebook.send(json.dumps({"text": text}))
                await _next_of_type(notebook, "message")
        async with client.websocket("/chat/tea?name=page") as page:  # joins after they were sent
            replayed = [await _next_of_type(page, "message") for _ in range(2)]
            assert (await _next_of_type(page, "join"))["name"] == "page"
    assert [(m["text"], m["replay"]) for m in replayed] == [("two", True), ("three", True)]


def test_the_broker_keeps_history_for_a_bounded_number_of_rooms():
    broker = chat.Broker(history=3, history_rooms=2)
    for room in ["a", "b", "c"]:
        for n in range(5):
            broker.publish(room, {"type": "message", "room": room, "name": "x", "text": str(n)})
    assert list(broker.recent) == ["b", "c"]  # the quietest room was forgotten
    assert [m["text"] for m in broker.recent["c"]] == ["2", "3", "4"]


# --- bad input ------------------------------------------------------------------------------------


BAD_FRAMES = [
    ("{not json", "malformed JSON"),
    ("", "malformed JSON"),
    ("[" * 2000 + "]" * 2000, "JSON"),  # json.loads raises RecursionError on 3.11, not on 3.13
    ('"just a string"', 'a string "text"'),
    ("[1, 2]", 'a string "text"'),
    ('{"txt": "typo"}', 'a string "text"'),
    ('{"text": 42}', 'a string "text"'),
    ('{"text": "   "}', '"text" is empty'),
    (b'{"text": "bytes"}', "text frames"),
    (b"", "text frames"),  # an empty binary frame: None under Hypercorn, KeyError under uvicorn before
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
async def test_oversize_message_closes_with_1009(app, client, closes, path):
    async with client.websocket(path) as ws:
        await ws.send("x" * (app.config["WEBSOCKET_MAX_MESSAGE"] + 1))
        assert await _until(lambda: closes)
    assert closes == [1009]


@pytest.mark.parametrize("frame", [b"bytes", b""])
async def test_echo_closes_with_1003_on_binary_frames(client, closes, frame):
    async with client.websocket("/ws") as ws:
        await ws.send(frame)
        assert await _until(lambda: closes)
    assert closes == [1003]


# --- origins --------------------------------------------------------------------------------------


LOOPBACK = create_app().config["ALLOWED_ORIGINS"]


@pytest.mark.parametrize("origin, allowed", [
    ("http://127.0.0.1:8000", True),
    ("http://localhost:8888", True),  # JupyterLab's own page, through jupyter-server-proxy
    ("https://localhost:8443", True),
    ("http://[::1]:5000", True),
    ("http://evil.example", False),
    ("http://evil.example:8000", False),  # DNS rebinding: evil.example -> 127.0.0.1, Host matches
    ("null", False),  # sandboxed frames and file:// pages
    ("http://localhost.evil.example", False),
    ("http://127.0.0.1.nip.io:8000", False),
    ("http://localhost:99999", False),  # not a valid origin
    ("ftp://localhost:21", False),
])
def test_origins_are_checked_against_the_list_never_against_host(origin, allowed):
    assert origin_allowed(origin, LOOPBACK) is allowed


@pytest.mark.parametrize("origin, allowed", [
    ("https://hub.example", True), ("https://hub.example:443", True), ("http://hub.example", False),
    ("https://hub.example:8443", False), ("https://sub.hub.example", False),
])
def test_an_origin_can_be_added_exactly(origin, allowed):
    assert origin_allowed(origin, ["https://hub.example"]) is allowed


@pytest.mark.parametrize("origin, host", [
    ("http://evil.example", "localhost"), ("null", "localhost"),
    ("http://evil.example:8000", "evil.example:8000"),  # same as Host: the rebinding case
])
@pytest.mark.parametrize("path", ["/ws", "/chat/r"])
async def test_foreign_origin_is_refused_with_a_json_403(client, path, origin, host):
    from quart.testing import WebsocketResponseError

    async with client.websocket(path, headers={"Origin": origin, "Host": host}) as ws:
        with pytest.raises(WebsocketResponseError) as refused:
            await ws.receive()
    assert refused.value.response.status_code == 403
    assert "ALLOWED_ORIGINS" in (await refused.value.response.get_json())["error"]


# Behind a proxy that passes the browser's Host on (jupyter-server-proxy on Binder and hubs), the
# chat accepts a page of that site. A browser that connects directly must name the chat's own port.
CHAT = ("127.0.0.1", 8000)  # where the chat listens in these tables


@pytest.mark.parametrize("origin, host, server, allowed", [
    # Direct connections, DNS rebinding: evil.test points at 127.0.0.1, Origin and Host agree.
    ("http://evil.test:8000", "evil.test:8000", CHAT, False),
    ("http://evil.test", "evil.test", ("127.0.0.1", 80), False),  # the default port is ours too
    ("https://evil.test", "evil.test", ("0.0.0.0", 443), False),
    ("http://EVIL.test:8000", "evil.TEST:8000", CHAT, False),
    # Through a proxy that passed the browser's Host on: the page of that very site.
    ("https://hub.example", "hub.example", CHAT, True),
    ("https://hub.example:443", "hub.example", CHAT, True),
    ("https://Hub.Example", "hub.example", CHAT, True),
    ("http://jupyter.test:8888", "jupyter.test:8888", CHAT, True),
    ("http://[::1]:8888", "[::1]:8888", ("::1", 8000), True),
    ("https://hub.example", "hub.example", ("/run/chat.sock", None), True),  # a Unix socket
    # ... and no other page, through the same proxy.
    ("https://evil.example", "hub.example", CHAT, False),
    ("https://sub.hub.example", "hub.example", CHAT, False),
    ("https://hub.example:8443", "hub.example", CHAT, False),
    ("http://hub.example", "hub.example:443", CHAT, False),
    ("null", "hub.example", CHAT, False),
    ("ftp://hub.example", "hub.example", CHAT, False),
    # Nothing to go on.
    ("https://hub.example", "hub.example", None, False),  # the server's address is unknown
    ("https://hub.example", "", CHAT, False),
    ("https://hub.example", "ada@hub.example", CHAT, False),
    ("https://hub.example", "hub.example/x", CHAT, False),
    ("https://hub.example", "hub.example:99999", CHAT, False),
    ("http://hub.example:x", "hub.example", CHAT, False),
])
def test_a_page_of_the_site_a_proxy_passed_on_is_told_from_a_rebinding_page(origin, host, server, allowed):
    assert proxied_site(origin, host, server) is allowed


ORIGIN_CASES = [  # (origin, host: what the browser asked for, accepted?) for a chat listening on 8000
    ("http://evil.test:8000", "evil.test:8000", False),  # DNS rebinding, straight to the chat
    ("https://hub.example", "hub.example", True),  # through a proxy: a page of the site it serves
    ("https://evil.example", "hub.example", False),  # through a proxy: another site's page
    ("http://127.0.0.1:8888", "127.0.0.1:8000", True),  # loopback: on the ALLOWED_ORIGINS list
]


async def _opens(client, origin: str, host: str) -> bool:
    from quart.testing import WebsocketResponseError

    headers = {"Origin": origin, "Host": host}
    try:
        async with client.websocket("/chat/r?name=a", headers=headers, scope_base={"server": CHAT}) as ws:
            assert (await _next_of_type(ws, "join"))["name"] == "a"
            return True
    except WebsocketResponseError as refused:
        assert refused.response.status_code == 403
        return False


@pytest.mark.parametrize("origin, host, accepted", ORIGIN_CASES)
async def test_the_chat_applies_the_origin_rules(client, origin, host, accepted):
    assert await _opens(client, origin, host) is accepted


async def test_trusting_the_proxys_host_can_be_turned_off():
    app = create_app({**FAST, "TRUST_PROXY_HOST": False})
    async with app.test_app() as test_app:
        assert not await _opens(test_app.test_client(), "https://hub.example", "hub.example")
        assert await _opens(test_app.test_client(), "http://localhost:8888", "localhost:8000")


async def _handshake(port: int, origin: str, host: str) -> bool:
    """Open /chat/r on 127.0.0.1:``port`` as a browser would that asked for ``host`` (DNS points it here)."""
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        async with connect(f"ws://{host}/chat/r?name=a", sock=sock, origin=origin, open_timeout=5) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "join"
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


async def test_origin_rules_hold_under_the_real_servers(run_app):
    server = run_app("apps.chat:app")
    for origin, host, accepted in ORIGIN_CASES:
        origin, host = (text.replace(":8000", f":{server.port}") for text in (origin, host))
        assert await _handshake(server.port, origin, host) is accepted, (origin, host)


async def test_allowed_origins_admit_another_site():
    app = create_app({"ALLOWED_ORIGINS": ["https://docs.example"]})
    async with app.test_app() as test_app:
        headers = {"Origin": "https://docs.example", "Host": "chat.example"}
        async with test_app.test_client().websocket("/ws", headers=headers) as ws:
            await ws.send("hi")
            assert await ws.receive() == "You said: hi"


# --- floods and slow readers ----------------------------------------------------------------------


async def test_a_flooder_is_told_and_throttled_and_readers_keep_their_seat(closes):
    app = create_app({"CHAT_RATE": 0.001, "CHAT_BURST": 3, "CHAT_INBOX": 10})
    inner = app.asgi_app  # the `closes` fixture wrapped another app: wrap this one the same way
    codes: list[int] = []

    async def recording(scope, receive, send):
        async def recorded_send(message):
            codes.extend([message.get("code")] if message["type"] == "websocket.close" else [])
            await send(message)
        await inner(scope, receive, recorded_send)

    app.asgi_app = recording
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/chat/r?name=reader") as reader, \
                client.websocket("/chat/r?name=flooder") as flooder:
            await _next_of_type(flooder, "join")
            for n in range(50):  # far more than the reader's inbox holds, while it does not read
                await flooder.send(json.dumps({"text": f"flood {n}"}))
            told = await _next_of_type(flooder, "error")
            texts = [(await _next_of_type(reader, "message"))["text"] for _ in range(3)]
            await reader.send('{"text": "the reader still talks"}')
            assert (await _next_of_type(reader, "message"))["text"] == "the reader still talks"
    assert "too many messages" in told["error"]
    assert texts == ["flood 0", "flood 1", "flood 2"]  # the burst, then nothing more from the flooder
    assert 1013 not in codes  # nobody was dropped


async def test_a_client_that_stops_reading_is_dropped_with_1013(closes):
    app = create_app({**FAST, "CHAT_INBOX": 5})
    inner, codes = app.asgi_app, []

    async def recording(scope, receive, send):
        async def recorded_send(message):
            codes.extend([message.get("code")] if message["type"] == "websocket.close" else [])
            await send(message)
        await inner(scope, receive, recorded_send)

    app.asgi_app = recording
    async with app.test_app() as test_app:
        broker = app.extensions["broker"]
        async with test_app.test_client().websocket("/chat/slow?name=s") as ws:
            await _next_of_type(ws, "join")
            inbox = next(iter(broker.rooms["slow"]))
            for n in range(10):  # published faster than anyone reads
                broker.publish("slow", {"type": "message", "room": "slow", "name": "b", "text": str(n)})
            assert inbox not in broker.rooms.get("slow", set())
            assert await _until(lambda: codes)
    assert codes == [1013]


async def test_leaving_announces_and_empties_the_room(app, client):
    broker = app.extensions["broker"]
    async with client.websocket("/chat/hall?name=ada") as ada:
        async with client.websocket("/chat/hall?name=bob") as bob:
            await _next_of_type(bob, "join")
            assert len(broker.rooms["hall"]) == 2
        leave = await _next_of_type(ada, "leave")
        assert leave["name"] == "bob"
    assert await _until(lambda: "hall" not in broker.rooms)  # the handler's finally ran


async def test_a_client_that_leaves_while_a_message_is_on_its_way_leaves_no_error(caplog):
    """Quart 0.23 raises in a send that races the client's departure: the sender stops quietly.

    Driven at the ASGI level, as a server would: the client leaves just as its own message
    is about to be sent back to it."""
    app = create_app(FAST)
    incoming: asyncio.Queue = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    incoming.put_nowait({"type": "websocket.receive", "text": '{"text": "bye"}'})
    sent: list[dict] = []

    async def send(message):
        sent.append(message)
        if message["type"] == "websocket.send" and "join" in message["text"]:
            incoming.put_nowait({"type": "websocket.disconnect", "code": 1006})

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
             "path": "/chat/r", "raw_path": b"/chat/r", "query_string": b"name=gone", "root_path": "",
             "headers": [(b"host", b"localhost")], "subprotocols": [], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "extensions": {"websocket.http.response": {}}}
    caplog.set_level(logging.INFO)
    async with app.test_app():
        await asyncio.wait_for(app(scope, incoming.get, send), 5)
    assert [m["type"] for m in sent][:2] == ["websocket.accept", "websocket.send"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


# --- composing ------------------------------------------------------------------------------------


async def test_the_blueprint_brings_its_routes_limits_and_broker_to_another_app():
    other = Quart("with-login")
    other.config["CHAT_RATE"] = 2.0  # the other app's own setting wins over the default
    other.register_blueprint(chat.blueprint, url_prefix="/talk")
    assert other.config["WEBSOCKET_MAX_MESSAGE"] == 4096 and other.config["CHAT_RATE"] == 2.0
    assert other.extensions["limits"]
    async with other.test_app() as test_app:
        async with test_app.test_client().websocket("/talk/chat/team/ops?name=a") as ws:
            assert await ws.receive_json() == {"type": "join", "room": "team/ops", "name": "a"}
        assert isinstance(other.extensions["broker"], chat.Broker)


async def test_create_app_makes_apps_that_share_nothing():
    first, second = create_app(), create_app({"CHAT_HISTORY": 0})
    async with first.test_app(), second.test_app():
        assert first.extensions["broker"] is not second.extensions["broker"]
        assert first.config["CHAT_HISTORY"] == 20 and second.config["CHAT_HISTORY"] == 0


# --- a real server (the kit's Hypercorn) ----------------------------------------------------------


async def _recv_type(ws, kind: str, timeout: float = 5) -> dict:
    while (message := json.loads(await asyncio.wait_for(ws.recv(), timeout)))["type"] != kind:
        pass
    return message


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
        assert (await _recv_type(stay, "leave"))["name"] == "gone"
        await stay.send('{"text": "still works"}')
        while (message := await _recv_type(stay, "message"))["name"] != "stay":
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


@pytest.mark.slow
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


# --- the real hypercorn and uvicorn commands ------------------------------------------------------


async def test_runs_under_the_real_servers(run_app):
    server = run_app("apps.chat:app")
    ws_url = server.url.replace("http", "ws", 1)
    async with connect(ws_url + "/ws", proxy=None) as ws:
        await ws.send("hi")
        assert await ws.recv() == "You said: hi"
    async with connect(ws_url + "/chat/r?name=a", proxy=None) as a, \
            connect(ws_url + "/chat/r?name=b", proxy=None) as b:
        await a.send("{oops")
        assert "malformed JSON" in (await _recv_type(a, "error"))["error"]
        await a.send(b"")  # uvicorn hands Quart {"bytes": b""} with no "text": KeyError before
        assert "text frames" in (await _recv_type(a, "error"))["error"]
        await a.send('{"text": "hello"}')
        assert (await _recv_type(b, "message"))["text"] == "hello"
        dropped = await connect(ws_url + "/chat/r?name=c", proxy=None)
        dropped.transport.abort()
        assert (await _recv_type(b, "leave"))["name"] == "c"
    for frame, code in [(b"", 1003), ("x" * 5000, 1009)]:
        async with connect(ws_url + "/ws", proxy=None) as ws:
            await ws.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == code
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url + "/ws", proxy=None, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403


async def test_odd_room_names_work_through_the_real_servers(run_app):
    server = run_app("apps.chat:app")
    ws_url = server.url.replace("http", "ws", 1)
    for room in ODD_ROOMS:  # encoded as the page does it: encodeURIComponent, one path segment
        async with connect(f"{ws_url}/chat/{quote(room, safe='')}?name=a", proxy=None) as ws:
            assert (await _recv_type(ws, "join"))["room"] == room


def server_memory(server) -> float:
    """RSS in MiB of a server process and its workers (Hypercorn's command forks one)."""
    processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    return sum(p.memory_info().rss for p in processes) / 2**20


@pytest.mark.slow
async def test_a_client_that_sends_and_never_reads_does_not_grow_the_server(run_app):
    """20,000 frames of 4,000 characters to the echo, nothing read: +79 MiB before the limits."""
    server = run_app("apps.chat:app")
    before = server_memory(server)
    async with connect(server.url.replace("http", "ws", 1) + "/ws", proxy=None, max_queue=1,
                       compression=None) as ws:
        sent = 0
        try:
            for sent in range(20_000):
                await asyncio.wait_for(ws.send("x" * 4000), 3)  # blocks once the server stops reading
        except TimeoutError:
            pass
        growth = server_memory(server) - before
    assert sent > 100, "the client could not send anything"
    assert growth < 16, f"the server grew by {growth:.0f} MiB"


@pytest.mark.slow
async def test_one_flooder_does_not_empty_the_room(run_app):
    """5,000 messages from one client in a second: every reader used to be closed with 1013."""
    server = run_app("apps.chat:app")
    room = server.url.replace("http", "ws", 1) + "/chat/flood?name="
    readers = [await connect(room + f"r{n}", proxy=None) for n in range(5)]
    flooder = await connect(room + "flooder", proxy=None)
    try:
        for n in range(5000):
            await flooder.send(json.dumps({"text": f"flood {n}"}))
        told = await _recv_type(flooder, "error", timeout=10)
        await flooder.send('{"text": "last"}')  # one more, refused too: the flooder is throttled
        await readers[0].send('{"text": "a reader speaks"}')
        for ws in readers:  # every reader is still there and hears the reader who spoke
            while (message := await _recv_type(ws, "message", timeout=10))["text"] != "a reader speaks":
                assert message["text"].startswith("flood")
    finally:
        for ws in [*readers, flooder]:
            await ws.close()
    assert "too many messages" in told["error"]


# --- a real browser --------------------------------------------------------------------------------


HOSTILE = '<img src="x" onerror="document.title=1">'


async def _recv_from(ws, name: str) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] == "message" and message["name"] == name:
            return message


def _wait(browser, condition, timeout=10):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


def _text(browser, element_id: str) -> str:
    return browser.find_element("id", element_id).text


@pytest.mark.browser
def test_chat_page_talks_to_a_notebook_client_through_the_broker(browser, served):
    async def notebook_spoke_first() -> None:  # before the page exists, as in a notebook's Run all
        async with connect(served.ws_url + "/chat/tea?name=notebook", proxy=None) as ws:
            await ws.send(json.dumps({"text": "said before the page joined"}))
            await _recv_from(ws, "notebook")

    asyncio.run(notebook_spoke_first())
    browser.get(served.url + "/static/chat.html?room=tea&name=page")
    _wait(browser, lambda b: _text(b, "status") == "connected")
    _wait(browser, lambda b: "said before the page joined" in _text(b, "messages"))

    async def notebook_side() -> dict:
        async with connect(served.ws_url + "/chat/tea?name=notebook", proxy=None) as ws:
            await ws.send(json.dumps({"text": "hello from the notebook"}))
            await asyncio.to_thread(_wait, browser, lambda b: "hello from the notebook" in _text(b, "messages"))
            browser.find_element("id", "message").send_keys("hello from the page")
            browser.find_element("id", "send").click()
            message = await _recv_from(ws, "page")
            await ws.send(json.dumps({"text": HOSTILE}))
            await asyncio.to_thread(_wait, browser, lambda b: HOSTILE in _text(b, "messages"))
            return message

    message = asyncio.run(notebook_side())
    assert message == {"type": "message", "room": "tea", "name": "page", "text": "hello from the page"}
    items = browser.find_elements("css selector", "#messages > *")
    assert [item.text for item in items] == ["notebook: said before the page joined",
                                             "notebook: hello from the notebook",
                                             "page: hello from the page", f"notebook: {HOSTILE}"]
    assert not browser.find_elements("css selector", "#messages img")  # shown as text, never as HTML
    browser.get("about:blank")


@pytest.mark.browser
@pytest.mark.slow
def test_a_dns_rebinding_page_cannot_join_but_the_same_page_on_loopback_can(served):
    """A real browser sets Origin and Host itself: evil.test resolves to 127.0.0.1 here."""
    browser = start_browser("--host-resolver-rules=MAP evil.test 127.0.0.1")
    try:
        browser.get(f"http://evil.test:{served.port}/static/chat.html?room=r&name=evil")
        _wait(browser, lambda b: _text(b, "status") == "refused", timeout=20)  # every retry refused
        assert "ALLOWED_ORIGINS" in _text(browser, "notices")  # and the page says why
        browser.get(served.url + "/static/chat.html?room=r&name=page")
        _wait(browser, lambda b: _text(b, "status") == "connected")
    finally:
        stop_browser(browser)


@pytest.mark.browser
def test_a_room_with_a_slash_and_odd_characters_works_from_the_page(browser, served):
    room = "team/ops & 50%?"
    browser.get(served.url + "/static/chat.html?name=page&room=" + quote(room, safe=""))
    _wait(browser, lambda b: _text(b, "status") == "connected")
    assert _text(browser, "room") == room

    async def notebook_side() -> dict:
        async with connect(f"{served.ws_url}/chat/{quote(room, safe='')}?name=nb", proxy=None) as ws:
            browser.find_element("id", "message").send_keys("from the odd room")
            browser.find_element("id", "send").click()
            return await _recv_from(ws, "page")

    assert asyncio.run(notebook_side())["room"] == room
    browser.get("about:blank")


@pytest.mark.browser
def test_the_page_says_when_its_server_stopped(browser, served):
    browser.get(served.url + "/static/chat.html?room=r&name=page")
    _wait(browser, lambda b: _text(b, "status") == "connected")
    served.stop()
    _wait(browser, lambda b: _text(b, "status") == "server stopped", timeout=20)
    assert "Run the notebook cell" in _text(browser, "notices")
    assert browser.find_element("id", "reconnect").is_displayed()
    browser.get("about:blank")


@pytest.mark.browser
def test_controls_are_visible_in_a_short_notebook_frame(browser, served):
    below = below_a_notebook_frame(browser, served.url, "static/chat.html?room=r&name=page", 420,
                                   ["message", "send", "status"],
                                   ready="document.getElementById('status').textContent === 'connected'")
    assert all(overflow <= 0 for overflow in below.values()), below
