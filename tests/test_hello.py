"""apps/hello.py: Hello, World! and the JSON notes API (the contract other chapters rely on)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from apps.hello import create_app

JSON = {"Content-Type": "application/json"}
NESTED = b"[" * 30_000  # json.loads raises RecursionError on this: a 500 unless json_body() refuses it


@pytest.fixture
def app():
    return create_app()


async def test_index_says_hello(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert await response.get_json() == {"message": "Hello, World!"}


async def test_create_then_get_then_list(client):
    created = await client.post("/notes", json={"text": "buy milk"})
    assert created.status_code == 201
    note = await created.get_json()
    assert note == {"id": 1, "text": "buy milk"}
    assert await (await client.get("/notes/1")).get_json() == note
    assert await (await client.get("/notes")).get_json() == [note]


async def test_each_app_keeps_its_own_notes():
    first, second = create_app(), create_app()
    await first.test_client().post("/notes", json={"text": "only in the first"})
    assert len(await (await first.test_client().get("/notes")).get_json()) == 1
    assert await (await second.test_client().get("/notes")).get_json() == []


async def test_config_overrides_the_defaults():
    small = create_app({"MAX_CONTENT_LENGTH": 100})
    response = await small.test_client().post("/notes", json={"text": "x" * 200})
    assert response.status_code == 413


BAD_REQUESTS = [
    # (method, path, keyword arguments, expected status, words in the error)
    ("post", "/notes", {"data": "{not json", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/notes", {"data": b"\xff\xfe\xfa", "headers": JSON}, 400, "not UTF-8"),
    ("post", "/notes", {"data": "", "headers": JSON}, 400, "not valid JSON"),
    ("post", "/notes", {"data": NESTED, "headers": JSON}, 400, "nested deeper"),
    ("post", "/notes", {"data": b'{"text": ' * 30_000, "headers": JSON}, 400, "nested deeper"),
    ("post", "/notes", {"data": b'{"text": NaN}', "headers": JSON}, 400, "not valid JSON"),
    ("post", "/notes", {"form": {"text": "hi"}}, 415, "application/json"),
    ("post", "/notes", {"data": "text", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
    ("post", "/notes", {"data": '{"text": "hi"}'}, 415, "application/json"),  # no content type at all
    ("post", "/notes", {"json": {}}, 422, '"text"'),
    ("post", "/notes", {"json": {"text": ""}}, 422, '"text"'),
    ("post", "/notes", {"json": {"text": 42}}, 422, '"text"'),
    ("post", "/notes", {"json": {"text": ["a"]}}, 422, '"text"'),
    ("post", "/notes", {"json": ["text"]}, 422, '"text"'),
    ("post", "/notes", {"json": None}, 422, '"text"'),
    ("post", "/notes", {"data": b'"' + b"x" * (1024 * 1024) + b'"', "headers": JSON}, 413, "capacity"),
    ("get", "/notes/999", {}, 404, "no note 999"),
    ("get", "/notes/99999999999999999999", {}, 404, "no note 99999999999999999999"),  # past 64 bits
    ("get", "/notes/" + "9" * 5000, {}, 404, "not found"),  # int() refuses 4,300+ digits: the converter's 404
    ("get", "/notes/-1", {}, 404, "not found"),
    ("get", "/notes/1.5", {}, 404, "not found"),
    ("get", "/notes/abc", {}, 404, "not found"),
    ("get", "/nowhere", {}, 404, "not found"),
    ("delete", "/notes", {}, 405, "not allowed"),
    ("put", "/", {}, 405, "not allowed"),
]


@pytest.mark.parametrize("method, path, kwargs, status, words", BAD_REQUESTS)
async def test_bad_requests_get_clear_json_errors(client, method, path, kwargs, status, words):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert words.lower() in (await response.get_json())["error"].lower()
    assert await (await client.get("/notes")).get_json() == []  # nothing was stored


async def test_405_says_which_methods_are_allowed(client):
    response = await client.put("/notes")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


# Through a real server: the request really crosses a socket and the server's own parser.
HOSTILE = {
    # (method, path, body, content type): expected status
    ("POST", "/notes", b'{"text": "hi"}', "application/json"): 201,
    ("POST", "/notes", NESTED, "application/json"): 400,
    ("POST", "/notes", b"\xff\xfe", "application/json"): 400,
    ("POST", "/notes", b"{", "application/json"): 400,
    ("POST", "/notes", b"text", "text/plain"): 415,
    ("GET", "/notes/99999999999999999999", b"", None): 404,
    ("GET", "/notes/" + "9" * 5000, b"", None): 404,
    ("DELETE", "/notes", b"", None): 405,
}


def test_hostile_requests_through_real_servers(run_app):
    server = run_app("apps.hello:app")
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        answers = {case: http.request(case[0], case[1], content=case[2],
                                      headers={"Content-Type": case[3]} if case[3] else {}).status_code
                   for case in HOSTILE}
    assert answers == HOSTILE
    # run_app fails the test if the server printed a traceback


def _post_chunked(url: str, path: str, total: int) -> tuple[bytes, int]:
    """POST ``total`` bytes without Content-Length, stopping as soon as the server answers.

    Returns the status line and how many bytes were sent: fewer than ``total`` means the
    server answered before the body ended. The body is never terminated, so a server that
    waits for its end before it answers does not answer at all.
    """
    address = urlsplit(url)
    chunk = b"x" * 65536
    sent, answer = 0, b""
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        try:
            while sent < total and not answer:
                sock.sendall(b"10000\r\n" + chunk + b"\r\n")
                sent += len(chunk)
                sock.setblocking(False)
                try:
                    answer = sock.recv(4096)
                except BlockingIOError:
                    pass
                sock.setblocking(True)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: read the answer below
        sock.settimeout(10)
        deadline = time.monotonic() + 10
        while b"\r\n" not in answer and time.monotonic() < deadline:
            try:
                answer += sock.recv(4096) or b""
            except (TimeoutError, ConnectionResetError):
                break
    return answer.split(b"\r\n", 1)[0], sent


def test_a_content_length_over_the_limit_is_refused_up_front(run_app):
    """Only the headers are sent: Quart answers from Content-Length alone. (Sending the body
    too would race: Hypercorn closes a connection with unread data, which can reset it
    before the 413 arrives.)"""
    address = urlsplit(run_app("apps.hello:app").url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(f"POST /notes HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {2 * 1024 * 1024}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")


def test_a_chunked_body_over_the_limit_is_refused_before_it_ends(run_app):
    """Quart 0.23 queues a body without Content-Length whole before it checks MAX_CONTENT_LENGTH;
    limit_body() answers 413 once 1 MiB has arrived."""
    server = run_app("apps.hello:app")
    status_line, sent = _post_chunked(server.url, "/notes", total=64 * 1024 * 1024)
    assert status_line.startswith(b"HTTP/1.1 413")
    assert sent < 64 * 1024 * 1024


def test_served_by_the_kit(served):
    created = httpx.post(served.url + "/notes", json={"text": "served"})
    assert created.status_code == 201
    assert httpx.get(f"{served.url}/notes/{created.json()['id']}").json()["text"] == "served"
