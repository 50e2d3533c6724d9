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
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from bench import Row, table

DELAY = 1.0
SIZES = (10, 100, 1000)


class Sampler:
    """Samples a process's thread count and resident memory in the background: the peaks."""

    def __init__(self, pid: int | None = None, interval: float = 0.002) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak_threads = 0
        self.base_rss = self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _totals(self) -> tuple[int, int]:
        """Threads and resident bytes of the process and its children (Hypercorn's workers)."""
        threads = rss = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                threads += process.num_threads()
                rss += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return threads, rss

    def _run(self) -> None:
        while not self._stop.is_set():
            threads, rss = self._totals()
            self.peak_threads = max(self.peak_threads, threads)
            self.peak_rss = max(self.peak_rss, rss)
            time.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self.peak_threads, self.base_rss = self._totals()
        self.peak_rss = self.base_rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def rss_growth_mib(self) -> float:
        return (self.peak_rss - self.base_rss) / 2**20


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
    return {"wall": wall, "threads": sampler.peak_threads, "memory": sampler.rss_growth_mib}


ROOT = Path(__file__).resolve().parent.parent
SERVERS = {
    # Hypercorn's default listen backlog (100) would drop part of a burst of 1000 connections.
    "Quart": [sys.executable, "-m", "hypercorn", "--bind", "127.0.0.1:0", "--backlog", "2048",
              "--error-logfile", "-", "apps.why_async:app"],
    "Flask": [sys.executable, "-c", """
import logging
from werkzeug.serving import ThreadedWSGIServer, make_server
from apps.why_async import flask_app
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no log line per request
ThreadedWSGIServer.request_queue_size = 2048             # the listen backlog, as above
server = make_server("127.0.0.1", 0, flask_app, threaded=True)
print(f"Running on http://127.0.0.1:{server.port}", flush=True)
server.serve_forever()
"""],
}


@contextlib.contextmanager
def server_process(framework: str):
    """Run the Quart or Flask service in a process of its own; yield (port, pid)."""
    # A session of its own, so that stopping it also stops the worker Hypercorn forks.
    process = subprocess.Popen(SERVERS[framework], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if match := re.search(r"http://127\.0\.0\.1:(\d+)", line):
                break
        else:
            raise RuntimeError(f"the {framework} server did not start")
        # Keep reading its output, so a full pipe can never block the server.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield int(match.group(1)), process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the worker too, if it lingers
        process.wait()


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
    for result in results:
        label = f"{result['framework']} {result['n']:>4} requests"
        rows += [
            Row("concurrency", f"{label}: wall time", result["wall"] * 1000, "ms", limit=delay * 1000,
                target="close to the delay (the limit)"),
            Row("concurrency", f"{label}: peak threads", result["threads"], "thr"),
            Row("concurrency", f"{label}: peak memory growth", result["memory"], "MiB"),
        ]
    return rows


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
