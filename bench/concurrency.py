"""Concurrency: N simultaneous I/O-bound requests against Quart and against threaded Flask.

Each request waits ``DELAY`` seconds on the server (an ``asyncio.sleep`` in Quart, a
``time.sleep`` in Flask's thread), like a view that calls another service. Each server runs in a
process of its own (Hypercorn for Quart; werkzeug with one thread per request for Flask, as
``flask run`` does), so the client here neither shares its CPU time nor its memory. The figures
are the wall time of the whole burst, the server's peak number of threads, and the peak growth
of its resident memory, each the median of several runs. The ideal wall time is ``DELAY``:
every request waiting at the same time.

    python -m bench.concurrency [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from contextlib import contextmanager

from bench import Row, Sampler, table
from course import serve_command

DELAY = 1.0
SIZES = (10, 100, 1000)


async def get(port: int, path: str) -> int:
    """One HTTP/1.1 GET on its own connection, with a bare socket (no client library overhead)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        status_line = await reader.readline()
        await reader.read()  # the rest of the response, until the server closes
        return int(status_line.split()[1])
    finally:
        writer.close()


async def burst(port: int, path: str, n: int, pid: int | None = None) -> dict:
    """Send n requests at the same moment; return wall time, and the peak threads and memory
    growth of the server's process ``pid`` (default: this process, for a server run by serve())."""
    with Sampler(pid) as sampler:
        start = time.perf_counter()
        statuses = await asyncio.gather(*(get(port, path) for _ in range(n)))
        wall = time.perf_counter() - start
    if statuses.count(200) != n:
        raise RuntimeError(f"{n - statuses.count(200)} of {n} requests failed: {set(statuses)}")
    return {"wall": wall, "threads": sampler.peak_threads, "memory": sampler.growth}


# Both take the listening socket made by serve_command (its backlog of 1024 holds a burst of 1000).
SERVERS = {
    "Quart": ["hypercorn", "--bind", "fd://{fd}", "--error-logfile", "-", "apps.why_async:app"],
    "Flask": [sys.executable, "-c", """
import logging, sys
from werkzeug.serving import make_server
from apps.why_async import flask_app
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no log line per request
make_server("127.0.0.1", 0, flask_app, threaded=True, fd=int(sys.argv[1])).serve_forever()
""", "{fd}"],
}


@contextmanager
def server_process(framework: str):
    """Run the Quart or Flask service in a process of its own; yield (port, pid)."""
    with serve_command(SERVERS[framework], name=f"bench concurrency {framework}", ready="/io?delay=0") as server:
        yield server.port, server.pid


async def compare(sizes=SIZES, runs: int = 3, delay: float = DELAY) -> list[dict]:
    """Median figures of ``runs`` bursts per framework and size, Quart first."""
    results = []
    for framework in SERVERS:
        for n in sizes:
            samples = []
            for _ in range(runs):
                # A fresh server per burst: Python keeps memory it freed for reuse, so a second
                # burst on the same server would show little growth.
                with server_process(framework) as (port, pid):
                    await burst(port, f"/io?delay={delay}", 10, pid)  # warm up
                    samples.append(await burst(port, f"/io?delay={delay}", n, pid))
            results.append({"framework": framework, "n": n} | {
                key: statistics.median(sample[key] for sample in samples)
                for key in ("wall", "threads", "memory")})
    return results


def run(quick: bool = False) -> list[Row]:
    """The benchmark group: wall time, peak threads and memory growth per framework and N."""
    # Quick mode waits half as long per request, to stay well under a minute.
    delay = DELAY / 2 if quick else DELAY
    results = asyncio.run(compare(runs=3 if quick else 5, delay=delay))
    rows = []
    for result in results:  # one column per framework
        label, framework = f"{result['n']:,} requests:", result["framework"]
        rows += [
            Row("concurrency", f"{label} wall time", result["wall"] * 1000, "ms", delay * 1000, vs="the delay",
                server=framework),
            Row("concurrency", f"{label} peak threads", result["threads"], "thr", server=framework),
            Row("concurrency", f"{label} peak memory growth", result["memory"], "MiB", server=framework),
        ]
    return rows


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
