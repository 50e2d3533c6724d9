"""The kit: how fast ``serve(app)`` is ready and ``stop()`` returns, and that nothing leaks.

The project's targets: ready in at most 30 ms, stopped in at most 50 ms with 10 SSE
streams and 10 websockets open, no thread, file descriptor or port left after 100
cycles. For scale, the table also shows a bare loopback socket bind+listen+close
cycle, the least any server start and stop can cost.

Both Quart versions in one run: ``python -m bench.kit [--quick] [--python PATH]``
measures this interpreter's Quart, then runs itself in an interpreter with the other
Quart (``--python``, or one found by ``bench.quarts``) and prints one column for each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import fields
from importlib import metadata
from pathlib import Path

import httpx
import websockets
from quart import Quart, make_response, websocket

from bench import Row, table
from course import serve

ROOT = Path(__file__).resolve().parent.parent


def streaming_app() -> Quart:
    """An app with an endless SSE stream and an echo websocket: the worst case for stop()."""
    app = Quart("bench-kit")

    @app.get("/")
    async def index():
        return {"ok": True}

    @app.get("/stream")
    async def stream():
        async def ticks():
            while True:
                yield b"data: tick\n\n"
                await asyncio.sleep(0.05)

        response = await make_response(ticks(), {"Content-Type": "text/event-stream"})
        response.timeout = None
        return response

    @app.websocket("/ws")
    async def echo():
        while True:
            await websocket.send(await websocket.receive())

    return app


def _bare_socket_cycle() -> float:
    start = time.perf_counter()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.close()
    return time.perf_counter() - start


async def _open_clients(url: str, ws_url: str, count: int):
    client = httpx.AsyncClient(timeout=10)
    streams = [client.stream("GET", url + "/stream") for _ in range(count)]
    for s in streams:
        await s.__aenter__()
    sockets = [await websockets.connect(ws_url + "/ws", proxy=None) for _ in range(count)]
    return client, streams, sockets


async def _stop_with_open_clients(app: Quart, count: int) -> float:
    server = serve(app)
    client, streams, sockets = await _open_clients(server.url, server.ws_url, count)
    start = time.perf_counter()
    await asyncio.to_thread(server.stop)
    elapsed = time.perf_counter() - start
    for s in streams:
        await s.__aexit__(None, None, None)
    for ws in sockets:
        await ws.close()
    await client.aclose()
    return elapsed


def label() -> str:
    """This interpreter's column: its Quart and Python."""
    return f"Quart {metadata.version('quart')} py{platform.python_version()}"


def measure(quick: bool = False) -> list[Row]:
    """The kit's figures with this interpreter's Quart."""
    cycles, leak_cycles, open_cycles = (10, 20, 3) if quick else (50, 100, 10)
    app = streaming_app()
    serve(app).stop()  # warm-up: imports and first-use costs are not what a re-run pays

    ready, answered, stopped = [], [], []
    client = httpx.Client()  # made once: creating a client costs ~20 ms of its own
    for _ in range(cycles):
        start = time.perf_counter()
        server = serve(app)
        ready.append(time.perf_counter() - start)
        client.get(server.url + "/")
        answered.append(time.perf_counter() - start)
        start = time.perf_counter()
        server.stop()
        stopped.append(time.perf_counter() - start)
    client.close()

    with_streams = [asyncio.run(_stop_with_open_clients(app, 10)) for _ in range(open_cycles)]

    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    port = None
    for _ in range(leak_cycles):
        server = serve(app, port=port or 0)
        port = server.port
        httpx.get(server.url + "/")
        server.stop()
    leaked_threads = threading.active_count() - threads
    leaked_fds = len(os.listdir("/proc/self/fd")) - fds

    floor = statistics.median(_bare_socket_cycle() for _ in range(cycles)) * 1000
    ms = lambda values: statistics.median(values) * 1000  # noqa: E731
    here = label()
    return [
        Row("kit", "bare socket bind+listen+close (the floor)", floor, "ms", server=here),
        Row("kit", f"serve() ready (median of {cycles})", ms(ready), "ms", None, "<= 30 ms", server=here),
        Row("kit", f"serve() to first response (median of {cycles})", ms(answered), "ms", None, "<= 30 ms",
            server=here),
        Row("kit", f"stop(), idle (median of {cycles})", ms(stopped), "ms", None, "<= 50 ms", server=here),
        Row("kit", f"stop(), 10 SSE + 10 websockets (median of {open_cycles})", ms(with_streams), "ms",
            None, "<= 50 ms", server=here),
        Row("kit", f"threads leaked after {leak_cycles} cycles", leaked_threads, "", None, "0", server=here),
        Row("kit", f"fds leaked after {leak_cycles} cycles", leaked_fds, "", None, "0", server=here),
    ]


def other(quick: bool = False, python: str | None = None) -> list[Row]:
    """The same figures from an interpreter with the other Quart (run there as a subprocess)."""
    from bench import quarts

    found = quarts.other_quart(python)
    if found is None:
        where = python or "next to this environment or in ~/.cache/quart-course"
        return [Row("kit", "every figure", None, "", server="the other Quart", note=f"no interpreter with the other Quart ({where}): "
                    "pass --python PATH")]
    command = [found["bin"], "-m", "bench.kit", "--this-only", "--json", "-"] + (["--quick"] if quick else [])
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1][:160]
        return [Row("kit", "every figure", None, "", server=f"Quart {found['quart']}", note=f"{found['bin']} failed: {reason}")]
    names = {field.name for field in fields(Row)}
    return [Row(**{key: value for key, value in row.items() if key in names})
            for row in json.loads(result.stdout)]


def run(quick: bool = False, python: str | None = None) -> list[Row]:
    """The benchmark group: this interpreter's Quart, then the other one's."""
    return measure(quick) + other(quick, python)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer cycles")
    parser.add_argument("--python", metavar="PATH", help="the interpreter with the other Quart")
    parser.add_argument("--this-only", action="store_true", help="only this interpreter's Quart")
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON ('-': standard output only)")
    args = parser.parse_args(argv)
    rows = measure(args.quick) if args.this_only else run(args.quick, args.python)
    if args.json == "-":
        print(json.dumps([row.as_dict() for row in rows]))
        return 0
    if args.json:
        Path(args.json).write_text(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
    print(table(rows, targets=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
