"""apps/videoshare deployed for real: Redis, two machines of two Hypercorn workers each, nginx in front.

What one process cannot show: a chat and its notifications shared by every worker through
Redis (exactly once, in one order, surviving Redis's death), nginx passing websockets, event
streams, byte ranges and streamed uploads, proxy headers believed from nginx only, and
SIGTERM draining a machine. Skipped where redis-server or nginx is missing; required in CI.
One Chromium test puts three people on the site at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
import uuid

import httpx
import pytest
import websockets

from apps.videoshare.client import Visitor
from apps.videoshare.deploy import deploy
from conftest import start_browser, stop_browser
from course import tls_context
from course.services import require

pytestmark = pytest.mark.slow

# PROCESSING_POLL: a processor only wakes for uploads to its own process, so a test knows
# which worker processes a video.
CONFIG = {"PASSWORD_HASH_PROFILE": "CHEAPEST", "PROCESSING_POLL": 600}


def deployed(machines: int, workers: int, **options):
    """A deployment for one test (the suite stops every server after each test)."""
    require("redis-server", "nginx")
    with deploy(machines=machines, workers=workers, config={**CONFIG, **options.pop("config", {})}, **options) as site:
        yield site
    assert not site.tracebacks, site.tracebacks[0]


@pytest.fixture
def site():
    """Two machines of two workers each, Redis and nginx."""
    yield from deployed(2, 2)


@pytest.fixture
def small_site():
    """One machine of one worker behind nginx: enough to see what nginx passes on."""
    yield from deployed(1, 1)


@pytest.fixture
def people(site):
    return {name: Visitor(site.url, name).sign_up() for name in ("ada", "bob", "cyd", "dee")}


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    from course._setup import make_sample_media

    return make_sample_media(tmp_path_factory.mktemp("media"), seconds=3)


@pytest.fixture
def video(people, sample) -> dict:
    """A ready video of its own for each test: a chat room nobody has spoken in yet."""
    ada = people["ada"]
    return ada.wait_until_ready(ada.upload(sample)["id"])


class _Chats(list):
    """Open chats, and ``close()`` for all of them."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list = []

    async def close(self) -> None:
        await asyncio.gather(*(context.__aexit__(None, None, None) for context in self.contexts),
                             return_exceptions=True)


def one_per_worker(chats) -> dict:
    found = {}
    for chat in chats:
        found.setdefault(chat.worker, chat)
    return found


async def open_chats(people: dict, video_id: int, count: int, batch: int = 25, workers: int = 4) -> _Chats:
    """``count`` chat websockets spread over the people, each with its welcome (and so its worker) read.

    nginx spreads connections over the machines in turn; within a machine, whichever worker
    the kernel wakes first accepts, and a busy one may miss a batch. So if some of the
    ``workers`` have no client yet, more clients come, one at a time, until every one has.
    """
    visitors = itertools.cycle(people.values())
    chats = _Chats()

    async def more(n: int) -> None:
        opened = [next(visitors).chat(video_id) for _ in range(n)]
        chats.contexts += opened
        for chat in await asyncio.gather(*(context.__aenter__() for context in opened)):
            chat.worker = (await chat.until("welcome"))["worker"]
            chats.append(chat)

    for start in range(0, count, batch):  # in batches: Hypercorn's listen backlog is 100
        await more(min(batch, count - start))
    for _ in range(100):
        if len(one_per_worker(chats)) >= workers:
            break
        await more(1)
    return chats


# --- the chat across workers and machines ---------------------------------------------------------


async def test_a_message_sent_on_one_worker_reaches_clients_on_every_other(site, people, video):
    chats = await open_chats(people, video["id"], 24)
    try:
        workers = one_per_worker(chats)
        assert len(workers) == 4, f"{len(chats)} clients reached {len(workers)} of the 4 workers only"
        for sender in workers.values():
            text = f"from {sender.worker}"
            await sender.send_json({"text": text, "at": 1})
            for chat in workers.values():
                assert (await chat.messages(1))[0]["text"] == text
    finally:
        await chats.close()


async def test_200_clients_receive_every_message_exactly_once_in_the_same_order(site, people, video):
    chats = await open_chats(people, video["id"], 200)
    try:
        assert len(one_per_worker(chats)) == 4
        senders = list(one_per_worker(chats).values())  # one on each worker, sending at once
        sent = {f"{n}-{i}" for n in range(len(senders)) for i in range(8)}

        async def send(n, sender):
            for i in range(8):
                await sender.send_json({"text": f"{n}-{i}"})

        await asyncio.gather(*(send(n, sender) for n, sender in enumerate(senders)))
        received = await asyncio.gather(*(chat.messages(len(sent), timeout=60) for chat in chats))
        orders = {tuple(m["text"] for m in messages) for messages in received}
        assert len(orders) == 1, "two clients saw different orders"
        order = orders.pop()
        assert sorted(order) == sorted(sent)  # every message once: none missing, none twice
        for n in range(len(senders)):  # and each sender's own messages in the order sent
            assert [t for t in order if t.startswith(f"{n}-")] == [f"{n}-{i}" for i in range(8)]
    finally:
        await chats.close()


async def test_killing_redis_mid_chat_tells_everyone_and_the_chat_recovers_when_it_returns(site, people, video):
    chats = await open_chats(people, video["id"], 16)
    try:
        workers = list(one_per_worker(chats).values())
        assert len(workers) == 4
        await asyncio.to_thread(site.redis.kill)
        for chat in chats:
            assert (await chat.until("relay"))["state"] == "down"
        await workers[0].send_json({"text": "into the void"})
        error = await workers[0].until("error")
        assert "relay (Redis)" in error["error"] and "not sent" in error["error"]
        await asyncio.to_thread(site.redis.start)
        for chat in chats:
            assert (await chat.until("relay", timeout=15))["state"] == "up"
        await workers[1].send_json({"text": "we are back"})
        for chat in chats:
            assert [m["text"] for m in await chat.messages(1)] == ["we are back"]
    finally:
        await chats.close()
        if not site.redis.running:
            await asyncio.to_thread(site.redis.start)


# --- notifications across machines, through nginx ---------------------------------------------------


async def test_processing_news_reaches_streams_on_other_machines_and_through_nginx(site, people, sample):
    ada = people["ada"]
    direct = Visitor(site.machines[0].url, "ada")
    direct.http.cookies = ada.http.cookies  # the same person, on machine 1 directly
    streams = [ada.events(), direct.events()]
    hellos = [await anext(stream) for stream in streams]
    assert [hello["event"] for hello in hellos] == ["hello", "hello"]
    # The upload goes to machine 2: its worker processes the video, and says so through Redis.
    with open(sample, "rb") as body:
        response = await asyncio.to_thread(ada.http.put, f"{site.machines[1].url}/api/uploads/news.webm",
                                           content=body.read(), headers={"X-CSRF-Token": ada.csrf})
    video_id = response.json()["id"]
    for stream, hello in zip(streams, hellos):
        news = []
        while not news or news[-1]["status"] != "ready":
            event = await asyncio.wait_for(anext(stream), 30)
            if event["event"] == "video" and event["data"]["id"] == video_id:
                news.append(event["data"])
        assert news[0]["status"] == "processing" and news[-1]["duration"] == pytest.approx(3, abs=0.1)
        await stream.aclose()
    machine_1_worker = hellos[1]["data"]["worker"]
    assert news[-1]["worker"] != machine_1_worker  # processed on machine 2, heard on machine 1


# --- nginx in front -------------------------------------------------------------------------------------


async def test_websocket_compression_is_refused_at_nginx_and_at_each_worker(small_site, sample):
    """nginx drops the client's offer (tests/test_services.py shows it on the wire); each worker
    refuses it too (apps.videoshare.worker applies the kit's Hypercorn fixes), should a client
    reach a worker without nginx."""
    site = small_site
    ada = Visitor(site.url, "ada").sign_up()
    video = ada.wait_until_ready(ada.upload(sample)["id"])
    path = f"/videos/{video['id']}/chat"
    for base in (site.ws_url, site.machines[0].ws_url):
        async with websockets.connect(base + path, additional_headers={"Cookie": ada.cookies}, proxy=None,
                                      compression="deflate") as socket:
            assert socket.response.headers.get("Sec-WebSocket-Extensions") is None, base
            assert json.loads(await socket.recv())["type"] == "welcome"


def test_byte_ranges_and_conditional_requests_pass_through_nginx(small_site, sample):
    site = small_site
    ada = Visitor(site.url, "ada").sign_up()
    video = ada.wait_until_ready(ada.upload(sample)["id"])
    url = f"{site.url}/videos/{video['id']}/file"
    part = httpx.get(url, headers={"Range": "bytes=1000-1999"}, trust_env=False)
    assert part.status_code == 206 and part.content == sample.read_bytes()[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{sample.stat().st_size}"
    cached = httpx.get(url, headers={"If-None-Match": part.headers["ETag"]}, trust_env=False)
    assert cached.status_code == 304


def test_uploads_stream_through_nginx_while_they_arrive(small_site):
    """Part of the body is sent, then the client waits until the app is writing it to disk:
    nginx (proxy_request_buffering off) passed it on before the upload was complete."""
    site = small_site
    ada, videos = Visitor(site.url, "ada").sign_up(), site.folder / "videos"
    writing = threading.Event()

    def body():
        for _ in range(3):
            yield b"\0" * 1024 * 1024
        deadline = time.monotonic() + 20
        while not any(p.stat().st_size > 0 for p in videos.glob(".*.part")):
            assert time.monotonic() < deadline, "nginx held the body back: nothing reached the app"
            time.sleep(0.02)
        writing.set()
        yield b"\0" * 1024 * 1024

    response = ada.http.put("/api/uploads/streamed.webm", content=body(), headers={"X-CSRF-Token": ada.csrf})
    assert writing.is_set() and response.status_code == 201 and response.json()["size"] == 4 * 1024 * 1024


def _logged_client(site, request_id: str) -> str:
    for machine in site.machines:
        for line in machine.output.splitlines():
            if request_id in line and line.startswith("{"):
                return json.loads(line)["client"]
    raise AssertionError(f"no log line for request {request_id}")


def _get_from(address: str, url: str, headers: dict) -> int:
    """A GET made from a given local address (127.0.0.2 is nginx's)."""
    host, port = url.split("://")[1].split(":")
    with socket.create_connection((host, int(port)), source_address=(address, 0)) as sock:
        lines = [f"GET /healthz HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                 *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return int(sock.recv(100).split()[1])


def test_forwarded_headers_are_believed_from_nginx_and_from_nobody_else(small_site):
    site = small_site
    forged = {"X-Forwarded-For": "203.0.113.9"}
    ids = {how: uuid.uuid4().hex for how in ("nginx", "direct", "as nginx")}
    httpx.get(site.url + "/healthz", headers={**forged, "X-Request-Id": ids["nginx"]}, trust_env=False)
    _get_from("127.0.0.1", site.machines[0].url, {**forged, "X-Request-Id": ids["direct"]})
    _get_from("127.0.0.2", site.machines[0].url, {**forged, "X-Request-Id": ids["as nginx"]})
    assert _logged_client(site, ids["nginx"]) == "127.0.0.1"  # nginx replaced the forged header
    assert _logged_client(site, ids["direct"]) == "127.0.0.1"  # not from nginx: not believed
    assert _logged_client(site, ids["as nginx"]) == "203.0.113.9"  # from nginx's address: believed


# --- SIGTERM drains a machine; TLS at nginx --------------------------------------------------------------


async def test_sigterm_drains_a_machine_and_nginx_carries_on_with_the_other(sample):
    require("redis-server", "nginx")
    with deploy(machines=2, workers=1, config={**CONFIG, "DRAIN_GRACE": 1}) as site:
        ada = Visitor(site.url, "ada").sign_up()
        video = ada.wait_until_ready(ada.upload(sample)["id"])
        leaving = site.machines[0]
        direct = Visitor(leaving.url, "ada")
        direct.http.cookies, direct.csrf = ada.http.cookies, ada.csrf
        stream = direct.events()
        assert (await anext(stream))["event"] == "hello"
        async with direct.chat(video["id"]) as chat:
            await chat.until("welcome")
            started = threading.Event()

            def trickle():  # an upload that would take far longer than the grace
                yield b"\0" * 65536
                started.set()
                for _ in range(400):
                    time.sleep(0.05)
                    yield b"\0" * 1024

            upload = asyncio.ensure_future(asyncio.to_thread(
                direct.http.put, "/api/uploads/slow.webm", content=trickle(), headers={"X-CSRF-Token": ada.csrf}))
            await asyncio.to_thread(started.wait, 10)
            stopping = asyncio.ensure_future(asyncio.to_thread(leaving.stop, 30))
            assert (await asyncio.wait_for(anext(stream), 15))["event"] == "restart"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await chat.until("never", timeout=15)
            assert closed.value.rcvd.code == 1012
            refused = await upload
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert await stopping == 0  # the machine exited cleanly, within its grace
        await stream.aclose()
        assert not list((site.folder / "videos").glob(".*.part"))  # no upload left half a file
        assert not site.tracebacks
        assert httpx.get(site.url + "/api/videos", trust_env=False).status_code == 200  # machine 2 serves


async def test_tls_at_nginx_secure_cookies_and_wss(sample):
    require("redis-server", "nginx")
    with deploy(machines=1, workers=1, tls=True, config=CONFIG) as site:
        ada = Visitor(site.url, "ada", verify=tls_context()).sign_up()
        assert site.url.startswith("https://") and ada.csrf
        video = ada.wait_until_ready(ada.upload(sample)["id"])
        async with ada.chat(video["id"]) as chat:  # wss through nginx: X-Forwarded-Proto https
            assert (await chat.until("welcome"))["name"] == "ada"


# --- three people in Chromium ------------------------------------------------------------------------------


@pytest.mark.browser
def test_two_people_chat_while_one_seeks_and_a_third_uploads_live(site, video, sample, certs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browsers = [start_browser() for _ in range(3)]
    try:
        ann, ben, cat = browsers
        for browser, name in zip(browsers, ("ann", "ben", "cat")):
            browser.get(site.url + "/signup")
            browser.find_element(By.ID, "username").send_keys(name)
            browser.find_element(By.ID, "password").send_keys("correct horse battery staple")
            browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "me"))
        watch = f"{site.url}/watch?v={video['id']}"
        for browser in (ann, ben):
            browser.get(watch)
            WebDriverWait(browser, 10).until(lambda b: "worker" in b.find_element(By.ID, "chat-state").text)
        cat.get(site.url + "/upload")

        # Ann speaks about second 2; Ben reads it, and clicks its time to seek there.
        ann.execute_script("document.getElementById('player').currentTime = 2")
        ann.find_element(By.ID, "text").send_keys("look at this")
        ann.find_element(By.CSS_SELECTOR, "#say button").click()
        WebDriverWait(ben, 10).until(lambda b: "look at this" in b.find_element(By.ID, "messages").text)
        ben.find_element(By.CSS_SELECTOR, "#messages button.at").click()
        WebDriverWait(ben, 10).until(lambda b: b.execute_script(
            "const p = document.getElementById('player'); return !p.seeking && Math.abs(p.currentTime - 2) < 0.5"))

        # Meanwhile Cat uploads: the bar fills, and the processing shows up without a reload.
        cat.find_element(By.ID, "file").send_keys(str(sample))
        cat.find_element(By.ID, "title").send_keys("Cat's clip")
        cat.find_element(By.CSS_SELECTOR, "#upload button").click()
        WebDriverWait(cat, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#uploads .status.ready"))
        assert cat.find_element(By.ID, "sent").get_attribute("value") == "1"
        assert cat.find_element(By.CSS_SELECTOR, "#uploads a.watch").get_attribute("href").startswith(site.url + "/watch?v=")

        # Ben answers; Ann reads it. The seek went out as a byte-range request through nginx.
        ben.find_element(By.ID, "text").send_keys("nice")
        ben.find_element(By.CSS_SELECTOR, "#say button").click()
        WebDriverWait(ann, 10).until(lambda b: "ben: nice" in b.find_element(By.ID, "messages").text)
        ranges = [line for line in site.nginx.log("access").splitlines()
                  if f"/videos/{video['id']}/file" in line and '" 206 ' in line]
        assert ranges, "no byte-range request reached nginx"
        errors = [entry for browser in browsers for entry in browser.get_log("browser")
                  if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]
        assert not errors, errors
    finally:
        for browser in browsers:
            stop_browser(browser)
