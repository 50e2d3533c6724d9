"""The servers group's figures: the course's apps under each server, next to the machine's limits.

``measure(names, quick)`` starts ``bench.site:app`` under each named server of
``bench.servers.SERVERS`` with ``course.serve_command``, and the raw asyncio
reference server of ``bench.load`` beside them. Short figures (small requests,
HTTP/2, websocket echo, chat fan-out) are taken in rounds: in each round the
reference server first, then every server in turn, so that a busy minute on a
shared machine weighs on all of them alike. A figure is the median of its rounds;
a limit the best of them (a busy machine only ever lowers a ceiling or raises a
floor). Long figures (the big upload and download) alternate with their limit (a
file write, a file read), each pair taken moments apart, and keep the median of
each. Long figures and idle connections get a fresh process each: a used one would
reuse memory it freed. A step that fails
becomes a cell without a figure, whose note says why; the other steps still run.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path

from bench import FLOOR_UNITS, MiB, Row, Sampler, file_read_rate, file_write_rate
from bench.load import (LoadError, StreamClient, WebSocketClient, curl_download, curl_upload, h2load,
                        open_many, percentile, reference_command, wrk)
from course import ServerError, serve_command

GROUP = "servers"
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
FAN_CLIENTS = 100


class Mode:
    """Sizes, durations and rounds of a run."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.size = (64 if quick else 1024) * MiB
        self.seconds = 1.0 if quick else 3.0  # of each wrk run (whole seconds)
        self.h2_seconds = 0.5 if quick else 3.0  # of each h2load run, after its 0.3 s warm-up
        self.rounds = 1 if quick else 3  # of each short figure
        self.long_runs = 1 if quick else 3  # of each upload and download, and of its limit
        self.levels = [1000] if quick else [1000, 5000, 10000]
        self.echoes = 100 if quick else 500
        self.fan_messages = 50 if quick else 500
        self.size_label = f"{self.size // MiB} MiB" if self.size < 1024 * MiB else f"{self.size // 1024**3} GiB"


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


_files: dict[bool, Files] = {}


def files(quick: bool) -> Files:
    """The big file of the mode (made once per process, removed at exit)."""
    if quick not in _files:
        _files[quick] = Files(Mode(quick).size)
    return _files[quick]


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


async def _hold(port: int, pid: int, kinds: list[str], levels: list[int]) -> dict[str, list[tuple]]:
    """Open idle SSE streams or websockets up to each level: {kind: [(level, held, KiB per connection)]}.

    Several kinds are stacked on the same server (the first kind's connections stay open while
    the next kind's open), so no kind reuses memory another one freed.
    """
    numbers = iter(range(10**9))
    factories = {"SSE": lambda: StreamClient(HOST, "/events?interval=3600"),
                 "websocket": lambda: WebSocketClient(HOST, f"/chat/idle{next(numbers)}")}
    memory = Sampler(pid)
    everyone: list = []
    results: dict[str, list[tuple]] = {}
    try:
        for kind in kinds:
            base, held = memory.rss(), []
            results[kind] = []
            for level in levels:
                held += await open_many(factories[kind], HOST, port, level - len(held), timeout=60 + level / 50)
                await asyncio.sleep(0.3)  # let the server finish what each new connection started
                alive = [client for client in held if not client.closed.done()]
                results[kind].append((level, len(alive), (memory.rss() - base) * 1024 / max(1, len(alive))))
                if len(alive) < level:
                    break
            everyone += held
    finally:
        for client in everyone:
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




# --- the rows ------------------------------------------------------------------------------------


class Table:
    """Samples per (column, figure), and limits per key; ``rows()`` makes the cells."""

    def __init__(self) -> None:
        self.samples: dict[tuple, list] = {}
        self.reasons: dict[tuple, str] = {}
        self.limits: dict[str, list[float]] = {}
        self.picks: dict[str, object] = {}
        self.order: list[tuple] = []  # (column, name, unit, key, vs, target, pick)

    def figure(self, column: str, name: str, unit: str, key: str = "", vs: str = "", target: str = "",
               pick=statistics.median) -> tuple:
        cell = (column, name, unit)
        if cell not in self.samples:
            self.samples[cell] = []
            self.order.append((column, name, unit, key, vs, target, pick))
        return cell

    def add(self, cell: tuple, value: float) -> None:
        self.samples[cell].append(value)

    def fail(self, cell: tuple, reason: str) -> None:
        self.reasons.setdefault(cell, reason)

    def limit(self, key: str, value: float, pick=None) -> None:
        """A run of a limit; the row gets the best run (``pick``: e.g. the median of paired runs)."""
        self.limits.setdefault(key, []).append(value)
        if pick is not None:
            self.picks[key] = pick

    def rows(self) -> list[Row]:
        rows = []
        for column, name, unit, key, vs, target, pick in self.order:
            values = self.samples[(column, name, unit)]
            found = self.limits.get(key)
            best = self.picks.get(key) or (min if unit in FLOOR_UNITS else max)
            limit = best(found) if found else None
            value = pick(values) if values else None
            note = "" if values else self.reasons.get((column, name, unit), "not measured")
            rows.append(Row(GROUP, name, value, unit, limit if value is not None else None, target,
                            vs if limit else "", column, note))
        return rows


def _reason(error: BaseException) -> str:
    if isinstance(error, (LoadError, ServerError, OSError, TimeoutError)):
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    else:
        text = f"failed: {error!r}"
    return text[:160]


@contextlib.contextmanager
def _attempt(table: Table, cells: list[tuple]):
    """Run the with-block; if it fails, the cells get the reason (and the run goes on)."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - one failed figure must not hide the others
        for cell in cells:
            table.fail(cell, _reason(error))


def _start(server, data: Files, argv: list[str] | None = None, env: dict | None = None, label: str = ""):
    return serve_command(argv or server.argv(), name=f"bench {label or server.label}",
                         env={**data.env, **(env or {})}, ready="/")


# The short figures: (figure names and units with the result keys they take, the limit's keys, vs, how to
# load a server, how to load the reference server). A name's unit says whether higher or lower is better.
def _short(mode: Mode) -> list[tuple]:
    def small(process) -> dict:
        return wrk(process.url + "/", clients=10, seconds=mode.seconds)

    def h2(process) -> dict:
        return h2load(process.url + "/", clients=1, streams=10, seconds=mode.h2_seconds)

    def h1_reference(process) -> dict:  # a raw HTTP/2 responder would need HPACK: not a floor any more
        return h2load(process.url + "/", clients=10, streams=1, seconds=mode.h2_seconds, h1=True)

    def echo(process) -> dict:
        return dict(zip(("p50", "p99"), asyncio.run(_echo(process.port, mode.echoes))))

    def echo_reference(process) -> dict:  # cheap, and a floor: the best of three
        runs = [echo(process) for _ in range(3)]
        return {"p50": min(run["p50"] for run in runs), "p99": min(run["p99"] for run in runs)}

    def fan_out(process) -> dict:
        return {"rate": asyncio.run(_fan_out(process.port, mode.fan_messages))}

    return [
        ([("GET / [wrk], 10 conns", "req/s", "rate"), ("GET / [wrk] p50", "ms", "p50"),
          ("GET / [wrk] p99", "ms", "p99")], "small", "raw asyncio", small, small),
        ([("h2c [h2load], 10 streams", "req/s", "rate"), ("h2c [h2load] p99", "ms", "p99")],
         "h2", "raw asyncio h1", h2, h1_reference),
        ([("websocket echo p50", "ms", "p50"), ("websocket echo p99", "ms", "p99")], "echo", "raw asyncio",
         echo, echo_reference),
        ([(f"chat fan-out to {FAN_CLIENTS}", "msg/s", "rate")], "fan-out", "raw asyncio", fan_out, fan_out),
    ]


def measure(names: list[str], quick: bool, progress=lambda label: None, quarts: bool = False) -> list[Row]:
    """Every figure of the named servers, and (``quarts``) GET / with the other Quart on each."""
    from bench.servers import SERVERS

    mode, data, table = Mode(quick), files(quick), Table()
    servers = {name: SERVERS[name] for name in names}
    with contextlib.ExitStack() as running:
        progress("starting the servers")
        reference = running.enter_context(serve_command(reference_command(), name="bench reference server",
                                                        env=data.env))
        processes, others = {}, {}
        for name, server in servers.items():
            try:
                processes[name] = running.enter_context(_start(server, data))
            except ServerError as error:  # every cell of that server says why
                cells = [table.figure(server.label, figure, unit) for figures, *_ in _short(mode)
                         for figure, unit, _ in figures] + list(_long_cells(server, mode, table).values())
                for cell in cells:
                    table.fail(cell, _reason(error))
        other = _the_other_quart() if quarts else None
        for figures, key, vs, *_ in _short(mode):  # the rows' order: as listed, the other Quart after GET /
            for name in processes:
                for figure, unit, part in figures:
                    table.figure(servers[name].label, figure, unit, f"{key} {part}", vs)
            if key == "small" and other:
                others = _other_quarts(servers, processes, data, table, running, other)
        for figures, key, vs, load, load_reference in _short(mode):
            progress(figures[0][0])
            for _ in range(mode.rounds):
                with _attempt(table, []):
                    result = load_reference(reference)
                    for figure, unit, part in figures:
                        table.limit(f"{key} {part}", result[part])
                for name, process in processes.items():
                    server = servers[name]
                    cells = [table.figure(server.label, figure, unit, f"{key} {part}", vs)
                             for figure, unit, part in figures]
                    if key == "h2" and server.http2:  # what it lacks, said in its cells
                        for cell in cells:
                            table.fail(cell, server.http2)
                        continue
                    with _attempt(table, cells):
                        result = load(process)
                        for cell, (_, _, part) in zip(cells, figures):
                            table.add(cell, result[part])
                    if key == "small" and name in others:
                        cell = table.figure(server.label, f"GET / with {other[0]}", "req/s")
                        with _attempt(table, [cell]):
                            table.add(cell, load(others[name])["rate"])
        for name in processes:  # on a fresh process: a used one reuses memory it freed
            progress(f"{name}: upload and download")
            with _attempt(table, list(_long_cells(servers[name], mode, table).values())), \
                    _start(servers[name], data) as fresh:
                _long(servers[name], fresh, reference, data, mode, table)
    for name, server in servers.items():
        progress(f"{name}: idle connections")
        _idle(server, data, mode, table)
    for key, value in _floors(mode).items():
        table.limit(key, value)
    rows = table.rows()
    if quarts:
        rows += _quart_ratios(rows)
    return rows


def _long_cells(server, mode: Mode, table: Table) -> dict:
    size, label, median = mode.size_label, server.label, statistics.median
    return {
        "upload": table.figure(label, f"upload {size}", "MiB/s", f"write {label}", "file write",
                               ">= 90% of file write"),
        "memory": table.figure(label, "upload: memory growth", "MiB", target="<= 16 MiB", pick=max),
        "cpu": table.figure(label, "upload: server user CPU", "s/GiB", f"upload cpu {label}", "raw asyncio"),
        "bare": table.figure(label, f"upload {size}, no Quart", "MiB/s", f"upload rate {label}", "raw asyncio"),
        "download": table.figure(label, f"download {size}", "MiB/s", f"read {label}", "file read", pick=median),
        "range": table.figure(label, "Range: last MiB", "ms", "range", "plain read"),
    }


def _long(server, process, reference, data: Files, mode: Mode, table: Table) -> None:
    """The big upload (app, bare ASGI, and the reference server) and download, alternating with
    their limits: a shared disk's speed changes by the minute, so each limit is paired with the
    figure measured right after it, and both are the median of the runs.

    The upload's limits: the plain file write (with fsync: what the disk sustains), and the
    reference server taking the same upload as the app does (1 MiB writes in a thread) with no
    parser, no ASGI and no framework: its user CPU seconds per GiB are the floor of the server's.
    """
    cells = _long_cells(server, mode, table)
    gib, label, median = mode.size / 1024**3, server.label, statistics.median
    for _ in range(mode.long_runs):
        os.sync()  # start clean: no dirty pages left by an earlier step to slow this one
        table.limit(f"write {label}", file_write_rate(mode.size, str(data.uploads)), median)
        with _attempt(table, [cells["upload"], cells["memory"], cells["cpu"]]):
            rate, growth, cpu = _upload(process, data, "/files/")
            table.add(cells["upload"], rate)
            table.add(cells["memory"], growth)
            table.add(cells["cpu"], cpu / gib)
        with _attempt(table, [cells["bare"]]):
            table.add(cells["bare"], _upload(process, data, "/raw/files/")[0])
        with _attempt(table, []):
            rate, _, cpu = _upload(reference, data, "/files/")
            table.limit(f"upload rate {label}", rate, median)
            table.limit(f"upload cpu {label}", cpu / gib, median)
        file_read_rate(str(data.big))  # warm the page cache, as a served file's would be
        table.limit(f"read {label}", file_read_rate(str(data.big)), median)
        with _attempt(table, [cells["download"]]):
            table.add(cells["download"], curl_download(process.url + "/media/big.bin", "--http1.1")[0])
    table.limit("range", plain_read_ms(data.big, mode.echoes))
    with _attempt(table, [cells["range"]]):
        table.add(cells["range"], asyncio.run(_ranges(process.port, "/media/big.bin", mode.size, mode.echoes // 5)))


def _upload(process, data: Files, prefix: str) -> tuple[float, float, float]:
    """A streamed upload of the big file: MiB/s, the server's peak memory growth (MiB) and the
    CPU seconds it spent outside the kernel (the kernel's share, copying the bytes from the
    socket and into the page cache, is the same for every server and swings with the machine)."""
    name = f"up{uuid.uuid4().hex[:8]}.bin"
    os.sync()  # no dirty pages of an earlier step to slow this one
    try:
        with Sampler(process.pid) as memory:
            cpu = memory.cpu(user=True)
            rate = curl_upload(process.url + prefix + name, data.big, "--http1.1")
            cpu = memory.cpu(user=True) - cpu
    finally:
        for leftover in data.uploads.glob(f"*{name}*"):
            leftover.unlink()
    return rate, memory.growth, cpu


KINDS = {"SSE": "SSE streams", "websocket": "websockets"}


def _idle(server, data: Files, mode: Mode, table: Table) -> None:
    """Idle SSE streams and websockets at each level, on a fresh server (a used one reuses memory)."""
    results: dict[str, list[tuple]] = {}
    batches = [list(KINDS)] if mode.quick else [[kind] for kind in KINDS]
    for kinds in batches:
        cells = [table.figure(server.label, f"{KINDS[kind]} at {level:,}", "KiB/conn", f"{kind} {level}",
                              "raw asyncio") for kind in kinds for level in mode.levels]
        cells += [table.figure(server.label, f"{KINDS[kind]} held of {mode.levels[-1]:,}", "conns", pick=max)
                  for kind in kinds]
        with _attempt(table, cells), _start(server, data) as process:
            results.update(asyncio.run(_hold(process.port, process.pid, kinds, mode.levels)))
    for kind, steps in results.items():
        last = (0, 0)
        for level, held, per in steps:
            table.add(table.figure(server.label, f"{KINDS[kind]} held of {mode.levels[-1]:,}", "conns"), held)
            cell = table.figure(server.label, f"{KINDS[kind]} at {level:,}", "KiB/conn")
            if held == level:
                table.add(cell, per)
            else:
                table.fail(cell, f"held {held:,} of {level:,}")
            last = (level, held)
        for level in mode.levels[len(steps):]:
            table.fail(table.figure(server.label, f"{KINDS[kind]} at {level:,}", "KiB/conn"),
                       f"not tried: held {last[1]:,} of {last[0]:,}")


_floor_cache: dict[bool, dict] = {}


def _floors(mode: Mode) -> dict[str, float]:
    """KiB per idle connection of the reference server (fresh, like the servers'), measured once per
    process: it hardly depends on the machine's load."""
    if mode.quick not in _floor_cache:
        floors = {}
        batches = [list(KINDS)] if mode.quick else [[kind] for kind in KINDS]
        for kinds in batches:
            with serve_command(reference_command(), name="bench reference server") as reference:
                for kind, steps in asyncio.run(_hold(reference.port, reference.pid, kinds, mode.levels)).items():
                    floors.update({f"{kind} {level}": per for level, held, per in steps if held == level})
        _floor_cache[mode.quick] = floors
    return _floor_cache[mode.quick]


def _the_other_quart() -> tuple[str, list | None, dict | None]:
    """How to run the other Quart: (its column label, how to change a server's argv, env).

    On this interpreter where it runs (then only Quart differs), else the other interpreter's
    own server command. No other Quart found: (a label, None, None).
    """
    from bench import quarts

    other = quarts.other_quart()
    if other is None:
        return "the other Quart", None, None
    env = quarts.borrowed(other["quart_dir"], other["quart"])
    if env is not None:
        return f"Quart {other['quart']}", [], env
    # e.g. Quart 0.23 seen from Python 3.11: the other interpreter's server command instead
    return f"Quart {other['quart']} py{other['python']}", [str(Path(other["bin"]).parent)], {"PYTHONPATH": str(ROOT)}


def _other_quarts(servers: dict, processes: dict, data: Files, table: Table, running, other: tuple) -> dict:
    """Start each server once more with the other Quart. Returns {name: process}."""
    label, folder, env = other
    started = {}
    for name, server in servers.items():
        cell = table.figure(server.label, f"GET / with {label}", "req/s", "small rate", "raw asyncio")
        if name not in processes:
            continue
        if folder is None:
            table.fail(cell, "no interpreter with the other Quart: set BENCH_OTHER_PYTHON")
            continue
        argv = server.argv()
        if folder:
            argv = [str(Path(folder[0]) / argv[0]), *argv[1:]]
        with _attempt(table, [cell]):
            started[name] = running.enter_context(_start(server, data, argv, env, f"{server.label} {label}"))
    return started


def _quart_ratios(rows: list[Row]) -> list[Row]:
    """Per server: requests/s with this Quart over requests/s with the other one (same rounds)."""
    def version(text: str) -> tuple:
        return tuple(int(part) for part in text.split()[0].split(".") if part.isdigit())

    this = metadata.version("quart")
    ratios = []
    for ours in [row for row in rows if row.name == "GET / [wrk], 10 conns" and row.value]:
        for theirs in [row for row in rows if row.server == ours.server and row.name.startswith("GET / with Quart")]:
            other = theirs.name.removeprefix("GET / with Quart ")
            new, old = (ours, theirs) if version(this) > version(other) else (theirs, ours)
            names = (this, other) if new is ours else (other, this)
            value = new.value / old.value if new.value and old.value else None
            ratios.append(Row(GROUP, f"GET / Quart {names[0]} ÷ {names[1]}", value, "×", server=ours.server,
                              note="" if value else theirs.note))
    return ratios
