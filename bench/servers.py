"""Which server? The course's Quart apps under Hypercorn, uvicorn and Granian, next to the machine's limits.

For the deployment chapter (each call about 8 s in quick mode)::

    from bench import servers

    rows = []
    for name in ("hypercorn", "uvicorn", "granian"):
        rows += servers.compare(name, quick=True)   # a list of bench.Row
    print(servers.table(rows))                      # one column per server, <= 100 columns
    servers.plot(rows)                              # a matplotlib figure (path= saves a PNG)

Every server runs the same apps (``bench.site``: apps.hello, apps.upload, apps.video,
apps.chat, apps.events) in one worker process, started and stopped with
``course.serve_command``. Each figure's limit is measured in the same run with the same
client (``bench.load``): the raw asyncio reference server for requests, websockets and
idle connections, a plain file write for uploads (with fsync: what the disk sustains),
a plain file read for downloads. A server that cannot do a row says why in the cell.

``python -m bench --only servers`` runs every server in the same rounds, the idle
connections up to 10,000, and Quart 0.22 against 0.23 on each server (``bench.figures``).
"""

from __future__ import annotations

import asyncio
import resource
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench import FLOOR_UNITS, Row, table as _table

__all__ = ["SERVERS", "Server", "compare", "plot", "run", "table"]

GROUP = "servers"
_CONFIG = Path(__file__).with_name("hypercorn.toml")
_UVICORN = ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning", "--no-access-log"]


@dataclass(frozen=True)
class Server:
    """How to run ``bench.site:app`` under one server, and what it cannot do."""

    label: str  # the column's heading, words on separate lines
    command: tuple[str, ...]
    http2: str = ""  # why it has no HTTP/2 without TLS, if it has none

    def argv(self, target: str = "bench.site:app") -> list[str]:
        return [part.replace("{target}", target) for part in self.command]


# uvicorn gets {port}, not {fd}: with --fd it wraps the TCP socket as AF_UNIX, so asyncio never
# sets TCP_NODELAY and every request after the first on a connection waits ~40 ms (200 req/s).
# Granian takes no socket at all. Hypercorn takes the socket (fd://).
SERVERS: dict[str, Server] = {
    "hypercorn": Server("Hypercorn", ("hypercorn", "--bind", "fd://{fd}", "--config", str(_CONFIG), "{target}")),
    "uvicorn-h11": Server("uvicorn h11 asyncio", (*_UVICORN, "--http", "h11", "--loop", "asyncio", "{target}"),
                          http2="uvicorn speaks HTTP/1.1 only"),
    "uvicorn-h11-uvloop": Server("uvicorn h11 uvloop", (*_UVICORN, "--http", "h11", "--loop", "uvloop", "{target}"),
                                 http2="uvicorn speaks HTTP/1.1 only"),
    "uvicorn-httptools": Server("uvicorn httptools asyncio",
                                (*_UVICORN, "--http", "httptools", "--loop", "asyncio", "{target}"),
                                http2="uvicorn speaks HTTP/1.1 only"),
    # What a plain `uvicorn apps.x:app` picks when httptools and uvloop are installed.
    "uvicorn": Server("uvicorn httptools uvloop", (*_UVICORN, "--http", "httptools", "--loop", "uvloop", "{target}"),
                      http2="uvicorn speaks HTTP/1.1 only"),
    # --backpressure: Granian queues requests past backlog/workers (1,024) per worker; an open SSE
    # stream is a request, so the 1,025th stream would wait. Raised to hold 10,000.
    "granian": Server("Granian", ("granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}",
                                  "--workers", "1", "--log-level", "warning", "--backlog", "2048",
                                  "--backpressure", "16384", "{target}")),
}


def raise_descriptor_limit() -> int:
    """Raise this process's open-file limit to its hard limit (servers started later inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def _in_thread(func: Callable, *args, **kwargs):
    """Call ``func``; from a notebook cell (a running event loop) in a thread of its own, because
    the figures use ``asyncio.run()`` as they do on the command line."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return func(*args, **kwargs)
    with ThreadPoolExecutor(1, thread_name_prefix="bench-servers") as worker:
        return worker.submit(func, *args, **kwargs).result()


def compare(server: str, quick: bool = True, progress: Callable[[str], None] | None = None) -> list[Row]:
    """Every figure of one server (a key of ``SERVERS``), each next to the machine's limit
    measured in the same call. Quick mode: 64 MiB bodies, 1 s of load, 1,000 idle connections."""
    from bench import figures

    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")
    raise_descriptor_limit()
    return _in_thread(figures.measure, [server], quick, progress or (lambda label: None))


def run(quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Row]:
    """The benchmark group: every server in the same rounds, and Quart 0.22 against 0.23 on each."""
    from bench import figures

    raise_descriptor_limit()
    return _in_thread(figures.measure, list(SERVERS), quick, progress or (lambda label: None), True)


def table(rows: list[Row]) -> str:
    """The rows as a table, one column per server, at most 100 columns wide."""
    return _table(rows)


# The figures a learner compares first, for the plot: (a pattern for the row's name, unit).
PLOTTED = [(r"GET / \[wrk\], 10 conns", "req/s"), (r"GET / \[wrk\] p99", "ms"), (r"upload \d+ [MG]iB", "MiB/s"),
           (r"websocket echo p50", "ms"), (r"chat fan-out to \d+", "msg/s"), (r"SSE streams at 1,000", "KiB/conn")]


def plot(rows: list[Row], path: str | Path | None = None, title: str = "Quart on each server"):
    """Bars for the main figures, one per server; a black tick on each bar marks the machine's
    limit measured in the same run, and the label says the ratio.

    Returns the matplotlib Figure; ``path`` also saves it as PNG.
    """
    import re

    import matplotlib

    if path is not None and "matplotlib_inline" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from bench import number, ratio_text

    def matching(pattern: str, unit: str) -> dict[str, Row]:
        return {row.server: row for row in rows if row.server and row.unit == unit and re.fullmatch(pattern, row.name)}

    panels = [(pattern, unit) for pattern, unit in PLOTTED
              if any(row.value is not None for row in matching(pattern, unit).values())]
    servers = list(dict.fromkeys(row.server for row in rows if row.server))
    columns = min(3, max(1, len(panels)))
    lines = -(-max(1, len(panels)) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.8 * columns, 0.6 + (1.0 + 0.34 * len(servers)) * lines),
                                constrained_layout=True, squeeze=False)
    for axis in axes.flat[len(panels):]:
        axis.set_axis_off()
    colours = {server: plt.get_cmap("tab10")(i % 10) for i, server in enumerate(servers)}
    for axis, (pattern, unit) in zip(axes.flat, panels):
        chosen = matching(pattern, unit)
        here = [server for server in servers if server in chosen][::-1]
        values = [chosen[server].value or 0 for server in here]
        axis.barh([server.replace(" ", "\n", 1) for server in here], values, color=[colours[s] for s in here])
        vs = ""
        for y, server in enumerate(here):
            row = chosen[server]
            if row.limit:
                vs = row.vs
                axis.plot([row.limit, row.limit], [y - 0.4, y + 0.4], color="black", linewidth=1.5)
            text = "n/a" if row.value is None else ratio_text(row)
            axis.text(row.value or 0, y, f" {text}", va="center", fontsize=8)
        name = chosen[here[-1]].name if here else pattern
        axis.set_title(f"{name} ({unit})" + (f"\n| = {vs}, same run" if vs else ""), fontsize=9)
        better = "lower is better" if unit in FLOOR_UNITS else "higher is better"
        axis.set_xlabel(better, fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(4))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: number(x)))
        axis.tick_params(labelsize=8)
    figure.suptitle(title, fontsize=10)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    return figure
