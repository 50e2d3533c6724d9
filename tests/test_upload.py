"""apps/upload.py: streamed uploads with safe names, limits on size, time and crowd, and no partial files left."""

from __future__ import annotations

import asyncio
import errno
import socket
import time

import httpx
import pytest

import apps.upload
from apps.upload import create_app, is_safe_name
from course import serve
from conftest import below_a_notebook_frame

KiB, MiB = 1024, 1024 * 1024
LIMIT = 64 * KiB


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "uploads"
    path.mkdir()
    return path


@pytest.fixture
def app(folder):
    return create_app({"UPLOAD_DIR": folder, "MAX_UPLOAD": LIMIT})


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def eventually(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def start_upload(port: int, name: str, length: int = 1000, first: bytes = b"x") -> socket.socket:
    """A raw HTTP/1.1 upload that sends its headers and ``first``, then stalls."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"PUT /files/{name} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode() + first)
    return sock


def status_line(sock: socket.socket, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    return sock.recv(4096).split(b"\r\n", 1)[0]


# --- names ----------------------------------------------------------------------------------------


async def test_upload_stores_the_body_and_lists_it(client, folder):
    response = await client.put("/files/notes.txt", data=b"hello")
    assert response.status_code == 201
    assert await response.get_json() == {"name": "notes.txt", "size": 5}
    assert (folder / "notes.txt").read_bytes() == b"hello"
    again = await client.put("/files/notes.txt", data=b"hello again")
    assert again.status_code == 200  # replaced, not created
    listing = await (await client.get("/files")).get_json()
    assert listing == {"files": [{"name": "notes.txt", "size": 11}]}
    assert leftovers(folder) == ["notes.txt"]


HOSTILE_NAMES = [
    "../escape.txt", "..%2Fescape.txt", "a/../../escape.txt", "%2E%2E", "..", ".", ".hidden",
    "dir/file.txt", "back\\slash.txt", "sp ace.txt", "nul%00byte", "é.txt", "-rf", "_x",
    "a" * 101, "semi;colon", "what%3F",
    # Device names on Windows, with any extension and in any case, and a trailing dot:
    "CON", "con.txt", "NUL", "nul.tar.gz", "PRN", "AUX.log", "COM1", "com9.bin", "LPT1", "lpt0.txt",
    "x.", "report.pdf.",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_hostile_or_odd_names_answer_a_json_400(client, folder, name):
    response = await client.put(f"/files/{name}", data=b"x")
    assert response.status_code == 400, name
    assert "file names may use" in (await response.get_json())["error"]
    assert leftovers(folder) == []
    assert not (folder.parent / "escape.txt").exists()


@pytest.mark.parametrize("name", ["a", "report-2026.pdf", "IMG_0001.JPG", "x" * 100, "v1.2.3.tar.gz",
                                  "console.log", "nullable.txt", "COM10", "auxiliary.md", "LPT"])
def test_plain_names_are_safe(name):
    assert is_safe_name(name)


async def test_a_name_that_is_a_folder_answers_409(client, folder):
    (folder / "photos").mkdir()
    response = await client.put("/files/photos", data=b"x")
    assert response.status_code == 409
    assert "folder" in (await response.get_json())["error"]
    assert leftovers(folder) == ["photos"]


# --- size -----------------------------------------------------------------------------------------


async def test_content_length_over_the_limit_answers_413_before_reading(client, folder):
    response = await client.put("/files/big.bin", data=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert "error" in await response.get_json()
    assert leftovers(folder) == []


async def test_chunked_body_over_the_limit_answers_413_and_leaves_nothing(app, folder):
    # No Content-Length (as with Transfer-Encoding: chunked): only counting the bytes catches it.
    async with app.test_client().request("/files/big.bin", method="PUT") as connection:
        for _ in range(3):
            await connection.send(b"x" * (LIMIT // 2))
        await connection.send_complete()
    response = await connection.as_response()
    assert response.status_code == 413
    assert leftovers(folder) == []


@pytest.mark.parametrize("method, path, status", [("POST", "/files/a.txt", 405), ("GET", "/nowhere", 404)])
async def test_wrong_method_and_unknown_url_answer_json(client, method, path, status):
    response = await client.open(path, method=method)
    assert response.status_code == status and "error" in await response.get_json()


async def test_a_slow_disk_holds_back_the_client_instead_of_filling_memory(folder, monkeypatch):
    """The view writes to a disk that stalls: the body waits for it (apps/limits.py), it never
    piles up. Counted outside the app: what Quart pulled from the server minus what was written."""
    app = create_app({"UPLOAD_DIR": folder, "BODY_BUFFER": MiB})
    pulled, written, disk = [0], [0], asyncio.Event()
    inner = app.asgi_app

    async def counting(scope, receive, send):
        async def counted():
            message = await receive()
            pulled[0] += len(message.get("body", b""))
            return message
        await inner(scope, counted, send)

    app.asgi_app = counting

    class SlowFile:
        def __init__(self, path, mode):
            self.file = open(path, mode)

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            self.file.close()

        async def write(self, data):
            await disk.wait()  # the disk stalls until the test lets it go on
            written[0] += self.file.write(data)

    monkeypatch.setattr(apps.upload.aiofiles, "open", SlowFile)
    async with app.test_client().request("/files/big.bin", method="PUT") as connection:
        for _ in range(64):
            await connection.send(b"b" * (128 * KiB))  # 8 MiB offered at once
        for _ in range(2000):  # let the app pull whatever it is going to pull
            await asyncio.sleep(0)
        held = pulled[0] - written[0]
        disk.set()
        await connection.send_complete()
    response = await connection.as_response()
    assert response.status_code == 201 and written[0] == 8 * MiB
    # One 1 MiB write in flight, 1 MiB being gathered, BODY_BUFFER waiting: never the 8 MiB.
    assert held <= 3 * MiB + 128 * KiB, f"{held / MiB:.1f} MiB held"


class FullDisk:
    """aiofiles.open() for a disk with no room left: the file opens, every write fails."""

    def __init__(self, path, mode):
        self.file = open(path, mode)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.file.close()

    async def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_full_disk_answers_507_and_leaves_nothing(app, folder, monkeypatch):
    monkeypatch.setattr(apps.upload.aiofiles, "open", FullDisk)
    response = await app.test_client().put("/files/big.bin", data=b"x" * (LIMIT // 2))
    assert response.status_code == 507
    assert "room" in (await response.get_json())["error"]
    assert leftovers(folder) == []


# --- time and crowd (the kit's Hypercorn) ---------------------------------------------------------


def test_over_a_real_server_sizes_and_limits(app, folder):
    with serve(app, name="upload-test") as server:
        url = server.url + "/files/"
        chunks = (b"y" * 1000 for _ in range(50))  # a generator: httpx sends it chunked
        response = httpx.put(url + "ok.bin", content=chunks)
        assert response.status_code == 201 and response.json()["size"] == 50_000
        too_big = (b"z" * 16384 for _ in range(100))
        response = httpx.put(url + "chunked.bin", content=too_big)
        assert response.status_code == 413
        response = httpx.put(url + "declared.bin", content=b"z" * (LIMIT + 1))
        assert response.status_code == 413
        assert eventually(lambda: leftovers(folder) == ["ok.bin"]), leftovers(folder)


def test_client_disconnect_mid_upload_leaves_no_partial_file(app, folder):
    with serve(app, name="upload-test") as server:
        with start_upload(server.port, "cut.bin", length=60000, first=b"a" * 30000):
            assert eventually(lambda: any(n.endswith(".part") for n in leftovers(folder))), \
                "the upload never started writing a partial file"
        # The socket is closed: the server sees the disconnect and deletes the partial file.
        assert eventually(lambda: leftovers(folder) == []), leftovers(folder)


def test_a_silent_client_gets_408_and_leaves_nothing(folder):
    app = create_app({"UPLOAD_DIR": folder, "UPLOAD_IDLE_TIMEOUT": 0.3})
    with serve(app, name="upload-test") as server:
        with start_upload(server.port, "slow.bin", length=100, first=b"abc") as sock:
            assert status_line(sock).startswith(b"HTTP/1.1 408")
    assert eventually(lambda: leftovers(folder) == []), leftovers(folder)


def test_a_client_that_trickles_forever_meets_the_deadline(folder):
    """Never idle for a second, never done: the idle timeout alone would wait for ever."""
    app = create_app({"UPLOAD_DIR": folder, "UPLOAD_IDLE_TIMEOUT": 5, "UPLOAD_DEADLINE": 0.5})
    with serve(app, name="upload-test") as server:
        with start_upload(server.port, "trickle.bin", length=200) as sock:
            sock.setblocking(False)
            answer = b""
            for _ in range(199):  # a byte every 50 ms: 10 s if it were ever let through
                try:
                    answer = sock.recv(4096)
                    break
                except BlockingIOError:
                    sock.send(b"t")
                    time.sleep(0.05)
            sock.setblocking(True)
            sock.settimeout(5)
            while answer and b"}" not in answer:  # the JSON body may come in a second packet
                answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"longer than 0.5 s" in answer
    assert eventually(lambda: leftovers(folder) == []), leftovers(folder)


def test_past_the_cap_uploads_get_503_with_retry_after(folder):
    app = create_app({"UPLOAD_DIR": folder, "MAX_CONCURRENT_UPLOADS": 2, "UPLOAD_RETRY_AFTER": 7})
    with serve(app, name="upload-test") as server:
        first, second = start_upload(server.port, "one.bin"), start_upload(server.port, "two.bin")
        assert eventually(lambda: len(leftovers(folder)) == 2)  # both are being written
        refused = httpx.put(server.url + "/files/three.bin", content=b"3")
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "7"
        assert "try again later" in refused.json()["error"]
        first.close()  # one leaves: there is room again
        assert eventually(lambda: httpx.put(server.url + "/files/three.bin", content=b"3").status_code == 201)
        second.close()
    assert eventually(lambda: leftovers(folder) == ["three.bin"]), leftovers(folder)


# --- the real hypercorn and uvicorn commands ------------------------------------------------------


def test_runs_under_the_real_servers(run_app, folder):
    server = run_app("apps.upload:app", env={"COURSE_UPLOAD_DIR": str(folder)}, ready="/files")
    response = httpx.put(server.url + "/files/real.bin", content=(b"r" * 1000 for _ in range(100)))
    assert response.status_code == 201 and response.json() == {"name": "real.bin", "size": 100_000}
    assert httpx.put(server.url + "/files/..%2Fx", content=b"x").status_code == 400
    assert httpx.put(server.url + "/files/CON", content=b"x").status_code == 400
    assert httpx.get(server.url + "/").status_code == 302
    (folder / "adir").mkdir()
    assert httpx.put(server.url + "/files/adir", content=b"x").status_code == 409
    assert leftovers(folder) == ["adir", "real.bin"]


def test_the_real_servers_refuse_uploads_past_the_cap(run_app, folder):
    server = run_app("apps.upload:app", env={"COURSE_UPLOAD_DIR": str(folder)}, ready="/files")
    cap = apps.upload.create_app().config["MAX_CONCURRENT_UPLOADS"]
    stalled = [start_upload(server.port, f"slow{n}.bin") for n in range(cap)]
    try:
        assert eventually(lambda: len(leftovers(folder)) == cap), leftovers(folder)
        with start_upload(server.port, "one-too-many.bin") as extra:
            answer = status_line(extra)
        assert answer.startswith(b"HTTP/1.1 503"), answer
    finally:
        for sock in stalled:
            sock.close()
    assert eventually(lambda: leftovers(folder) == []), leftovers(folder)


# --- a real browser --------------------------------------------------------------------------------


@pytest.mark.browser
def test_upload_page_sends_a_file_with_progress(browser, tmp_path, folder):
    source = tmp_path / "my photo (1).bin"
    source.write_bytes(b"p" * (3 * MiB))
    with serve(create_app({"UPLOAD_DIR": folder}), name="upload-browser") as server:
        browser.get(server.url + "/")  # the relative redirect to static/upload.html
        browser.find_element("id", "file").send_keys(str(source))
        browser.find_element("id", "send").click()
        assert eventually(lambda: "Stored" in browser.find_element("id", "status").text, 20), \
            browser.find_element("id", "status").text
        progress = browser.execute_script("return document.getElementById('progress').value")
        assert eventually(lambda: "my_photo__1_.bin" in browser.find_element("id", "files").text)
        server.stop()
        browser.find_element("id", "send").click()  # the server is gone now
        assert eventually(lambda: "run the notebook cell" in browser.find_element("id", "status").text)
    assert progress == 1
    assert (folder / "my_photo__1_.bin").stat().st_size == 3 * MiB



@pytest.mark.browser
def test_the_upload_controls_and_list_fit_a_notebook_frame(browser, served, folder):
    """Chapter 11 shows the page with show(..., height=420): controls and list in view."""
    for n in range(8):  # a list long enough to reach its own scroll limit
        (folder / f"file{n}.bin").write_bytes(b"x" * 1000)
    below = below_a_notebook_frame(browser, served.url, "static/upload.html", 420,
                                 ["file", "send", "progress", "status", "files"])
    assert all(overflow <= 0 for overflow in below.values()), below
