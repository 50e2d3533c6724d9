"""Protocols: requests/s and p99 latency of one small Quart endpoint, served several ways.

What is measured: ``GET /`` answering ``{"ok":true}`` from the Quart ``app`` below,
under Hypercorn over HTTP/1.1 (one connection, then a pool of 10), h2c (HTTP/2
without TLS, by prior knowledge, one connection carrying 10 concurrent streams),
HTTP/2 over TLS (ALPN ``h2``, one connection x 10 streams, with the course's
certificates: the files ``serve(app, tls=True)`` uses) and HTTP/1.1 over TLS (a
pool of 10, what a client without HTTP/2 does); then uvicorn serving the very same
app; then each server running a raw ASGI app (no framework), which tells the
framework's cost from the server's.

How: every server is a subprocess started with ``course.serve_command`` (Hypercorn
takes the listening socket as ``fd://{fd}``; uvicorn gets ``{port}``, because its
``--fd`` wraps a TCP socket as a Unix one and so never sets TCP_NODELAY), one
worker each: one Python process answers, as in the chapters. Each is warmed up
before it is timed. The load comes from two clients written
in C, named in each row: ``wrk`` for HTTP/1.1 (requests/s and p99 from its
``--latency`` percentiles) and ``h2load`` (nghttp2) for HTTP/2 (its timed phase
after a warm-up; p99 from its per-request ``--log-file``). h2load would speak
HTTP/1.1 too, but it counts Hypercorn's status line (``HTTP/1.1 200 `` with an
empty reason phrase, which RFC 9112 allows) as a failure. One more row shows what
a Python client reaches: ``httpx.AsyncClient`` over HTTP/2 with
``verify=tls_context()``, whose limit is h2load's figure on the same server.

The machine's limit (the ``limit`` column): the same tool, with the same number
of connections, against the *raw asyncio reference server* of ``bench.load``:
an ``asyncio.Protocol`` that answers every request head (up to the blank line)
with the same canned bytes: no HTTP parsing, no ASGI, no framework, no TLS. It is the most
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
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from quart import Quart

from bench import Row
from bench.load import BODY, h2load as _h2load, percentile, reference_command, wrk as _wrk

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).with_name("hypercorn.toml")  # raises keep_alive_max_requests (see above)

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


def _command(kind: str, target: str, tls: bool) -> list[str]:
    if kind == "raw":
        return reference_command()
    if kind == "hypercorn":
        command = ["hypercorn", "--config", str(CONFIG), "--bind", "fd://{fd}", "--workers", "1", target]
        if tls:
            from course._setup import server_files

            certfile, keyfile = server_files()  # the files serve(app, tls=True) uses
            command[1:1] = ["--certfile", certfile, "--keyfile", keyfile]
        return command
    if kind == "uvicorn":
        return ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1", "--log-level",
                "warning", "--no-access-log", target]
    raise ValueError(kind)


@contextmanager
def running(kind: str, target: str = "bench.protocols:app", tls: bool = False) -> Iterator[str]:
    """Run ``target`` under ``kind`` ("hypercorn", "uvicorn", or "raw": the reference server) with
    ``course.serve_command``; yield its base URL (ending in "/") once it answers and is warm."""
    import httpx

    from course import serve_command, tls_context

    with serve_command(_command(kind, target, tls), name=f"bench {kind} {target}", tls=tls) as server:
        url = server.url + "/"
        with httpx.Client(verify=tls_context(), timeout=5) as client:
            for _ in range(50):  # the first requests pay one-time costs
                client.get(url)
        yield url


# --- load ------------------------------------------------------------------------------------


def h2load(url: str, *, clients: int, streams: int, seconds: float, h1: bool = False) -> tuple[float, float]:
    """One timed h2load run: (requests/s, p99 latency in ms)."""
    result = _h2load(url, clients=clients, streams=streams, seconds=seconds, h1=h1)
    return result["rate"], result["p99"]


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile: the smallest value that at least 99% of values do not exceed."""
    return percentile(values, 0.99)


def wrk(url: str, *, clients: int, seconds: float, streams: int = 1) -> tuple[float, float]:
    """One timed wrk run (HTTP/1.1, one load thread): (requests/s, p99 latency in ms)."""
    assert streams == 1, "wrk does not pipeline"
    result = _wrk(url, clients=clients, seconds=seconds)
    return result["rate"], result["p99"]


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
        vs = "raw asyncio h1" if "h2" in name or "HTTP/2" in name else "raw asyncio"
        rows.append(Row("protocols", f"{name}: req/s", rate, "req/s", limit and limit[0], vs=vs))
        if latency:
            rows.append(Row("protocols", f"{name}: p99", p99, "ms", limit and limit[1], vs=vs))

    step("raw asyncio reference server (the limit)")
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
            measure(f"Hypercorn h2c, 1 conn x {POOL} [h2load]", url, h2, **multiplexed)

        step("Quart on Hypercorn over TLS: HTTP/2 and HTTP/1.1")
        with running("hypercorn", tls=True) as url:
            h2_tls = measure(f"Hypercorn HTTP/2+TLS, 1 conn x {POOL} [h2load]", url, h2, **multiplexed)
            measure(f"Hypercorn HTTP/1.1+TLS, {POOL} conns [wrk]", url, f"{POOL} conns [wrk]")
            step("httpx client over HTTP/2")
            rate = statistics.median(asyncio.run(_httpx_rate(url, seconds, POOL)) for _ in range(runs))
            # Its limit is h2load's figure on the same server: the ratio is what a Python client leaves.
            rows.append(Row("protocols", f"httpx, HTTP/2+TLS, 1 conn x {POOL} [httpx]: req/s", rate,
                            "req/s", h2_tls[0], vs="h2load"))

        step("Quart on uvicorn")
        with running("uvicorn") as url:
            measure("uvicorn HTTP/1.1, 1 conn [wrk]", url, "1 conn [wrk]")
            measure(f"uvicorn HTTP/1.1, {POOL} conns [wrk]", url, f"{POOL} conns [wrk]")

        step("raw ASGI app on each server")
        for kind in ("hypercorn", "uvicorn"):
            with running(kind, "bench.protocols:raw_asgi") as url:
                measure(f"{kind}, bare ASGI app, {POOL} conns [wrk]", url, f"{POOL} conns [wrk]",
                        latency=False)

    limits: list[Row] = []
    for shape, results in limit_runs.items():
        rate, p99 = _best(results)
        limits += [Row("protocols", f"limit: raw asyncio, {shape}: req/s", rate, "req/s"),
                   Row("protocols", f"limit: raw asyncio, {shape}: p99", p99, "ms")]
    return limits + rows


if __name__ == "__main__":
    from bench import table

    print(table(run(quick="--quick" in sys.argv, progress=lambda label: print("...", label))))
