"""Benchmarks: figures that back the course's performance claims, each next to the machine's own limit.

Every group is a module ``bench/<group>.py`` with ``run(quick: bool) -> list[Row]``;
``python -m bench`` runs them all (``--quick``, ``--only kit,uploads``) and prints
one table, also written as JSON. A figure that has a physical limit on this
machine (a sequential file write, a raw loopback socket copy) carries it as
``limit`` so the table shows the ratio: noisy shared machines change both sides.
Benchmarks never assert; tests only smoke-run the quick mode.
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

__all__ = ["Row", "median_time", "file_write_rate", "file_read_rate", "loopback_copy_rate", "table"]

MiB = 1024 * 1024


@dataclass
class Row:
    """One measured figure: ``value`` in ``unit``; ``limit`` is the machine's own ceiling, if any."""

    group: str
    name: str
    value: float
    unit: str
    limit: float | None = None
    target: str = ""  # what the course promises, in words ("<= 30 ms", ">= 90% of limit")

    @property
    def ratio(self) -> float | None:
        return self.value / self.limit if self.limit else None

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def median_time(func: Callable[[], object], runs: int) -> float:
    """Median wall time of ``func()`` in seconds over ``runs`` runs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def file_write_rate(size: int, directory: str | None = None, chunk: int = MiB) -> float:
    """MiB/s of a plain sequential write of ``size`` bytes, flushed to the OS (the upload ceiling)."""
    block = os.urandom(chunk)
    with tempfile.NamedTemporaryFile(dir=directory) as out:
        start = time.perf_counter()
        for _ in range(size // chunk):
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
        elapsed = time.perf_counter() - start
    return size / MiB / elapsed


def file_read_rate(path: str, chunk: int = MiB) -> float:
    """MiB/s of a plain sequential read of ``path`` (the download ceiling; page cache warm)."""
    size = 0
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as source:
        while data := source.read(chunk):
            size += len(data)
    return size / MiB / (time.perf_counter() - start)


def loopback_copy_rate(size: int, chunk: int = 64 * 1024) -> float:
    """MiB/s of raw bytes sent over a loopback TCP socket to a thread that discards them."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def drain() -> None:
        conn, _ = listener.accept()
        with conn:
            while conn.recv(chunk):
                pass

    reader = threading.Thread(target=drain)
    reader.start()
    block = b"x" * chunk
    with socket.create_connection(("127.0.0.1", port)) as sender:
        start = time.perf_counter()
        for _ in range(size // chunk):
            sender.sendall(block)
    reader.join()
    elapsed = time.perf_counter() - start
    listener.close()
    return size / MiB / elapsed


def table(rows: list[Row]) -> str:
    """The rows as an aligned text table (also used by the README and the notebook)."""
    lines = [f"{'group':<12} {'figure':<46} {'value':>12} {'limit':>12} {'ratio':>6}  target"]
    for row in rows:
        limit = f"{row.limit:,.1f}" if row.limit else ""
        ratio = f"{row.ratio:.0%}" if row.ratio is not None else ""
        lines.append(f"{row.group:<12} {row.name:<46} {row.value:>9,.2f} {row.unit:<3}"
                     f"{limit:>12} {ratio:>6}  {row.target}")
    return "\n".join(lines)
