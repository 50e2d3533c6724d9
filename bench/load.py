"""Load and limits: the tools that drive a server, and the raw asyncio server that is their limit.

- ``wrk()`` and ``h2load()`` (load tools written in C) give requests/s, p50 and p99;
  ``curl_upload()`` and ``curl_download()`` move big bodies (curl never is the bottleneck).
- ``WebSocketClient`` and ``StreamClient`` are lean asyncio clients (a few lines of frame
  parsing, no library): one process of them can hold 10,000 connections and count 100,000
  messages a second, so the server is what is measured, not the client.
- The **reference server** (``python -m bench.load FD``, started with ``course.serve_command``)
  is the most one Python event loop can do on this machine, with no HTTP parser, no ASGI
  and no framework: it answers every request head with the same canned bytes, holds SSE
  streams, and echoes or broadcasts websocket frames to everyone on the same path. The same
  clients against it give each figure's limit.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODY = b'{"ok":true}\n'
_CANNED = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
           b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY))
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's constant for Sec-WebSocket-Accept


class LoadError(RuntimeError):
    """The load tool or the server failed; the message becomes the row's stated reason."""


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LoadError(f"{tool} is not installed (Debian: apt-get install nghttp2-client wrk curl)")
    return path


# --- load tools --------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, clients: int, seconds: float) -> dict:
    """One timed wrk run (HTTP/1.1, one load thread): ``{"rate", "p50", "p99"}`` (req/s, ms)."""
    command = [need("wrk"), "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    out = result.stdout
    if result.returncode != 0 or "Requests/sec:" not in out:
        raise LoadError(f"wrk failed on {url}: {(out + result.stderr)[-300:]}")
    if "Non-2xx" in out or "Socket errors" in out:
        raise LoadError(f"wrk saw errors on {url}: {out[-300:]}")

    def percentile(label: str) -> float:
        text = next(line.split()[1] for line in out.splitlines() if line.strip().startswith(label))
        unit = text.lstrip("0123456789.")
        return float(text[: -len(unit)]) * _UNITS[unit]

    return {"rate": float(out.split("Requests/sec:")[1].split()[0]), "p50": percentile("50%"),
            "p99": percentile("99%")}


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value that at least ``share`` of the values do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def h2load(url: str, *, clients: int, streams: int, seconds: float, h1: bool = False,
           warm_up: float = 0.3) -> dict:
    """One timed h2load run (HTTP/2, or HTTP/1.1 with ``h1``): ``{"rate", "p50", "p99"}``."""
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        command = [need("h2load"), "-c", str(clients), "-m", str(streams), "-D", f"{int(seconds * 1000)}ms",
                   "--warm-up-time", f"{int(warm_up * 1000)}ms", "--log-file", log.name, url]
        if h1:
            command.insert(1, "--h1")
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + warm_up + 30)
        latencies = [int(line.split("\t")[2]) / 1000 for line in Path(log.name).read_text().splitlines()
                     if line.count("\t") == 2]
    summary = [line for line in result.stdout.splitlines() if line.startswith("requests:")]
    if result.returncode != 0 or not latencies or not summary:
        raise LoadError(f"h2load failed on {url}: {(result.stdout + result.stderr)[-300:]}")
    failed = int(summary[0].split(",")[4].split()[0])
    if failed:
        raise LoadError(f"h2load: {failed} requests failed on {url}")
    rate = next(float(line.split(",")[1].split()[0]) for line in result.stdout.splitlines()
                if line.startswith("finished in"))  # the timed phase only, as the log
    return {"rate": rate, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}


def curl_upload(url: str, source: Path | str, *options: str) -> float:
    """PUT the file ``source`` to ``url`` with curl (Content-Length, no Expect); MiB/s.

    A file, not a pipe: with ``-T -`` curl 7.88 sends ``Transfer-Encoding: chunked`` *and*
    the ``Content-Length`` it was given, a request that httptools rightly refuses.
    """
    size = Path(source).stat().st_size
    command = [need("curl"), "-sS", *options, "--cacert", str(ROOT / "certs" / "ca.pem"), "-H", "Expect:",
               "-T", str(source), "-o", "/dev/null", "-w", "%{http_code}", url]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or not result.stdout.startswith("2"):
        raise LoadError(f"upload answered {result.stdout or 'nothing'} {result.stderr.strip()[:200]}".strip())
    return size / (1024 * 1024) / elapsed


def curl_download(url: str, *options: str, headers: tuple[str, ...] = ()) -> tuple[float, int, float]:
    """GET ``url`` into /dev/null with curl: (MiB/s, bytes, seconds)."""
    command = [need("curl"), "-sS", *options, "--cacert", str(ROOT / "certs" / "ca.pem"), "-o", "/dev/null",
               "-w", "%{http_code} %{size_download}", url]
    for header in headers:
        command[1:1] = ["-H", header]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    status, _, size = result.stdout.partition(" ")
    if result.returncode != 0 or not status.startswith("2"):
        raise LoadError(f"download answered {status or 'nothing'} {result.stderr.strip()[:200]}".strip())
    return int(size) / (1024 * 1024) / elapsed, int(size), elapsed


# --- lean clients ------------------------------------------------------------------------------


def _frame(opcode: int, payload: bytes, mask: bool) -> bytes:
    """One final websocket frame; a client masks its frames (RFC 6455 §5.3), a server does not."""
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, (0x80 if mask else 0) | length])
    elif length < 65536:
        head = bytes([0x80 | opcode, (0x80 if mask else 0) | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, (0x80 if mask else 0) | 127]) + length.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes((key * (length // 4 + 1))[:length], "big"))
    return head + key + masked.to_bytes(length, "big")


def _frames(buffer: bytearray):
    """Take every complete frame out of ``buffer``: yields (fin, opcode, payload)."""
    while len(buffer) >= 2:
        first, second = buffer[0], buffer[1]
        length, start = second & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return
            length, start = int.from_bytes(buffer[2:4], "big"), 4
        elif length == 127:
            if len(buffer) < 10:
                return
            length, start = int.from_bytes(buffer[2:10], "big"), 10
        key = b""
        if second & 0x80:
            key, start = bytes(buffer[start:start + 4]), start + 4
        if len(buffer) < start + length:
            return
        payload = bytes(buffer[start:start + length])
        del buffer[:start + length]
        if key:
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes((key * (length // 4 + 1))[:length], "big")
                       ).to_bytes(length, "big")
        yield bool(first & 0x80), first & 0x0F, payload


class _Client(asyncio.Protocol):
    """What both lean clients share: a request head, an ``opened`` and a ``closed`` future."""

    def __init__(self, request: bytes, on_message=None) -> None:
        loop = asyncio.get_running_loop()
        self.request, self.on_message = request, on_message
        self.opened, self.closed = loop.create_future(), loop.create_future()
        self.buffer = bytearray()
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(LoadError("the server closed the connection before answering"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _head(self, data: bytes, status: bytes) -> bool:
        """Collect the response head; True once it is complete and carried ``status``."""
        if self.opened.done():
            return True
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end])
        del self.buffer[:end + 4]
        if head.split(b" ", 2)[1:2] != [status]:
            first_line = head.split(b"\r\n")[0].decode(errors="replace")
            self.opened.set_exception(LoadError(f"answered {first_line}"))
            self.transport.close()
            return False
        self.opened.set_result(None)
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class StreamClient(_Client):
    """GET a server-sent event stream and keep it open, discarding what arrives."""

    def __init__(self, host: str, path: str) -> None:
        super().__init__(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self._head(data, b"200")
        self.buffer.clear()


class WebSocketClient(_Client):
    """A websocket client in a few lines: the handshake, masked text frames out, frames in.

    ``on_message(client, payload)`` is called for every message; pings are answered.
    No compression is offered, so the server sends plain frames.
    """

    def __init__(self, host: str, path: str, on_message=None) -> None:
        self.key = base64.b64encode(os.urandom(16))
        super().__init__(b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                         % (path.encode(), host.encode(), self.key), on_message)
        self.messages = 0
        self._parts: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            if not self._head(data, b"101"):
                return
        else:
            self.buffer += data
        for fin, opcode, payload in _frames(self.buffer):
            if opcode in (0, 1, 2):
                self._parts.append(payload)
                if fin:
                    message, self._parts = b"".join(self._parts), []
                    self.messages += 1
                    if self.on_message is not None:
                        self.on_message(self, message)
            elif opcode == 9:  # ping: uvicorn closes a connection that never answers one
                self.transport.write(_frame(10, payload, mask=True))
            elif opcode == 8:
                self.transport.write(_frame(8, payload[:2], mask=True))
                self.transport.close()

    def send_text(self, text: str) -> None:
        self.transport.write(_frame(1, text.encode(), mask=True))


async def open_many(factory, host: str, port: int, count: int, timeout: float = 60,
                    at_once: int = 200) -> list:
    """Open ``count`` connections made by ``factory()``, ``at_once`` at a time; return those that
    opened (the server answered). A connection the server refused or dropped is left out."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(at_once)
    deadline = loop.time() + timeout

    async def one():
        async with gate:
            try:
                async with asyncio.timeout_at(deadline):
                    _, client = await loop.create_connection(factory, host, port)
                    await client.opened
                    return client
            except (OSError, LoadError, TimeoutError):
                return None

    return [client for client in await asyncio.gather(*(one() for _ in range(count))) if client]


# --- the reference server ----------------------------------------------------------------------


class _Reference(asyncio.BufferedProtocol):
    """Canned HTTP answers, held SSE streams, websocket echo and broadcast, PUT bodies to files:
    no HTTP parser, no ASGI, no framework."""

    rooms: dict[bytes, set] = {}
    # One read buffer for every connection: each read is copied out before the next one starts
    # (one thread, one loop), and an idle connection must cost no more than asyncio's own.
    scratch = bytearray(256 * 1024)

    def connection_made(self, transport) -> None:
        self.transport, self.pending, self.mode, self.room = transport, bytearray(), None, None

    def get_buffer(self, sizehint: int):
        if self.mode == "put":  # the socket reads straight into the next MiB to write
            return memoryview(self.fill)[self.filled:min(len(self.fill), self.filled + self.left)]
        return self.scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self.mode == "put":
            self._advance(nbytes)
        else:
            self._received(bytes(self.scratch[:nbytes]))

    def _received(self, data: bytes) -> None:
        self.pending += data
        if self.mode is None:
            end = self.pending.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.pending[:end]).split(b"\r\n")
            head = b"\r\n".join(lines).lower()
            if b"upgrade: websocket" in head:
                key = next(line.split(b":", 1)[1].strip() for line in lines
                           if line.lower().startswith(b"sec-websocket-key:"))
                accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
                self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept)
                self.mode, self.room = "ws", head.split(b" ", 2)[1]
                self.rooms.setdefault(self.room, set()).add(self)
                del self.pending[:end + 4]
            elif head.startswith(b"put "):
                del self.pending[:end + 4]
                return self._put(lines, head)
            elif head.split(b" ", 2)[1].startswith(b"/events"):
                self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                     b"transfer-encoding: chunked\r\n\r\n" + b"a\r\ndata: 1\n\n\r\n")
                self.mode = "sse"
            else:
                self.mode = "http"
        if self.mode == "http":
            count = self.pending.count(b"\r\n\r\n")
            if count:
                del self.pending[:self.pending.rindex(b"\r\n\r\n") + 4]
                self.transport.write(_CANNED * count)
        elif self.mode == "ws":
            for _, opcode, payload in _frames(self.pending):
                if opcode == 1:
                    frame = _frame(1, payload, mask=False)
                    for member in self.rooms[self.room]:
                        member.transport.write(frame)
                elif opcode == 8:
                    self.transport.close()
        else:
            self.pending.clear()

    # A PUT body goes to a file in COURSE_UPLOAD_DIR as apps/upload.py writes it: 1 MiB writes in
    # a thread, one in flight while the next MiB arrives (two buffers; reading pauses when both
    # are full). The socket reads straight into them: the least copying Python can do.

    def _put(self, lines: list[bytes], head: bytes) -> None:
        self.left = int(next(line.split(b":", 1)[1] for line in lines if line.lower().startswith(b"content-length:")))
        name = os.path.basename(head.split(b" ", 2)[1].decode())
        folder = os.environ.get("COURSE_UPLOAD_DIR") or tempfile.gettempdir()
        self.path = os.path.join(folder, name)
        self.out, self.mode = open(self.path + ".part", "wb", buffering=0), "put"
        self.spare, self.ready, self.writing = [bytearray(1024 * 1024)], None, False
        self.fill, self.filled = bytearray(1024 * 1024), 0
        early, self.pending = bytes(self.pending[:self.left]), bytearray()  # body bytes that came with the head
        while early and self.mode == "put":
            size = min(len(early), len(self.fill) - self.filled)
            self.fill[self.filled:self.filled + size] = early[:size]
            early = early[size:]
            self._advance(size)

    def _advance(self, nbytes: int) -> None:
        self.filled += nbytes
        self.left -= nbytes
        if self.filled < len(self.fill) and self.left:
            return
        full = memoryview(self.fill)[:self.filled]
        if self.writing:
            self.ready = full
        else:
            self._write(full)
        if self.left and self.spare:
            self.fill, self.filled = self.spare.pop(), 0
        elif self.left:
            self.fill = None
            self.transport.pause_reading()  # both buffers full: let TCP slow the client down

    def _write(self, view: memoryview) -> None:
        self.writing = True
        future = asyncio.get_running_loop().run_in_executor(None, self.out.write, view)
        future.add_done_callback(lambda _: self._written(view))

    def _written(self, view: memoryview) -> None:
        self.writing = False
        self.spare.append(view.obj)
        if self.ready is not None:
            view, self.ready = self.ready, None
            self._write(view)
        elif not self.left:
            self.out.close()
            os.replace(self.path + ".part", self.path)
            self.transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
            self.mode = None
            return
        if self.fill is None and self.left:
            self.fill, self.filled = self.spare.pop(), 0
            self.transport.resume_reading()

    def connection_lost(self, exc) -> None:
        if self.room is not None:
            self.rooms[self.room].discard(self)
        if self.mode == "put":
            self.out.close()


def serve_reference(fd: int) -> None:
    """Serve the reference protocol on the listening socket ``fd`` until killed."""

    async def main() -> None:
        sock = socket.socket(fileno=fd)
        server = await asyncio.get_running_loop().create_server(_Reference, sock=sock, backlog=4096)
        await server.serve_forever()

    asyncio.run(main())


def reference_command() -> list[str]:
    """The reference server's command for ``course.serve_command`` (it takes the socket as ``{fd}``)."""
    return [sys.executable, "-m", "bench.load", "{fd}"]


if __name__ == "__main__":
    serve_reference(int(sys.argv[1]))
