"""Protocols: requests/s and p99 latency of one small Quart endpoint, served several ways.

What is measured: ``GET /`` answering ``{"ok":true}`` from the Quart ``app`` below,
under Hypercorn over HTTP/1.1 (one connection, then a pool of 10), h2c (HTTP/2
without TLS, by prior knowledge, one connection carrying 10 concurrent streams),
HTTP/2 over TLS (ALPN ``h2``, one connection x 10 streams, with the course's
certificates: the files ``serve(app, tls=True)`` uses) and HTTP/1.1 over TLS (a
pool of 10, what a client without HTTP/2 does); then uvicorn serving the very same
app; then each server running a raw ASGI app (no framework), which tells the
framework's cost from the server's.

How: every server is a subprocess on a free port (``python -m hypercorn`` and
``python -m uvicorn``, one worker each: one Python process answers, as in the
notebooks), warmed up before it is timed. The load comes from two clients written
in C, named in each row: ``wrk`` for HTTP/1.1 (requests/s and p99 from its
``--latency`` percentiles) and ``h2load`` (nghttp2) for HTTP/2 (its timed phase
after a warm-up; p99 from its per-request ``--log-file``). h2load would speak
HTTP/1.1 too, but it counts Hypercorn's status line (``HTTP/1.1 200 `` with an
empty reason phrase, which RFC 9112 allows) as a failure. One more row shows what
a Python client reaches: ``httpx.AsyncClient`` over HTTP/2 with
``verify=tls_context()``, whose limit is h2load's figure on the same server.

The machine's limit (the ``limit`` column): the same tool, with the same number
of connections, against a *raw asyncio responder*: a subprocess whose
``asyncio.Protocol`` answers every request head (up to the blank line) with the
same canned bytes: no HTTP parsing, no ASGI, no framework, no TLS. It is the most
requests one Python event loop can answer on this machine with that load tool,
so the ratio says which share of it the protocol, the server and Quart leave.
For p99 latency the same responder gives the floor (the ratio reads "x times the
floor"). HTTP/2 rows are compared with h2load's HTTP/1.1 figure on the responder
with the same 10 requests in flight (a raw HTTP/2 responder would need HPACK and
framing, i.e. an HTTP/2 implementation, and would no longer be a floor).
A figure is the median of its runs, a limit the best of its runs (see ``run``).
On a 2-core machine the load tool takes one core and the server the other.

Hypercorn ends a connection after 1000 requests by default
(``keep_alive_max_requests``); h2load does not reopen an HTTP/2 connection the
server closed, so the benchmark raises that limit (wrk reconnects by itself).

Run alone: ``python -m bench.protocols [--quick]``.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from quart import Quart

from bench import Row

ROOT = Path(__file__).resolve().parent.parent
BODY = b'{"ok":true}\n'

# The app every server runs: the smallest useful Quart endpoint.
app = Quart("bench-protocols")


@app.get("/")
async def index():
    """A tiny JSON answer: the cost measured is the protocol, the server and Quart."""
    return {"ok": True}


async def raw_asgi(scope, receive, send):
    """The same answer as a bare ASGI callable (no framework): what the server alone costs."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(BODY)).encode())]})
        await send({"type": "http.response.body", "body": BODY})


# --- the machine's limit: a raw asyncio responder -------------------------------------------

_CANNED = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
           b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY))


class _Responder(asyncio.Protocol):
    """Answers each request head (ending in a blank line) with the same bytes; parses nothing."""

    def connection_made(self, transport) -> None:
        self.transport, self.pending = transport, b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        count = self.pending.count(b"\r\n\r\n")
        if count:
            self.pending = self.pending[self.pending.rindex(b"\r\n\r\n") + 4:]
            self.transport.write(_CANNED * count)


def raw_responder(port: int) -> None:
    """Serve the canned answer on 127.0.0.1:``port`` until killed (run in a subprocess)."""

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Responder, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


# --- servers as subprocesses ----------------------------------------------------------------

# See the module's docstring: h2load needs Hypercorn to keep an HTTP/2 connection open.
_HYPERCORN_TOML = "keep_alive_max_requests = 1000000000\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_command(kind: str, target: str, port: int, tls: bool, config: str) -> list[str]:
    python = sys.executable
    if kind == "raw":
        return [python, "-m", "bench.protocols", "--responder", str(port)]
    if kind == "hypercorn":
        command = [python, "-m", "hypercorn", "--config", config, target,
                   "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        if tls:
            from course._setup import server_files

            certfile, keyfile = server_files()  # the files serve(app, tls=True) uses
            command += ["--certfile", certfile, "--keyfile", keyfile]
        return command
    if kind == "uvicorn":
        return [python, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--log-level", "warning", "--no-access-log"]
    raise ValueError(kind)


@contextmanager
def running(kind: str, target: str = "bench.protocols:app", tls: bool = False) -> Iterator[str]:
    """Start a server subprocess on a free port, yield its base URL once it answers; always kill it."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        config = Path(scratch, "hypercorn.toml")
        config.write_text(_HYPERCORN_TOML)
        errors = open(Path(scratch, "stderr"), "w+b")
        # Its own process group: the server and any worker process it spawns are killed together.
        process = subprocess.Popen(_server_command(kind, target, port, tls, str(config)), cwd=ROOT,
                                   env=env, stdout=subprocess.DEVNULL, stderr=errors,
                                   start_new_session=True)
        try:
            url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
            _wait_until_answering(process, url, errors, kind)
            yield url
        finally:
            _kill(process)
            errors.close()


def _wait_until_answering(process: subprocess.Popen, url: str, errors, kind: str) -> None:
    """Poll until the server answers 200, then warm it up (first requests pay one-time costs)."""
    import httpx

    from course import tls_context

    deadline = time.monotonic() + 30
    with httpx.Client(verify=tls_context(), timeout=5) as client:
        while True:
            if process.poll() is not None:
                errors.seek(0)
                raise RuntimeError(f"{kind} exited with {process.returncode}: "
                                   f"{errors.read().decode(errors='replace')[-800:]}")
            try:
                if client.get(url).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not answer {url} within 30 s")
            time.sleep(0.05)
        for _ in range(50):
            client.get(url)


def _kill(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            continue
    try:  # a worker process left behind in the group
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- load ------------------------------------------------------------------------------------


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        raise RuntimeError(f"{tool} is not installed (Debian: apt-get install nghttp2-client wrk)")


def h2load(url: str, *, clients: int, streams: int, seconds: float, h1: bool = False,
           warm_up: float = 0.3) -> tuple[float, float]:
    """One timed h2load run: (requests/s, p99 latency in ms)."""
    _need("h2load")
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        command = ["h2load", "-c", str(clients), "-m", str(streams),
                   "-D", f"{int(seconds * 1000)}ms", "--warm-up-time", f"{int(warm_up * 1000)}ms",
                   "--log-file", log.name, url]
        if h1:
            command.insert(1, "--h1")
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + warm_up + 30)
        latencies = sorted(int(line.split("\t")[2]) for line in Path(log.name).read_text().splitlines()
                           if line.count("\t") == 2)
    summary = [line for line in result.stdout.splitlines() if line.startswith("requests:")]
    if result.returncode != 0 or not latencies or not summary:
        raise RuntimeError(f"h2load failed on {url}: {result.stdout[-400:]}{result.stderr[-400:]}")
    failed = int(summary[0].split(",")[4].split()[0])
    if failed:
        raise RuntimeError(f"h2load: {failed} requests failed on {url}")
    # h2load's req/s counts the timed part only (the warm-up is excluded), as does the log.
    rate = next(float(line.split(",")[1].split()[0]) for line in result.stdout.splitlines()
                if line.startswith("finished in"))
    return rate, p99(latencies) / 1000


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile: the smallest value that at least 99% of values do not exceed."""
    ordered = sorted(values)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, clients: int, seconds: float, streams: int = 1) -> tuple[float, float]:
    """One timed wrk run (HTTP/1.1, one load thread): (requests/s, p99 latency in ms)."""
    _need("wrk")
    assert streams == 1, "wrk does not pipeline"
    command = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    out = result.stdout
    if result.returncode != 0 or "Requests/sec:" not in out:
        raise RuntimeError(f"wrk failed on {url}: {out[-400:]}{result.stderr[-400:]}")
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors on {url}: {out[-400:]}")
    rate = float(out.split("Requests/sec:")[1].split()[0])
    p99 = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("99%"))
    unit = p99.lstrip("0123456789.")
    return rate, float(p99[: -len(unit)]) * _UNITS[unit]


async def _httpx_rate(url: str, seconds: float, concurrency: int) -> float:
    """Requests/s of httpx.AsyncClient over one HTTP/2 connection with ``concurrency`` in flight."""
    import httpx

    from course import tls_context

    done = 0
    async with httpx.AsyncClient(http2=True, verify=tls_context()) as client:
        if (await client.get(url)).http_version != "HTTP/2":
            raise RuntimeError("httpx did not negotiate HTTP/2")
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                (await client.get(url)).raise_for_status()
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


# --- the group -------------------------------------------------------------------------------

POOL = 10  # connections in a pool, and streams on one HTTP/2 connection: the same 10 in flight


def _median(results: list[tuple[float, float]]) -> tuple[float, float]:
    """A figure: the median requests/s and the median p99 of its runs."""
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def _best(results: list[tuple[float, float]]) -> tuple[float, float]:
    """A limit: the best of its runs (the most requests/s, the lowest p99). A busy machine only
    ever lowers a ceiling or raises a floor, so the best run is the closest to the real limit."""
    return max(r[0] for r in results), min(r[1] for r in results)


def run(quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Row]:
    """Measure every protocol and server; ``progress(label)`` is called before each step.

    A figure is the median of its runs. The full mode pairs every timed run with a run
    of the same tool and shape against the raw responder, just before it, so that a
    ratio compares figures taken moments apart (a shared machine's load changes by the
    minute); the row's limit is the best of those paired runs. The quick mode measures
    each limit once, first.
    """
    runs, seconds = (1, 1.0) if quick else (5, 2.0)
    step = progress or (lambda label: None)
    rows: list[Row] = []
    # The shapes of load; each has its limit (the same tool and shape against the raw responder).
    shapes = {
        "1 conn [wrk]": (wrk, dict(clients=1)),
        f"{POOL} conns [wrk]": (wrk, dict(clients=POOL)),
        f"{POOL} in flight [h2load]": (h2load, dict(h1=True, clients=POOL, streams=1)),
    }
    limit_runs: dict[str, list[tuple[float, float]]] = {shape: [] for shape in shapes}

    def add(name: str, result: tuple[float, float], limit: tuple[float, float] | None,
            latency: bool = True) -> None:
        rate, p99 = result
        rows.append(Row("protocols", f"{name}: req/s", rate, "req/s", limit and limit[0]))
        if latency:
            rows.append(Row("protocols", f"{name}: p99", p99, "ms", limit and limit[1]))

    step("raw asyncio responder (the limit)")
    with running("raw") as raw_url:

        def limit_run(shape: str) -> tuple[float, float]:
            tool, options = shapes[shape]
            result = tool(raw_url, seconds=seconds, **options)
            limit_runs[shape].append(result)
            return result

        def measure(name: str, url: str, shape: str, latency: bool = True, **options) -> tuple[float, float]:
            tool = h2load if "[h2load]" in shape else wrk
            options = options or shapes[shape][1]
            subject, paired = [], []
            for _ in range(runs):
                if not quick:
                    paired.append(limit_run(shape))
                subject.append(tool(url, seconds=seconds, **options))
            result = _median(subject)
            add(name, result, _best(paired or limit_runs[shape]), latency)
            return result

        if quick:
            for shape in shapes:
                limit_run(shape)

        step("Quart on Hypercorn: HTTP/1.1 and h2c")
        h2 = f"{POOL} in flight [h2load]"
        multiplexed = dict(clients=1, streams=POOL)
        with running("hypercorn") as url:
            measure("Hypercorn HTTP/1.1, 1 conn [wrk]", url, "1 conn [wrk]")
            measure(f"Hypercorn HTTP/1.1, {POOL} conns [wrk]", url, f"{POOL} conns [wrk]")
            measure(f"Hypercorn h2c, 1 conn x {POOL} streams [h2load]", url, h2, **multiplexed)

        step("Quart on Hypercorn over TLS: HTTP/2 and HTTP/1.1")
        with running("hypercorn", tls=True) as url:
            h2_tls = measure(f"Hypercorn HTTP/2+TLS, 1 conn x {POOL} [h2load]", url, h2, **multiplexed)
            measure(f"Hypercorn HTTP/1.1+TLS, {POOL} conns [wrk]", url, f"{POOL} conns [wrk]")
            step("httpx client over HTTP/2")
            rate = statistics.median(asyncio.run(_httpx_rate(url, seconds, POOL)) for _ in range(runs))
            # Its limit is h2load's figure on the same server: the ratio is what a Python client leaves.
            rows.append(Row("protocols", f"httpx client, HTTP/2+TLS, 1 conn x {POOL} [httpx]: req/s", rate,
                            "req/s", h2_tls[0]))

        step("Quart on uvicorn")
        with running("uvicorn") as url:
            measure("uvicorn HTTP/1.1, 1 conn [wrk]", url, "1 conn [wrk]")
            measure(f"uvicorn HTTP/1.1, {POOL} conns [wrk]", url, f"{POOL} conns [wrk]")

        step("raw ASGI app on each server")
        for kind in ("hypercorn", "uvicorn"):
            with running(kind, "bench.protocols:raw_asgi") as url:
                measure(f"{kind} raw ASGI (no Quart), {POOL} conns [wrk]", url, f"{POOL} conns [wrk]",
                        latency=False)

    limits: list[Row] = []
    for shape, results in limit_runs.items():
        rate, p99 = _best(results)
        limits += [Row("protocols", f"limit: raw asyncio, {shape}: req/s", rate, "req/s"),
                   Row("protocols", f"limit: raw asyncio, {shape}: p99", p99, "ms")]
    return limits + rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--responder"]:
        raw_responder(int(sys.argv[2]))
    else:
        from bench import table

        print(table(run(quick="--quick" in sys.argv, progress=lambda label: print("...", label))))
