"""apps/video.py: byte ranges as RFC 9110 describes them, and a player that seeks."""

from __future__ import annotations

import os
import socket
import time

import httpx
import psutil
import pytest

from apps.video import Unsatisfiable, create_app, parse_range
from course import serve
from course._setup import make_sample_media  # the kit makes the sample video (python -m course setup)
from conftest import below_a_notebook_frame

DATA = bytes(range(256)) * 4  # 1024 bytes, each position recognisable
SIZE = len(DATA)


@pytest.fixture
def media(tmp_path):
    (tmp_path / "clip.bin").write_bytes(DATA)
    return tmp_path


@pytest.fixture
def app(media):
    return create_app({"MEDIA_DIR": media})


async def get(client, range_header=None, **headers):
    if range_header is not None:
        headers["Range"] = range_header
    response = await client.get("/media/clip.bin", headers=headers)
    return response, await response.get_data()


async def test_full_response_advertises_ranges(client):
    response, body = await get(client)
    assert response.status_code == 200
    assert body == DATA
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["ETag"]


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-99", 0, 99),               # closed range
    ("bytes=100-100", 100, 100),         # one byte
    ("bytes=1000-", 1000, 1023),         # open-ended
    ("bytes=0-", 0, 1023),               # what players send first
    ("bytes=1000-5000", 1000, 1023),     # end past the file: clipped
    ("bytes=-24", 1000, 1023),           # suffix: the last 24 bytes (send_file answers 500 here)
    ("bytes=-1", 1023, 1023),            # the very last byte
    ("bytes=-5000", 0, 1023),            # suffix longer than the file: all of it
    ("BYTES=5-9", 5, 9),                 # the unit is case-insensitive
])
async def test_satisfiable_ranges_answer_206(client, header, start, end):
    response, body = await get(client, header)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert body == DATA[start:end + 1]


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
async def test_unsatisfiable_ranges_answer_416_with_the_size(client, header):
    response, body = await get(client, header)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"
    assert (await response.get_json())["error"]


@pytest.mark.parametrize("header", [
    "garbage", "bytes=", "bytes=-", "bytes=abc-def", "bytes=9-5", "items=0-5", "bytes 0-5",
    "bytes=0-1,5-6",  # several ranges: we answer the whole file (multipart/byteranges not offered)
    "bytes=" + "9" * 5000 + "-",
])
async def test_invalid_or_multiple_ranges_are_ignored(client, header):
    response, body = await get(client, header)
    assert response.status_code == 200
    assert body == DATA
    assert "Content-Range" not in response.headers


async def test_if_range_with_the_current_etag_gets_the_range(client):
    etag = (await get(client))[0].headers["ETag"]
    response, body = await get(client, "bytes=0-9", **{"If-Range": etag})
    assert response.status_code == 206 and body == DATA[:10]


@pytest.mark.parametrize("validator", ['"old-version"', 'W/"weak"', "Mon, 01 Jan 2001 00:00:00 GMT", "nonsense"])
async def test_if_range_with_another_version_gets_the_whole_file(client, validator):
    response, body = await get(client, "bytes=0-9", **{"If-Range": validator})
    assert response.status_code == 200 and body == DATA


async def test_if_range_with_the_last_modified_date_gets_the_range(client):
    modified = (await get(client))[0].headers["Last-Modified"]
    response, _ = await get(client, "bytes=0-9", **{"If-Range": modified})
    assert response.status_code == 206


@pytest.mark.parametrize("header", [
    "{etag}", "W/{etag}", "*", '"other", {etag}', '"other",W/{etag}', '  {etag}  ',
])
async def test_if_none_match_compares_weakly_and_answers_304(client, header):
    """RFC 9110 §13.1.2: W/"x" matches "x", and * matches any current version."""
    etag = (await get(client))[0].headers["ETag"]
    response, body = await get(client, **{"If-None-Match": header.format(etag=etag)})
    assert response.status_code == 304 and body == b""
    assert response.headers["ETag"] == etag


@pytest.mark.parametrize("header", ['"other"', 'W/"other"', "", "garbage", '"{etag}x"'])
async def test_if_none_match_with_another_version_gets_the_file(client, header):
    etag = (await get(client))[0].headers["ETag"]
    response, body = await get(client, **{"If-None-Match": header.format(etag=etag.strip('"'))})
    assert response.status_code == 200 and body == DATA


@pytest.mark.parametrize("path, status", [
    ("/media/missing.webm", 404), ("/media/.hidden", 404), ("/media/..%2Fapps%2Fvideo.py", 404),
    ("/nowhere", 404),
])
async def test_bad_paths_answer_json(client, path, status):
    response = await client.get(path)
    assert response.status_code == status
    assert "error" in await response.get_json()


async def test_wrong_method_answers_json_405(client):
    response = await client.post("/media/clip.bin")
    assert response.status_code == 405
    assert "error" in await response.get_json()


def test_parse_range_table():
    assert parse_range(None, 10) is None
    assert parse_range("bytes=-3", 10) == (7, 9)
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=-3", 0)  # nothing to send from an empty file


async def test_a_missing_sample_video_says_how_to_make_it(client):
    response = await client.get("/media/sample.webm")
    assert response.status_code == 404
    assert "python -m course setup" in (await response.get_json())["error"]


def test_the_app_no_longer_needs_av_or_numpy():
    import apps.video

    source = open(apps.video.__file__).read()
    assert "import av" not in source and "numpy" not in source
    assert not hasattr(apps.video, "make_sample_media")


def test_ranges_over_a_real_server(served):
    response = httpx.get(served.url + "/media/clip.bin", headers={"Range": "bytes=-24"})
    assert response.status_code == 206 and response.content == DATA[-24:]
    head = httpx.head(served.url + "/media/clip.bin")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(SIZE)


def test_a_reader_that_never_catches_up_meets_the_deadline(tmp_path):
    """A client that takes a few bytes now and then holds a connection and an open file for as
    long as the response lasts: without a deadline, for ever. MEDIA_DEADLINE ends the response."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(16 * 1024 * 1024))  # more than the socket buffers on the way hold
    app = create_app({"MEDIA_DIR": tmp_path, "MEDIA_DEADLINE": 0.5})

    def file_open() -> bool:
        return any(f.path == str(big) for f in psutil.Process().open_files())  # the server runs in this process

    with serve(app, name="video-test") as server, socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /media/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        received, opened, guard = 0, False, time.monotonic() + 10
        while time.monotonic() < guard:  # 4 KiB every 20 ms, until the server lets go of the file
            received += len(sock.recv(4096))
            opened = opened or file_open()
            if opened and not file_open():
                break
            time.sleep(0.02)
        still_open = file_open()
        ended = False
        try:
            while chunk := sock.recv(1 << 20):  # now read fast: what the server sent before it stopped
                received += len(chunk)
            ended = True  # the server closed the connection
        except TimeoutError:
            pass
    assert opened and not still_open, "the response still held the file after its deadline"
    assert ended and received < big.stat().st_size, f"{received} bytes, connection closed: {ended}"


def test_runs_under_the_real_servers(run_app, media):
    server = run_app("apps.video:app", env={"COURSE_MEDIA_DIR": str(media)})
    response = httpx.get(server.url + "/media/clip.bin", headers={"Range": "bytes=-10"})
    assert response.status_code == 206 and response.content == DATA[-10:]
    etag = response.headers["ETag"]
    assert httpx.get(server.url + "/media/clip.bin", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert httpx.get(server.url + "/media/clip.bin", headers={"Range": "bytes=2000-"}).status_code == 416
    missing = httpx.get(server.url + "/media/sample.webm")
    assert missing.status_code == 404 and "python -m course setup" in missing.json()["error"]
    assert httpx.get(server.url + "/").status_code == 302


@pytest.mark.browser
def test_player_loads_plays_and_seeks(browser):
    make_sample_media()
    app = create_app()  # the real media folder, where `python -m course setup` put the sample
    ranges = []

    @app.before_request
    async def record_range():
        from quart import request
        if request.path.startswith("/media/"):
            ranges.append(request.headers.get("Range"))

    with serve(app, name="video-browser") as server:
        browser.get(server.url + "/static/video.html")
        wait = lambda script, timeout=20: _wait_for(browser, script, timeout)  # noqa: E731
        assert wait("return document.getElementById('player').readyState >= 1")
        duration = browser.execute_script("return document.getElementById('player').duration")
        assert duration > 10
        browser.execute_script("document.getElementById('player').play()")
        assert wait("return document.getElementById('player').currentTime > 0.2")
        browser.execute_script("const p = document.getElementById('player'); p.currentTime = p.duration * 0.8")
        assert wait("const p = document.getElementById('player'); return !p.seeking && p.currentTime >= p.duration * 0.79")
        seekable_end = browser.execute_script("const p = document.getElementById('player'); return p.seekable.end(0)")
        assert seekable_end == pytest.approx(duration, abs=0.5)
        assert "seek" in browser.find_element("id", "status").text or "playing" in browser.find_element("id", "status").text
    assert ranges, "the player made no request for the video"
    assert any(r and r.startswith("bytes=") for r in ranges), f"no Range request: {ranges}"


def _wait_for(browser, script, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if browser.execute_script(script):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.browser
def test_without_range_support_the_player_cannot_seek(browser):
    """The contrast case of chapter 12: a plain streamed 200 leaves nothing seekable."""
    import aiofiles
    from quart import Quart, Response

    from apps.video import ROOT

    video = make_sample_media()
    naive = Quart("naive-video", static_folder=str(ROOT / "static"))

    @naive.get("/naive/sample.webm")
    async def naive_video():
        async def chunks():
            async with aiofiles.open(video, "rb") as file:
                while chunk := await file.read(1024 * 1024):
                    yield chunk
        return Response(chunks(), mimetype="video/webm")

    with serve(naive) as server:
        browser.get(server.url + "/static/video.html?src=../naive/sample.webm")
        assert _wait_for(browser, "return document.getElementById('player').readyState >= 1", 20)
        browser.execute_script("const p = document.getElementById('player'); p.currentTime = 24;"
                               "p.addEventListener('seeked', () => { p.dataset.seeked = 1; })")
        # Without ranges the browser cannot jump: it settles back at the start (or never seeks).
        _wait_for(browser, "const p = document.getElementById('player');"
                           "return p.dataset.seeked || p.readyState >= 2 && !p.seeking", 5)
        seekable, now = browser.execute_script(
            "const p = document.getElementById('player');"
            "return [p.seekable.length ? p.seekable.end(0) : 0, p.currentTime]")
    assert seekable < 1 and now < 1


@pytest.mark.browser
def test_the_page_shows_the_servers_explanation_when_the_video_is_missing(browser, tmp_path):
    with serve(create_app({"MEDIA_DIR": tmp_path}), name="video-browser") as server:
        browser.get(server.url + "/static/video.html")
        assert _wait_for(browser, "return document.getElementById('status').textContent"
                                  ".includes('python -m course setup')", 20), \
            browser.find_element("id", "status").text



@pytest.mark.browser
def test_the_player_and_its_controls_fit_a_notebook_frame(browser):
    make_sample_media()
    with serve(create_app(), name="video-browser") as server:  # the real sample: its real size
        below = below_a_notebook_frame(browser, server.url, "static/video.html", 460,
                                     ["player", "status", "middle"],
                                     ready="document.getElementById('player').readyState >= 1")
    assert all(overflow <= 0 for overflow in below.values()), below
