"""The servers group's figures: what one server does with the course's apps, and the machine's limits.

``measure(name, server, quick)`` starts ``bench.site:app`` under the server with
``course.serve_command`` and returns its rows; ``limits(quick)`` measures (once per
mode and process) what the same clients reach against the raw asyncio reference
server, a plain file write and a plain file read. Any step that fails becomes a row
without a value whose note says why; the other steps still run.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench import MiB, Row, Sampler, file_read_rate, file_write_rate
from bench.load import (LoadError, StreamClient, WebSocketClient, curl_download, curl_upload, h2load,
                        open_many, percentile, reference_command, wrk)
from course import serve_command

GROUP = "servers"
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
WS_ROUNDS, FAN_CLIENTS = 500, 100


class Mode:
    """Sizes and durations of a run."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.size = (64 if quick else 1024) * MiB
        self.seconds = 1.0 if quick else 3.0
        self.runs = 1 if quick else 3
        self.levels = [1000] if quick else [1000, 5000, 10000]
        self.rounds = 100 if quick else WS_ROUNDS
        self.fan_messages = 50 if quick else 500

    @property
    def size_label(self) -> str:
        return f"{self.size // MiB} MiB" if self.size < 1024 * MiB else f"{self.size // (1024 * MiB)} GiB"


class Files:
    """A big file of random bytes (the download, and the upload's source) and an upload folder."""

    def __init__(self, size: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-servers-"))
        atexit.register(shutil.rmtree, self.folder, True)
        self.media, self.uploads = self.folder / "media", self.folder / "uploads"
        self.media.mkdir()
        self.uploads.mkdir()
        self.big = self.media / "big.bin"
        block = os.urandom(MiB)  # random: nothing on the way can compress it
        with open(self.big, "wb") as out:
            for _ in range(size // MiB):
                out.write(block)
        # apps/video.py makes its sample video in its media folder if it is missing: give it one.
        sample = ROOT / "media" / "sample.webm"
        (self.media / "sample.webm").write_bytes(sample.read_bytes() if sample.exists() else b"\x1a\x45\xdf\xa3")
        self.env = {"COURSE_UPLOAD_DIR": str(self.uploads), "COURSE_MEDIA_DIR": str(self.media)}


_limits: dict[bool, dict] = {}
_files: dict[bool, Files] = {}


def files(quick: bool) -> Files:
    if quick not in _files:
        _files[quick] = Files(Mode(quick).size)
    return _files[quick]


def _best(store: dict, key: str, value: float, higher: bool) -> None:
    old = store.get(key)
    store[key] = value if old is None else (max(old, value) if higher else min(old, value))


def limits(quick: bool = True, again: bool = False) -> dict:
    """The machine's limits for every figure (the best of the times they were measured)."""
    if quick in _limits and not again:
        return _limits[quick]
    mode, store = Mode(quick), _limits.setdefault(quick, {})
    data = files(quick)
    with serve_command(reference_command(), name="bench reference server") as reference:
        load = wrk(reference.url + "/", clients=10, seconds=mode.seconds)
        _best(store, "rate", load["rate"], True)
        _best(store, "p50", load["p50"], False)
        _best(store, "p99", load["p99"], False)
        h1 = h2load(reference.url + "/", clients=10, streams=1, seconds=mode.seconds, h1=True)
        _best(store, "h2 rate", h1["rate"], True)
        _best(store, "h2 p99", h1["p99"], False)
        echo = asyncio.run(_echo(reference.port, mode.rounds))
        _best(store, "echo p50", echo[0], False)
        _best(store, "echo p99", echo[1], False)
        _best(store, "fan-out", asyncio.run(_fan_out(reference.port, mode.fan_messages)), True)
        for kind in ("SSE", "websocket"):
            for level, held, per in asyncio.run(_hold(reference.port, reference.pid, kind, mode.levels)):
                if held == level:
                    _best(store, f"{kind} {level}", per, False)
    _best(store, "write", file_write_rate(mode.size, str(data.uploads)), True)
    file_read_rate(str(data.big))  # warm the page cache, as a served file's would be
    _best(store, "read", file_read_rate(str(data.big)), True)
    _best(store, "range", plain_read_ms(data.big, mode.rounds), False)
    return store


def plain_read_ms(path: Path, runs: int) -> float:
    """Median milliseconds of a plain read of the file's last MiB: the floor of a Range request."""
    size, times = path.stat().st_size, []
    with open(path, "rb", buffering=0) as source:
        for _ in range(runs):
            start = time.perf_counter()
            os.pread(source.fileno(), MiB, size - MiB)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


# --- the clients' side of each figure ---------------------------------------------------------


async def _echo(port: int, rounds: int) -> tuple[float, float]:
    """Median and p99 milliseconds of a websocket round trip: a chat room with one member."""
    loop = asyncio.get_running_loop()
    waiting: dict[bytes, asyncio.Future] = {}

    def on_message(client, payload: bytes) -> None:
        for marker in [m for m in waiting if m in payload]:
            waiting.pop(marker).set_result(None)

    _, client = await loop.create_connection(
        lambda: WebSocketClient(HOST, f"/chat/echo{uuid.uuid4().hex[:8]}", on_message), HOST, port)
    async with asyncio.timeout(30):
        await client.opened
        times = []
        for number in range(rounds + 10):  # the first ten warm up
            marker = f"ping-{number}:".encode()
            waiting[marker] = loop.create_future()
            start = time.perf_counter()
            client.send_text(json.dumps({"text": marker.decode()}))
            await waiting[marker]
            times.append((time.perf_counter() - start) * 1000)
    client.close()
    return statistics.median(times[10:]), percentile(times[10:], 0.99)


async def _fan_out(port: int, messages: int, clients: int = FAN_CLIENTS, burst: int = 50) -> float:
    """Messages delivered per second to ``clients`` members of one room, sent ``burst`` at a time
    (a room queues 1,000 messages per member at most: a burst never comes near it)."""
    room = f"/chat/fanout{uuid.uuid4().hex[:8]}"
    state = {"delivered": 0, "wanted": 0}
    done = asyncio.Event()

    def on_message(client, payload: bytes) -> None:
        if b"fanmsg-" in payload:
            state["delivered"] += 1
            if state["delivered"] >= state["wanted"]:
                done.set()

    members = await open_many(lambda: WebSocketClient(HOST, room, on_message), HOST, port, clients)
    try:
        if len(members) < clients:
            raise LoadError(f"only {len(members)} of {clients} websockets opened")
        await asyncio.sleep(0.2)  # the join announcements settle
        start = time.perf_counter()
        async with asyncio.timeout(120):
            for first in range(0, messages, burst):
                state["wanted"] += clients * min(burst, messages - first)
                done.clear()
                for number in range(first, min(messages, first + burst)):
                    members[0].send_text(json.dumps({"text": f"fanmsg-{number}"}))
                await done.wait()
        return state["delivered"] / (time.perf_counter() - start)
    finally:
        for member in members:
            member.close()


async def _hold(port: int, pid: int, kind: str, levels: list[int]) -> list[tuple[int, int, float]]:
    """Open idle SSE streams or websockets up to each level; (level, held, KiB per connection)."""
    numbers = iter(range(10**9))
    factory = (lambda: StreamClient(HOST, "/events?interval=3600")) if kind == "SSE" else \
        (lambda: WebSocketClient(HOST, f"/chat/idle{next(numbers)}"))
    memory = Sampler(pid)
    base = memory.rss()
    held: list = []
    results = []
    try:
        for level in levels:
            held += await open_many(factory, HOST, port, level - len(held), timeout=60 + level / 50)
            await asyncio.sleep(0.5)  # let the server finish what each new connection started
            alive = [client for client in held if not client.closed.done()]
            results.append((level, len(alive), (memory.rss() - base) * 1024 / max(1, len(alive))))
            if len(alive) < level:
                break
    finally:
        for client in held:
            client.close()
    return results


async def _ranges(port: int, path: str, size: int, runs: int) -> float:
    """Median milliseconds of a Range request for the last MiB, on one kept-open connection."""
    reader, writer = await asyncio.open_connection(HOST, port)
    times = []
    try:
        for _ in range(runs + 3):  # the first three warm up
            start = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nRange: bytes={size - MiB}-{size - 1}\r\n\r\n"
                         .encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            length = int(next(line.split(b":")[1] for line in head.lower().split(b"\r\n")
                              if line.startswith(b"content-length:")))
            await reader.readexactly(length)
            if status != b"206" or length != MiB:
                raise LoadError(f"Range answered {status.decode()} with {length} bytes")
            times.append((time.perf_counter() - start) * 1000)
    finally:
        writer.close()
    return statistics.median(times[3:])


# --- one server --------------------------------------------------------------------------------


class _Rows:
    """Collects one server's rows; a failed step fills its rows with the reason instead."""

    def __init__(self, server: str, store: dict) -> None:
        self.server, self.store, self.rows = server, store, []

    def add(self, name: str, unit: str, value: float | None, key: str = "", vs: str = "", target: str = "",
            note: str = "") -> None:
        row = Row(GROUP, name, value, unit, self.store.get(key) if key else None, target, vs, self.server,
                  note if value is None else "")
        row._limit_key = key  # final_limits() puts the best limit of the whole run here
        self.rows.append(row)

    def step(self, figures: list[tuple], func) -> None:
        """``figures``: (name, unit, key, vs[, target]); ``func()`` returns their values in order."""
        try:
            values = func()
        except (LoadError, OSError, TimeoutError) as error:
            values = [None] * len(figures)
            reason = str(error) or type(error).__name__
        except Exception as error:  # noqa: BLE001 - one failed figure must not hide the others
            values, reason = [None] * len(figures), f"failed: {error!r}"[:160]
        for figure, value in zip(figures, values):
            name, unit, key, vs, *target = figure
            self.add(name, unit, value, key, vs, target[0] if target else "", "" if value is not None else reason)


def _start(server, data: Files, env: dict | None = None):
    return serve_command(server.argv(), name=f"bench {server.label}", env={**data.env, **(env or {})},
                         ready="/")


def measure(name: str, server, quick: bool, progress) -> list[Row]:
    """Every figure of one server; see the module's docstring."""
    mode, data = Mode(quick), files(quick)
    progress("the machine's limits" if quick not in _limits else "starting")
    store = limits(quick)
    out = _Rows(server.label, store)
    size = mode.size_label
    progress("small requests")
    with _start(server, data) as process:
        url = process.url
        out.step([("GET / 10 conns [wrk]", "req/s", "rate", "raw asyncio"),
                  ("GET / 10 conns [wrk] p50", "ms", "p50", "raw asyncio"),
                  ("GET / 10 conns [wrk] p99", "ms", "p99", "raw asyncio")],
                 lambda: _median_load(lambda: wrk(url + "/", clients=10, seconds=mode.seconds), mode.runs))
        h2 = [("h2c 1 conn x 10 [h2load]", "req/s", "h2 rate", "raw asyncio h1"),
              ("h2c 1 conn x 10 [h2load] p99", "ms", "h2 p99", "raw asyncio h1")]
        if server.http2:  # what it lacks, said in its cells
            for figure, unit, key, vs in h2:
                out.add(figure, unit, None, key, vs, note=server.http2)
        else:
            out.step(h2, lambda: _median_load(lambda: h2load(url + "/", clients=1, streams=10,
                                                             seconds=mode.seconds), mode.runs, ("rate", "p99")))
        progress("upload")
        out.step([(f"upload {size}", "MiB/s", "write", "file write", ">= 90% of file write"),
                  ("upload: memory growth", "MiB", "", "", "<= 16 MiB")],
                 lambda: _upload(process, data, mode, store, "/files/"))
        out.step([(f"upload {size}, no Quart", "MiB/s", "write", "file write")],
                 lambda: _upload(process, data, mode, store, "/raw/files/")[:1])
        progress("download")
        out.step([(f"download {size}", "MiB/s", "read", "file read")],
                 lambda: [curl_download(url + "/media/big.bin", "--http1.1")[0]])
        out.step([("Range: last MiB", "ms", "range", "plain read")],
                 lambda: [asyncio.run(_ranges(process.port, "/media/big.bin", mode.size, mode.rounds // 5))])
        progress("websockets")
        out.step([("websocket echo p50", "ms", "echo p50", "raw asyncio"),
                  ("websocket echo p99", "ms", "echo p99", "raw asyncio")],
                 lambda: asyncio.run(_echo(process.port, mode.rounds)))
        out.step([(f"chat fan-out to {FAN_CLIENTS}", "msg/s", "fan-out", "raw asyncio")],
                 lambda: [asyncio.run(_fan_out(process.port, mode.fan_messages))])
    for kind in ("SSE", "websocket"):
        progress(f"idle {kind} connections")
        _idle(out, server, data, kind, mode)
    return out.rows


def _median_load(run, runs: int, keys=("rate", "p50", "p99")) -> list[float]:
    results = [run() for _ in range(runs)]
    return [statistics.median(result[key] for result in results) for key in keys]


def _upload(process, data: Files, mode: Mode, store: dict, prefix: str) -> list[float]:
    """A streamed upload of the big file: MiB/s and the server's peak memory growth (MiB)."""
    name = f"up{uuid.uuid4().hex[:8]}.bin"
    if not mode.quick:  # the disk's speed changes with other jobs: measure it next to each upload
        os.sync()
        _best(store, "write", file_write_rate(mode.size, str(data.uploads)), True)
    os.sync()  # start clean: no dirty pages left by an earlier step to slow this one
    try:
        with Sampler(process.pid) as memory:
            rate = curl_upload(process.url + prefix + name, data.big, "--http1.1")
    finally:
        for leftover in data.uploads.glob(f"*{name}*"):
            leftover.unlink()
    return [rate, memory.growth]


def _idle(out: _Rows, server, data: Files, kind: str, mode: Mode) -> None:
    """Idle SSE streams or websockets at each level, on a fresh server (a used one reuses memory)."""
    noun = "SSE streams" if kind == "SSE" else "websockets"
    top = mode.levels[-1]
    try:
        with _start(server, data) as process:
            results = asyncio.run(_hold(process.port, process.pid, kind, mode.levels))
    except Exception as error:  # noqa: BLE001
        results, reason = [], f"failed: {error!r}"[:160]
    else:
        reason = ""
    done = {level: (held, per) for level, held, per in results}
    last = results[-1] if results else (0, 0, 0)
    for level in mode.levels:
        held, per = done.get(level, (0, None))
        note = reason or (f"held {held:,} of {level:,}" if level in done else
                          f"not tried: held {last[1]:,} of {last[0]:,}")
        out.add(f"{noun} at {level:,}", "KiB/conn", per if held == level else None, f"{kind} {level}",
                "raw asyncio", note=note)
    held = max((held for _, held, _ in results), default=None)
    out.add(f"{noun} held, of {top:,}", "conns", held, note=reason or "none held")


def quart_versions(name: str, server, quick: bool) -> list[Row]:
    """GET / under ``server`` with this Quart and with the other one, runs alternating.

    The other Quart runs on this interpreter where it can (only Quart changes); otherwise
    in the other interpreter, and the row says which Python that is.
    """
    from bench import quarts
    from importlib import metadata

    mode, data, store = Mode(quick), files(quick), limits(quick)
    out = _Rows(server.label, store)
    this = metadata.version("quart")
    other = quarts.other_quart()
    if other is None:
        out.add("GET / [wrk], the other Quart", "req/s", None, note="no other Quart found: set BENCH_OTHER_PYTHON")
        return out.rows
    env = quarts.borrowed(other["quart_dir"], other["quart"])
    argv, label = server.argv(), f"Quart {other['quart']}"
    if env is None:  # e.g. Quart 0.23 from Python 3.11: run the other interpreter's server instead
        tool = Path(other["bin"]).parent / argv[0]
        env, label = {"PYTHONPATH": str(ROOT)}, f"{label} (Python {other['python']})"
        argv = [str(tool), *argv[1:]] if tool.exists() else None
    if argv is None:
        out.add(f"GET / [wrk], {label}", "req/s", None, note=f"{server.command[0]} is not installed there")
        return out.rows
    figures = [(f"GET / [wrk], Quart {this}", "req/s", "rate", "raw asyncio"),
               (f"GET / [wrk], {label}", "req/s", "rate", "raw asyncio")]

    def alternate() -> list[float]:
        with _start(server, data) as ours, serve_command(argv, name=f"bench {label}", env={**data.env, **env},
                                                          ready="/") as theirs:
            results: dict[str, list[float]] = {"ours": [], "theirs": []}
            for _ in range(mode.runs):
                for key, process in (("ours", ours), ("theirs", theirs)):
                    results[key].append(wrk(process.url + "/", clients=10, seconds=mode.seconds)["rate"])
        return [statistics.median(results["ours"]), statistics.median(results["theirs"])]

    out.step(figures, alternate)
    return out.rows


def final_limits(rows: list[Row], quick: bool) -> None:
    """Measure the limits once more (full mode) and give every row the best of all the runs:
    a busy machine only ever lowers a ceiling or raises a floor."""
    store = limits(quick, again=not quick)
    for row in rows:
        key = getattr(row, "_limit_key", "")
        if key and store.get(key):
            row.limit = store[key]
