"""apps/upload.py: streamed uploads with safe names, a size limit, and no partial files left."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from quart import request

from apps.upload import BoundedBody, create_app, is_safe_name
from cli_server import cli_server
from course import serve

LIMIT = 64 * 1024


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "uploads"


@pytest.fixture
def app(folder):
    app = create_app(folder, max_upload=LIMIT)
    folder.mkdir()
    return app


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


async def test_upload_stores_the_body_and_lists_it(app, folder):
    client = app.test_client()
    response = await client.put("/files/notes.txt", data=b"hello")
    assert response.status_code == 201
    assert await response.get_json() == {"name": "notes.txt", "size": 5}
    assert (folder / "notes.txt").read_bytes() == b"hello"
    again = await client.put("/files/notes.txt", data=b"hello again")
    assert again.status_code == 200  # replaced, not created
    listing = await (await client.get("/files")).get_json()
    assert listing == {"files": [{"name": "notes.txt", "size": 11}]}
    assert leftovers(folder) == ["notes.txt"]


@pytest.mark.parametrize("name", [
    "../escape.txt", "..%2Fescape.txt", "a/../../escape.txt", "%2E%2E", "..", ".", ".hidden",
    "dir/file.txt", "back\\slash.txt", "sp ace.txt", "nul%00byte", "é.txt", "-rf", "_x",
    "a" * 101, "semi;colon", "what%3F",
])
async def test_hostile_or_odd_names_answer_400(app, folder, name):
    response = await app.test_client().put(f"/files/{name}", data=b"x")
    assert response.status_code == 400, name
    assert "error" in await response.get_json()
    assert leftovers(folder) == []
    assert not (folder.parent / "escape.txt").exists()


@pytest.mark.parametrize("name", ["a", "report-2026.pdf", "IMG_0001.JPG", "x" * 100, "v1.2.3.tar.gz"])
def test_plain_names_are_safe(name):
    assert is_safe_name(name)


async def test_content_length_over_the_limit_answers_413_before_reading(app, folder):
    response = await app.test_client().put("/files/big.bin", data=b"x" * (LIMIT + 1))
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


async def test_wrong_method_and_unknown_url_answer_json(app):
    client = app.test_client()
    for method, path, status in [("POST", "/files/a.txt", 405), ("GET", "/nowhere", 404)]:
        response = await client.open(path, method=method)
        assert response.status_code == status and "error" in await response.get_json()


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
        assert _eventually(lambda: leftovers(folder) == ["ok.bin"]), leftovers(folder)


def test_backpressure_keeps_the_unread_body_near_one_mib(folder):
    # BoundedBody and BackpressureConnection lean on Quart 0.22 internals (Body._data,
    # ASGIHTTPConnection.handle_messages): if an upgrade changes them, this test fails.
    app = create_app(folder)
    unread = []

    @app.put("/slow")
    async def slow():
        """Falls behind on purpose: while it sleeps, only the reader could fill the buffer."""
        chunks = aiter(request.body)
        size = len(await anext(chunks))
        await asyncio.sleep(0.5)
        unread.append(len(request.body._data))
        async for chunk in chunks:
            size += len(chunk)
        return {"size": size}

    mib = 1024 * 1024
    with serve(app, name="upload-test") as server:
        response = httpx.put(server.url + "/slow", content=(b"b" * mib for _ in range(32)),
                             headers={"Content-Length": str(32 * mib)}, timeout=60)
    assert response.status_code == 200 and response.json() == {"size": 32 * mib}
    assert unread and unread[0] <= BoundedBody.high_water + 256 * 1024, unread


def test_client_disconnect_mid_upload_leaves_no_partial_file(app, folder):
    with serve(app, name="upload-test") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"PUT /files/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n")
            sock.sendall(b"a" * 30000)
            assert _eventually(lambda: any(n.endswith(".part") for n in leftovers(folder))), \
                "the upload never started writing a partial file"
        # The socket is closed: the server sees the disconnect and deletes the partial file.
        assert _eventually(lambda: leftovers(folder) == []), leftovers(folder)


def test_a_silent_client_gets_408_and_leaves_nothing(app, folder):
    app.config["UPLOAD_IDLE_TIMEOUT"] = 0.3
    with serve(app, name="upload-test") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"PUT /files/slow.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            sock.settimeout(10)
            assert sock.recv(100).startswith(b"HTTP/1.1 408")
    assert _eventually(lambda: leftovers(folder) == []), leftovers(folder)


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
def test_runs_under_the_real_servers(kind, folder):
    with cli_server(kind, "apps.upload:app", env={"COURSE_UPLOAD_DIR": str(folder)}, ready_path="/files") as server:
        response = httpx.put(server.url + "/files/real.bin", content=(b"r" * 1000 for _ in range(100)))
        assert response.status_code == 201 and response.json() == {"name": "real.bin", "size": 100_000}
        assert httpx.put(server.url + "/files/..%2Fx", content=b"x").status_code == 400
        assert httpx.get(server.url + "/").status_code == 302
    assert leftovers(folder) == ["real.bin"]
    assert "Traceback" not in server.output, server.output


def _eventually(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.mark.browser
def test_upload_page_sends_a_file_with_progress(browser, tmp_path, folder):
    source = tmp_path / "my photo (1).bin"
    source.write_bytes(b"p" * (3 * 1024 * 1024))
    with serve(create_app(folder), name="upload-browser") as server:
        browser.get(server.url + "/")  # the relative redirect to static/upload.html
        browser.find_element("id", "file").send_keys(str(source))
        browser.find_element("id", "send").click()
        assert _eventually(lambda: "Stored" in browser.find_element("id", "status").text, 20), \
            browser.find_element("id", "status").text
        progress = browser.execute_script("return document.getElementById('progress').value")
        assert _eventually(lambda: "my_photo__1_.bin" in browser.find_element("id", "files").text)
    assert progress == 1
    assert (folder / "my_photo__1_.bin").stat().st_size == 3 * 1024 * 1024
