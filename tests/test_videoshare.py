"""apps/videoshare, in one process: pages, uploads, processing, watching, the API, chat, notifications.

Every route through Quart's test client (HTTPS, as a browser would reach a deployed site),
on SQLite in a temporary folder, with a two-second sample video made by PyAV. The same app
across workers, Redis and nginx: tests/test_videoshare_deploy.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import websockets
from sqlalchemy import update

from apps.events import read_events
from apps.videoshare import create_app, processing
from apps.videoshare.client import Visitor
from apps.videoshare.deploy import migrate
from apps.videoshare.models import Video, db
from apps.videoshare.processing import Processor
from apps.videoshare.relay import Relay, RelayUnavailable
from course import serve, tls_context
from course.services import redis_server

SECRET = "s" * 64
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> Path:
    """A two-second WebM (VP8, 320x240), made by the kit's own generator."""
    from course._setup import make_sample_media

    return make_sample_media(tmp_path_factory.mktemp("media"), seconds=2)


def make_app(tmp_path: Path, **config):
    return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite'}", "DATABASE_CREATE_ALL": True,
                       "SECRET_KEY": SECRET, "PASSWORD_HASH_PROFILE": "CHEAPEST", "VIDEO_DIR": tmp_path / "videos",
                       "LOG_LEVEL": "WARNING", **config})


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)



# --- helpers: a signed-in client, an uploaded video ------------------------------------------------


async def sign_up(client, username: str = "ada") -> str:
    """Sign up (and so in) as ``username``; the CSRF token its pages carry."""
    page = await (await client.get("/signup", scheme="https")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = await client.post("/signup", form={"username": username, "password": PASSWORD, "csrf_token": token},
                                 scheme="https")
    assert response.status_code == 303, await response.get_data(as_text=True)
    home = await (await client.get("/", scheme="https")).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)


async def put(client, token: str, name: str, data: bytes, **options):
    headers = {"X-CSRF-Token": token, "Content-Type": "video/webm", **options.pop("headers", {})}
    return await client.put(f"/api/uploads/{name}", data=data, headers=headers, scheme="https", **options)


async def ready(client, video_id: int, timeout: float = 30) -> dict:
    async with asyncio.timeout(timeout):
        while (video := await (await client.get(f"/api/videos/{video_id}", scheme="https")).get_json())["status"] \
                not in ("ready", "failed"):
            await asyncio.sleep(0.02)
    return video


async def uploaded(client, token: str, sample: Path, title: str = "Counting") -> dict:
    response = await put(client, token, "count.webm", sample.read_bytes(), query_string={"title": title})
    assert response.status_code == 201, await response.get_data(as_text=True)
    return await ready(client, (await response.get_json())["id"])


# --- pages -------------------------------------------------------------------------------------------


async def test_the_home_page_lists_ready_videos_newest_first(client, sample):
    token = await sign_up(client)
    first, second = await uploaded(client, token, sample, "First"), await uploaded(client, token, sample, "Second")
    page = await (await client.get("/", scheme="https")).get_data(as_text=True)
    assert page.index("Second") < page.index("First")
    assert f'href="watch?v={second["id"]}"' in page and f'src="videos/{first["id"]}/thumbnail"' in page


@pytest.mark.parametrize("path", ["/", "/watch?v=1", "/login", "/signup", "/upload"])
async def test_pages_use_relative_urls_only(client, sample, path):
    token = await sign_up(client)
    await uploaded(client, token, sample)
    page = await (await client.get(path, scheme="https")).get_data(as_text=True)
    urls = re.findall(r'(?:href|src|action)="([^"]*)"', page)
    assert urls and not [url for url in urls if url.startswith(("/", "http:", "https:", "ws"))], urls


async def test_the_upload_page_needs_a_sign_in(client):
    browser = await client.get("/upload", scheme="https", headers={"Accept": "text/html"})
    assert browser.status_code == 303 and "login?next=" in browser.headers["Location"]
    script = await client.get("/upload", scheme="https")
    assert script.status_code == 401 and (await script.get_json())["error"] == "sign in first"


async def test_the_watch_page_has_the_player_and_the_chat(client, sample):
    video = await uploaded(client, await sign_up(client), sample)
    page = await (await client.get(f"/watch?v={video['id']}", scheme="https")).get_data(as_text=True)
    assert f'src="videos/{video["id"]}/file"' in page and 'id="messages"' in page and "static/watch.js" in page


@pytest.mark.parametrize("query", ["", "?v=", "?v=abc", "?v=0", "?v=-1", "?v=1e3", "?v=99999999999999999999",
                                   "?v=%EF%BC%91", "?v=7"])
async def test_watching_a_video_that_does_not_exist_is_a_404_page(client, query):
    response = await client.get(f"/watch{query}", scheme="https", headers={"Accept": "text/html"})
    assert response.status_code == 404 and "Videoshare" in await response.get_data(as_text=True)


async def test_the_accounts_pages_wear_the_sites_frame(client):
    page = await (await client.get("/login", scheme="https")).get_data(as_text=True)
    assert "▶ Videoshare" in page and 'action="login"' in page


# --- uploads -------------------------------------------------------------------------------------------


async def test_an_upload_is_stored_under_a_name_of_ours_and_queued(client, app, sample):
    token = await sign_up(client)
    response = await put(client, token, "my clip.webm".replace(" ", "_"), sample.read_bytes())
    assert response.status_code == 201
    video = await response.get_json()
    assert response.headers["Location"] == f"/api/videos/{video['id']}"
    assert (video["title"], video["status"], video["size"], video["owner"]) == ("my_clip", "queued", sample.stat().st_size, "ada")
    stored = [path.name for path in app.config["VIDEO_DIR"].iterdir()]
    assert len(stored) == 1 and re.fullmatch(r"[0-9a-f]{16}\.webm", stored[0])


@pytest.mark.parametrize(("name", "status", "words"), [
    ("..%2F..%2Fetc%2Fpasswd.webm", 400, "file name"),
    ("../x.webm", 400, "file name"),
    (".hidden.webm", 400, "file name"),
    ("CON.webm", 400, "device name"),
    ("nul.mp4", 400, "device name"),
    ("clip.webm.", 400, "file name"),
    ("sp%20ace.webm", 400, "file name"),
    ("%C3%A9t%C3%A9.webm", 400, "file name"),
    ("a" * 101 + ".webm", 400, "file name"),
    ("notes.txt", 415, "upload a video"),
    ("clip", 415, "upload a video"),
    ("clip.exe", 415, "upload a video"),
])
async def test_hostile_or_unexpected_file_names_are_refused(client, app, name, status, words):
    token = await sign_up(client)
    response = await put(client, token, name, b"data")
    assert response.status_code == status and words in (await response.get_json())["error"]
    assert not list(app.config["VIDEO_DIR"].iterdir())  # nothing stored, nothing left behind


@pytest.mark.parametrize(("title", "status"), [("", 201), ("  Two   spaces  ", 201), ("x" * 100, 201),
                                               ("x" * 101, 422), ("bell\x07", 422)])
async def test_titles_are_squeezed_and_checked(client, title, status):
    token = await sign_up(client)
    response = await put(client, token, "clip.webm", b"data", query_string={"title": title} if title else {})
    assert response.status_code == status
    if status == 201:
        assert (await response.get_json())["title"] == (" ".join(title.split()) or "clip")


async def test_uploads_need_a_sign_in_and_the_csrf_token(client):
    page = await (await client.get("/signup", scheme="https")).get_data(as_text=True)
    anonymous = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # a token, but nobody signed in
    assert (await put(client, anonymous, "clip.webm", b"data")).status_code == 401
    await sign_up(client)
    refused = await put(client, "wrong", "clip.webm", b"data")
    assert refused.status_code == 400 and "CSRF" in (await refused.get_json())["error"]


async def test_a_form_is_not_an_upload(client):
    token = await sign_up(client)
    response = await put(client, token, "clip.webm", b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415 and "not a form" in (await response.get_json())["error"]


async def test_too_large_an_upload_is_refused_and_leaves_no_file(tmp_path):
    app = make_app(tmp_path, MAX_VIDEO_SIZE=1000)
    async with app.test_app() as started:
        client = started.test_client()
        token = await sign_up(client)
        response = await put(client, token, "big.webm", b"x" * 1001)
        assert response.status_code == 413
        assert not list(app.config["VIDEO_DIR"].iterdir())


async def test_past_the_cap_on_uploads_at_once_the_next_is_told_to_retry(tmp_path):
    app = make_app(tmp_path, MAX_CONCURRENT_UPLOADS=0)
    async with app.test_app() as started:
        client = started.test_client()
        response = await put(client, await sign_up(client), "clip.webm", b"data")
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"


# --- processing -------------------------------------------------------------------------------------------


async def test_processing_finds_the_duration_and_size_and_makes_a_thumbnail(client, app, sample):
    video = await uploaded(client, await sign_up(client), sample)
    assert (video["status"], video["width"], video["height"], video["error"]) == ("ready", 320, 240, None)
    assert video["duration"] == pytest.approx(2.0, abs=0.1)
    thumbnail = await client.get(f"/videos/{video['id']}/thumbnail", scheme="https")
    assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"] == "image/jpeg"
    assert (await thumbnail.get_data()).startswith(b"\xff\xd8")  # a JPEG


@pytest.mark.parametrize(("data", "words"), [(b"not a video at all" * 100, "Invalid data"), (b"", "Invalid data")])
async def test_a_file_that_is_not_a_video_fails_with_the_reason(client, app, data, words):
    response = await put(client, await sign_up(client), "clip.webm", data)
    video = await ready(client, (await response.get_json())["id"])
    assert video["status"] == "failed" and words in video["error"] and "can be read" in video["error"]
    assert str(app.config["VIDEO_DIR"]) not in video["error"]  # never where the server keeps files


async def test_processing_runs_in_a_worker_thread_not_on_the_event_loop(client, sample, monkeypatch):
    threads = []
    real_probe = processing.probe
    monkeypatch.setattr(processing, "probe", lambda *args, **kw: threads.append(threading.current_thread()) or real_probe(*args, **kw))
    await uploaded(client, await sign_up(client), sample)
    assert threads and threads[0].name.startswith("video-processing") and threads[0] is not threading.main_thread()


async def test_processing_has_a_deadline(tmp_path, sample):
    app = make_app(tmp_path, PROCESSING_TIMEOUT=0)
    async with app.test_app() as started:
        client = started.test_client()
        response = await put(client, await sign_up(client), "clip.webm", sample.read_bytes())
        video = await ready(client, (await response.get_json())["id"])
        assert video["status"] == "failed" and "too long" in video["error"]


async def _queued_video(app, **values) -> int:
    async with db.new_session(app) as session:
        video = Video(owner_id=1, title="t", filename=f"{len(values)}x.webm", size=1, **values)
        session.add(video)
        await session.commit()
        return video.id


async def test_of_two_processors_exactly_one_claims_a_video(tmp_path):
    app = make_app(tmp_path, PROCESSING_WORKERS=0)  # no processor of its own: these two race
    async with app.test_app() as started:
        await sign_up(started.test_client())
        await _queued_video(app)
        claims = await asyncio.gather(Processor(app)._claim(), Processor(app)._claim())
        assert sorted(claim is not None for claim in claims) == [False, True]


async def test_a_claim_older_than_the_deadline_is_taken_over(tmp_path):
    app = make_app(tmp_path, PROCESSING_WORKERS=0, PROCESSING_TIMEOUT=60)
    async with app.test_app() as started:
        await sign_up(started.test_client())
        now = datetime.now(timezone.utc)
        await _queued_video(app, status="processing", claimed_at=now - timedelta(seconds=30))
        assert await Processor(app)._claim() is None  # someone is still at it
        async with db.new_session(app) as session:
            await session.execute(update(Video).values(claimed_at=now - timedelta(seconds=75)))
            await session.commit()
        assert (await Processor(app)._claim()).status == "processing"  # they died: ours now


async def test_a_video_being_processed_when_the_server_stops_goes_back_to_the_queue(tmp_path, sample, monkeypatch):
    started = threading.Event()

    def stuck(path, thumbnail, state, **options):  # a long decode that honours the stop flag
        started.set()
        state.stop.wait(30)
        raise processing.Cancelled()

    monkeypatch.setattr(processing, "probe", stuck)
    app = make_app(tmp_path)
    async with app.test_app() as running:
        client = running.test_client()
        video_id = (await (await put(client, await sign_up(client), "clip.webm", sample.read_bytes())).get_json())["id"]
        await asyncio.to_thread(started.wait, 10)
    app.config["PROCESSING_WORKERS"] = 0  # started again without a processor, to read what was left
    async with app.test_app():
        async with db.new_session(app) as session:
            video = await session.get(Video, video_id)
    assert started.is_set() and (video.status, video.claimed_at) == ("queued", None)


# --- watching: ranges and conditional requests through apps.video.send_ranged ----------------------------


async def test_the_video_file_answers_byte_ranges_and_conditional_requests(client, sample):
    video = await uploaded(client, await sign_up(client), sample)
    path, size = f"/videos/{video['id']}/file", sample.stat().st_size
    whole = await client.get(path, scheme="https")
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    assert await whole.get_data() == sample.read_bytes()
    part = await client.get(path, scheme="https", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert await part.get_data() == sample.read_bytes()[100:200]
    tail = await client.get(path, scheme="https", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and await tail.get_data() == sample.read_bytes()[-10:]
    beyond = await client.get(path, scheme="https", headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    cached = await client.get(path, scheme="https", headers={"If-None-Match": whole.headers["ETag"]})
    assert cached.status_code == 304


async def test_videos_in_processing_are_seen_by_their_owner_only(client, started, sample, monkeypatch):
    monkeypatch.setattr(processing, "probe", lambda *a, state, **k: state.stop.wait(30) or processing.Cancelled())
    video = await (await put(client, await sign_up(client), "clip.webm", sample.read_bytes())).get_json()
    assert (await client.get(f"/api/videos/{video['id']}", scheme="https")).status_code == 200
    stranger = started.test_client()
    for path in (f"/api/videos/{video['id']}", f"/videos/{video['id']}/file", f"/videos/{video['id']}/thumbnail"):
        assert (await stranger.get(path, scheme="https")).status_code == 404, path
    assert (await client.get(f"/videos/{video['id']}/thumbnail", scheme="https")).status_code == 404  # not yet


# --- the JSON API ----------------------------------------------------------------------------------------


async def test_the_list_pages_newest_first(client, sample):
    token = await sign_up(client)
    ids = [(await uploaded(client, token, sample, f"v{n}"))["id"] for n in range(3)]
    first = await (await client.get("/api/videos?limit=2", scheme="https")).get_json()
    assert [v["id"] for v in first["videos"]] == ids[:0:-1] and first["next"] == f"/api/videos?limit=2&before={ids[1]}"
    rest = await (await client.get(first["next"], scheme="https")).get_json()
    assert [v["id"] for v in rest["videos"]] == [ids[0]] and rest["next"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "before=0", "before=99999999999999999999",
                                   "limit=" + "9" * 5000])
async def test_a_bad_query_is_a_400_saying_why(client, query):
    response = await client.get(f"/api/videos?{query}", scheme="https")
    assert response.status_code == 400 and "invalid query" in (await response.get_json())["error"]


async def test_owners_rename_and_delete_their_videos_and_nobody_else_may(client, started, app, sample):
    token = await sign_up(client)
    video = await uploaded(client, token, sample)
    other = started.test_client()
    other_token = await sign_up(other, "bob")
    for method in (other.patch, other.delete):
        response = await method(f"/api/videos/{video['id']}", json={"title": "mine"}, scheme="https",
                                headers={"X-CSRF-Token": other_token})
        assert response.status_code == 403
    renamed = await client.patch(f"/api/videos/{video['id']}", json={"title": "New name"}, scheme="https",
                                 headers={"X-CSRF-Token": token})
    assert (await renamed.get_json())["title"] == "New name"
    deleted = await client.delete(f"/api/videos/{video['id']}", scheme="https", headers={"X-CSRF-Token": token})
    assert deleted.status_code == 204 and not list(app.config["VIDEO_DIR"].iterdir())  # file and thumbnail
    assert (await client.get(f"/api/videos/{video['id']}", scheme="https")).status_code == 404


@pytest.mark.parametrize(("body", "content_type", "status"), [
    ("[" * 10000 + "]" * 10000, "application/json", 400),
    (b"\xff\xfe", "application/json", 400),
    ('{"title": NaN}', "application/json", 400),
    ('{"title": "x"}', "text/plain", 415),
    ('["title"]', "application/json", 422),
    ('{"title": 7}', "application/json", 422),
    ('{"title": ""}', "application/json", 422),
    ('{"name": "x"}', "application/json", 422),
])
async def test_a_hostile_rename_is_a_4xx_never_a_500(client, sample, body, content_type, status):
    token = await sign_up(client)
    video = await uploaded(client, token, sample)
    response = await client.patch(f"/api/videos/{video['id']}", data=body, scheme="https",
                                  headers={"X-CSRF-Token": token, "Content-Type": content_type})
    assert response.status_code == status and "error" in await response.get_json()


@pytest.mark.parametrize("path", ["/api/videos/99999999999999999999", "/api/videos/0", "/api/videos/x",
                                  "/videos/99999999999999999999/file", "/videos/-1/thumbnail"])
async def test_ids_out_of_range_are_404(client, path):
    assert (await client.get(path, scheme="https")).status_code == 404


async def test_the_openapi_document_describes_the_api_not_the_pages(client):
    paths = (await (await client.get("/openapi.json")).get_json())["paths"]
    assert {"/api/videos", "/api/videos/{video_id}", "/api/uploads/{name}", "/healthz"} <= set(paths)
    assert not {"/", "/upload", "/watch"} & set(paths)
    assert "text/html" in (await client.get("/docs")).headers["Content-Type"]


async def test_health_says_which_worker_answered(client, app):
    health = await (await client.get("/healthz")).get_json()
    assert health == {"worker": app.extensions["worker"], "relay": "local", "draining": False}


# --- notifications: /events ------------------------------------------------------------------------------


async def _stream(client):
    connection = client.request("/events", scheme="https", headers={"Accept": "text/event-stream"})
    await connection.__aenter__()
    await connection.send_complete()
    return connection


async def _events_until(stream, predicate, timeout: float = 20) -> list[dict]:
    text, events = "", []
    async with asyncio.timeout(timeout):
        while not any(predicate(e) for e in events):
            text += (await stream.receive()).decode()
            events = [{**e, "data": json.loads(e["data"])} for e in read_events(text)]
    return events


async def test_processing_progress_reaches_the_uploaders_stream_and_the_result_everyone(client, started, sample):
    token = await sign_up(client)
    other = started.test_client()
    await sign_up(other, "bob")
    mine, theirs = await _stream(client), await _stream(other)
    video = await (await put(client, token, "clip.webm", sample.read_bytes())).get_json()
    is_ready = lambda e: e["event"] == "video" and e["data"]["status"] == "ready"  # noqa: E731
    events = await _events_until(mine, is_ready)
    assert events[0]["event"] == "hello" and events[0]["data"]["relay"] == "local"
    statuses = [e["data"]["status"] for e in events if e["event"] == "video" and e["data"]["id"] == video["id"]]
    assert statuses[0] == "processing" and statuses[-1] == "ready"
    news = [e for e in await _events_until(theirs, is_ready) if e["event"] == "video"]
    assert [e["data"]["status"] for e in news] == ["ready"]  # others hear of it once it is ready, not before


async def test_a_stream_opens_with_the_users_newest_videos(client, sample):
    token = await sign_up(client)
    video = await uploaded(client, token, sample)
    events = await _events_until(await _stream(client), lambda e: e["event"] == "hello")
    assert [v["id"] for v in events[0]["data"]["videos"]] == [video["id"]]


async def test_streams_need_a_sign_in_and_an_allowed_origin(client):
    assert (await client.get("/events", scheme="https")).status_code == 401
    await sign_up(client)
    assert (await client.get("/events", scheme="https", headers={"Origin": "https://evil.example"})).status_code == 403


async def test_a_stream_ends_at_its_maximum_age_asking_the_browser_to_reconnect(tmp_path):
    app = make_app(tmp_path, SSE_MAX_AGE=0.2)
    async with app.test_app() as started:
        client = started.test_client()
        await sign_up(client)
        events = await _events_until(await _stream(client), lambda e: e["event"] == "restart")
        assert [e["event"] for e in events] == ["hello", "restart"] and events[0]["retry"] == 1000


# --- chat -------------------------------------------------------------------------------------------------


async def _refused(client, path: str, **options) -> int:
    from quart.testing.connections import WebsocketResponseError

    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket(path, scheme="wss", **options) as socket:
            await socket.receive()
    return refused.value.response.status_code


async def _messages(socket, count: int) -> list[dict]:
    """The next ``count`` chat messages on a test client's websocket (joins and leaves skipped)."""
    found = []
    async with asyncio.timeout(10):
        while len(found) < count:
            message = json.loads(await socket.receive())
            found += [message] if message["type"] == "message" else []
    return found


async def test_a_chat_needs_a_sign_in_an_allowed_origin_and_a_ready_video(client, sample):
    assert await _refused(client, "/videos/1/chat") == 401
    video = await uploaded(client, await sign_up(client), sample)
    assert await _refused(client, f"/videos/{video['id']}/chat", headers={"Origin": "https://evil.example"}) == 403
    assert await _refused(client, "/videos/99/chat") == 404


async def test_chat_messages_reach_everyone_in_the_room_in_order(client, started, sample):
    video = await uploaded(client, await sign_up(client), sample)
    other = started.test_client()
    await sign_up(other, "bob")
    path = f"/videos/{video['id']}/chat"
    async with client.websocket(path, scheme="wss") as ada, other.websocket(path, scheme="wss") as bob:
        welcome = json.loads(await ada.receive())
        assert welcome["type"] == "welcome" and welcome["name"] == "ada" and welcome["relay"] == "local"
        assert json.loads(await bob.receive())["type"] == "welcome"
        for n in range(3):
            await ada.send(json.dumps({"text": f"line {n}", "at": n * 0.5}))
        for socket in (ada, bob):
            lines = [(m["name"], m["text"], m["at"]) for m in await _messages(socket, 3)]
            assert lines == [("ada", f"line {n}", n * 0.5) for n in range(3)]


async def test_a_websocket_through_a_trusted_proxy_is_still_a_websocket(tmp_path, sample):
    """X-Forwarded-Proto says "https"; a websocket's scheme is "wss" (Hypercorn's ProxyFixMiddleware
    copies "https" in, and Quart's router then refuses the websocket with a 400)."""
    app = make_app(tmp_path, TRUSTED_PROXIES=["127.0.0.2"])
    async with app.test_app() as started:
        client = started.test_client()
        video = await uploaded(client, await sign_up(client), sample)
        async with client.websocket(f"/videos/{video['id']}/chat", scheme="ws", scope_base={"client": ("127.0.0.2", 4000)},
                                    headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}) as chat:
            assert json.loads(await chat.receive())["type"] == "welcome"


@pytest.mark.parametrize(("frame", "words"), [
    (b"\x00binary", "text frames"),
    ("not json", "malformed JSON"),
    ("[" * 4000, "malformed JSON"),  # (over WEBSOCKET_MAX_MESSAGE, 4096, the socket is closed: 1009)
    ('["text"]', 'string "text"'),
    ('{"text": 7}', 'string "text"'),
    ('{"text": "   "}', "1 to 500"),
    ('{"text": "' + "x" * 501 + '"}', "1 to 500"),
    ('{"text": "hi", "at": -1}', "seconds into"),
    ('{"text": "hi", "at": NaN}', "seconds into"),
    ('{"text": "hi", "at": "12"}', "seconds into"),
    ('{"text": "hi", "at": true}', "seconds into"),
])
async def test_bad_chat_messages_get_an_error_and_the_chat_goes_on(client, sample, frame, words):
    video = await uploaded(client, await sign_up(client), sample)
    async with client.websocket(f"/videos/{video['id']}/chat", scheme="wss") as chat:
        [json.loads(await chat.receive()) for _ in range(2)]  # welcome, join
        await chat.send(frame)
        error = json.loads(await chat.receive())
        assert error["type"] == "error" and words in error["error"]
        await chat.send(json.dumps({"text": "still here", "at": 99}))
        message = json.loads(await chat.receive())
        assert (message["text"], message["at"]) == ("still here", pytest.approx(2.0, abs=0.1))  # at most its duration


async def test_a_flooding_sender_is_told_and_slowed_and_readers_get_what_was_sent(tmp_path, sample):
    app = make_app(tmp_path, CHAT_RATE=0.001, CHAT_BURST=5)
    async with app.test_app() as started:
        client, other = started.test_client(), started.test_client()
        video = await uploaded(client, await sign_up(client), sample)
        await sign_up(other, "bob")
        path = f"/videos/{video['id']}/chat"
        async with client.websocket(path, scheme="wss") as flooder, other.websocket(path, scheme="wss") as reader:
            for n in range(50):
                await flooder.send(json.dumps({"text": f"spam {n}"}))
            told = []
            while len(told) < 6:  # what the flooder hears, joins aside
                message = json.loads(await asyncio.wait_for(flooder.receive(), 10))
                told += [message] if message["type"] in ("message", "error") else []
            assert [m["type"] for m in told] == ["message"] * 5 + ["error"] and "too many" in told[-1]["error"]
            assert [m["text"] for m in await _messages(reader, 5)] == [f"spam {n}" for n in range(5)]


# --- stopping: the drain (a real server, where close codes are seen) -------------------------------------


async def test_draining_closes_chats_with_1012_ends_streams_and_refuses_new_work(tmp_path, sample):
    app = make_app(tmp_path)
    with serve(app, tls=True) as server:
        ada = await asyncio.to_thread(lambda: Visitor(server.url, "ada", verify=tls_context()).sign_up())
        video = await asyncio.to_thread(lambda: ada.wait_until_ready(ada.upload(sample)["id"]))
        events = ada.events()
        assert (await anext(events))["event"] == "hello"
        async with ada.chat(video["id"]) as chat:
            assert (await chat.until("welcome"))["worker"] == app.extensions["worker"]
            server.call(_begin_drain(app))
            assert (await anext(events))["event"] == "restart"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await chat.until("never")
            assert closed.value.rcvd.code == 1012
        refused = await asyncio.to_thread(ada.http.put, "/api/uploads/x.webm", content=b"x",
                                          headers={"X-CSRF-Token": ada.csrf})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert (await asyncio.to_thread(ada.http.get, "/healthz")).status_code == 503
        await events.aclose()


async def test_a_frame_over_the_limit_closes_the_chat_with_1009_and_the_server_stays_clean(tmp_path, sample):
    app = make_app(tmp_path)
    with serve(app, tls=True) as server:
        ada = await asyncio.to_thread(lambda: Visitor(server.url, "ada", verify=tls_context()).sign_up())
        video = await asyncio.to_thread(lambda: ada.wait_until_ready(ada.upload(sample)["id"]))
        async with ada.chat(video["id"]) as chat:
            await chat.until("welcome")
            await chat.socket.send(b"")  # an empty binary frame: an error, not a crash
            assert "text frames" in (await chat.until("error"))["error"]
            await chat.socket.send("x" * 5000)  # over WEBSOCKET_MAX_MESSAGE (4096)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await chat.until("never")
            assert closed.value.rcvd.code == 1009
        assert (await asyncio.to_thread(ada.http.get, "/healthz")).status_code == 200


async def _begin_drain(app) -> None:
    app.extensions["drain"].begin()


async def test_an_upload_still_arriving_when_draining_ends_gets_503_and_leaves_no_file(tmp_path):
    app = make_app(tmp_path, DRAIN_GRACE=0.2)
    with serve(app, tls=True) as server:
        ada = await asyncio.to_thread(lambda: Visitor(server.url, "ada", verify=tls_context()).sign_up())
        partials = app.config["VIDEO_DIR"]

        def trickle():
            yield b"x" * 65536
            for _ in range(200):  # far longer than the grace: the drain must end it
                if list(partials.glob(".*.part")) and not app.extensions["drain"].started.is_set():
                    server.call(_begin_drain(app))
                threading.Event().wait(0.05)
                yield b"x" * 1024

        response = await asyncio.to_thread(ada.http.put, "/api/uploads/slow.webm", content=trickle(),
                                           headers={"X-CSRF-Token": ada.csrf})
        assert response.status_code == 503 and "restarting" in response.json()["error"]
        assert not list(partials.iterdir())


# --- the relay, with and without Redis --------------------------------------------------------------------


async def test_without_redis_the_relay_is_the_local_broker():
    from apps.chat import Broker

    relay = Relay(Broker())
    await relay.start()
    async with relay.subscribe("room") as inbox:
        await relay.publish("room", {"type": "message", "text": "hi"})
        assert inbox.get_nowait()["text"] == "hi"
    await relay.stop()


@pytest.fixture
def redis():
    with redis_server() as server:
        yield server


async def test_through_redis_each_process_hears_each_message_once_and_hears_when_redis_dies(redis):
    from apps.chat import Broker

    first, second = Relay(Broker(), redis.url, timeout=1), Relay(Broker(), redis.url, timeout=1)
    await first.start()
    await second.start()
    try:
        assert first.state == second.state == "up"
        async with first.subscribe("room") as here, second.subscribe("room") as there:
            await first.publish("room", {"type": "message", "text": "one"})
            await second.publish("room", {"type": "message", "text": "two"})
            for inbox in (here, there):
                got = [(await asyncio.wait_for(inbox.get(), 5))["text"] for _ in range(2)]
                assert got == ["one", "two"] and inbox.empty()
            await asyncio.to_thread(redis.kill)
            for inbox in (here, there):
                assert await asyncio.wait_for(inbox.get(), 5) == {"type": "relay", "state": "down"}
            with pytest.raises(RelayUnavailable, match="unreachable"):
                await first.publish("room", {"type": "message", "text": "lost"})
            await asyncio.to_thread(redis.start)
            for inbox in (here, there):
                assert await asyncio.wait_for(inbox.get(), 10) == {"type": "relay", "state": "up"}
            await second.publish("room", {"type": "message", "text": "three"})
            assert (await asyncio.wait_for(here.get(), 5))["text"] == "three"
    finally:
        await first.stop()
        await second.stop()


# --- the database: migrations and init-db -------------------------------------------------------------------


def test_the_migrations_make_exactly_the_models_tables_and_undo_them(tmp_path):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, inspect

    from apps.videoshare.models import MIGRATIONS, Base

    url = f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    settings = Config(str(MIGRATIONS))
    settings.set_main_option("sqlalchemy.url", url)
    settings.attributes["configure_logger"] = False
    command.downgrade(settings, "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]
    engine.dispose()


def test_migrations_started_at_once_in_several_threads_each_migrate_their_own_database(tmp_path):
    """Two deployments started at once in one process (chapter 24's check does) each migrate."""
    from concurrent.futures import ThreadPoolExecutor, wait

    from sqlalchemy import create_engine, inspect

    urls = [f"sqlite:///{tmp_path / f'site{n}.sqlite'}" for n in range(3)]
    pool = ThreadPoolExecutor(len(urls))
    futures = [pool.submit(migrate, url) for url in urls]
    done, stuck = wait(futures, timeout=60)
    pool.shutdown(wait=False)  # a stuck migration must fail the test, not hang it
    assert not stuck, f"{len(stuck)} of {len(urls)} migrations never finished"
    for future in done:
        future.result()
    for url in urls:
        engine = create_engine(url)
        assert {"users", "videos", "alembic_version"} <= set(inspect(engine).get_table_names()), url
        engine.dispose()


def test_init_db_runs_the_migrations(tmp_path):
    app = make_app(tmp_path)
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    from sqlalchemy import create_engine, inspect

    engine = create_engine(f"sqlite:///{tmp_path / 'site.sqlite'}")
    assert {"users", "videos", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_module_level_app_is_a_fresh_factory_product():
    import apps.videoshare

    assert apps.videoshare.app is not create_app() and apps.videoshare.app.name == "apps.videoshare"


# --- the container files (documentation, not run here): they must not drift from what is tested -------------

DOCKER = Path(__file__).resolve().parent.parent / "apps" / "videoshare" / "docker"


def test_the_docker_nginx_conf_has_every_proxy_directive_the_tests_run():
    from course.services import NGINX_CONF

    def directives(text: str) -> list[str]:
        lines = (line.split("#")[0].strip() for line in text.splitlines())
        return [line for line in lines if line.startswith(("proxy_", "map ", "keepalive")) and "{folder}" not in line]

    tested = [line.replace("{timeout}", "3600").replace("{{", "{").replace("}}", "}") for line in directives(NGINX_CONF)]
    documented = set(directives((DOCKER / "nginx.conf").read_text()))
    assert len(tested) > 10 and [line for line in tested if line not in documented] == []


def test_the_dockerfile_installs_pinned_packages_that_exist_in_requirements():
    pattern = re.search(r"grep -E '(\^\(.*?\)==)'", (DOCKER / "Dockerfile").read_text()).group(1)
    requirements = (DOCKER.parent.parent.parent / "requirements.txt").read_text().splitlines()
    names = re.search(r"\((.*)\)", pattern).group(1).split("|")
    found = {name: [line for line in requirements if re.match("^(" + name + ")==", line)] for name in names}
    assert len(names) > 10 and [name for name, lines in found.items() if not lines] == []
