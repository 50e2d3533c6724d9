"""Which server? The course's Quart apps under Hypercorn, uvicorn and Granian, next to the machine's limits.

For the deployment chapter (about 4 s a call: one notebook cell each)::

    from bench import servers

    machine = servers.limits()                      # the raw asyncio reference server, a file write
    rows = []
    for name in ("hypercorn", "uvicorn", "granian"):
        rows += servers.glance(name, machine)       # a list of bench.Row
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

__all__ = ["SERVERS", "Server", "compare", "glance", "limits", "plot", "run", "table"]

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


GLANCE_SIZE_MIB = 32  # the upload of glance()
GLANCE_IDLE = 250  # idle SSE streams, then websockets, that glance() opens


def limits(progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """What this machine does with no HTTP parser, no ASGI and no framework, for ``glance()``
    (about 4 s): the raw asyncio reference server under the same clients, and a plain file write
    (the best of three: a shared disk's speed changes by the minute)."""
    raise_descriptor_limit()
    return _in_thread(_limits, progress or (lambda label: None))


def glance(server: str, limits: dict[str, float] | None = None,
           progress: Callable[[str], None] | None = None) -> list[Row]:
    """The deployment chapter's cut of ``compare()``, short enough for one notebook cell (about 4 s):
    small requests (wrk, 1 s), HTTP/2 without TLS (h2load), websocket echo, chat fan-out, a 32 MiB
    upload and 250 idle SSE streams and websockets, each next to ``limits`` (measured here if None).

    Pass every server the same ``limits`` and the table prints each limit once. The rows have the
    same names as ``compare()``'s, so ``table`` and ``plot`` take either; download, Range, CPU and
    memory-growth rows are only in ``compare()`` and ``python -m bench``.
    """
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")
    raise_descriptor_limit()
    return _in_thread(_glance, server, limits, progress or (lambda label: None))


_glance_files: list = []


def _glance_setup():
    from bench import MiB, figures

    mode = figures.Mode(True)
    mode.size, mode.size_label, mode.levels = GLANCE_SIZE_MIB * MiB, f"{GLANCE_SIZE_MIB} MiB", [GLANCE_IDLE]
    if not _glance_files:  # made once per process, removed at exit
        _glance_files.append(figures.Files(mode.size))
    return mode, _glance_files[0]


def _limits(progress: Callable[[str], None]) -> dict[str, float]:
    from bench import file_write_rate, figures
    from bench.load import reference_command
    from course import serve_command

    mode, data = _glance_setup()
    found: dict[str, float] = {}
    progress("starting the reference server")
    with serve_command(reference_command(), name="bench reference server", env=data.env) as reference:
        progress(f"{GLANCE_IDLE} idle SSE streams and websockets")  # first: on a fresh process
        for kind, steps in asyncio.run(figures._hold(reference.port, reference.pid, list(figures.KINDS),
                                                     mode.levels)).items():
            found[f"{kind} {GLANCE_IDLE}"] = steps[-1][2]
        for shown, key, _, _, load_reference in figures._short(mode):
            progress(shown[0][0])
            result = load_reference(reference)
            found.update({f"{key} {part}": result[part] for _, _, part in shown})
    progress("file write")
    found["write"] = max(file_write_rate(mode.size, str(data.uploads)) for _ in range(3))
    return found


def _glance(name: str, limits: dict[str, float] | None, progress: Callable[[str], None]) -> list[Row]:
    from bench import figures

    limits = limits or _limits(progress)
    mode, data = _glance_setup()
    server, table = SERVERS[name], figures.Table()
    label = server.label
    for key, value in limits.items():
        table.limit(key, value)
    progress(f"{name}: starting")
    with figures._start(server, data) as process:
        # Idle connections first, on a fresh process (a used one reuses memory it freed).
        progress(f"{name}: {GLANCE_IDLE} idle SSE streams and websockets")
        idle = {kind: table.figure(label, f"{what} at {GLANCE_IDLE:,}", "KiB/conn", f"{kind} {GLANCE_IDLE}",
                                   "raw asyncio") for kind, what in figures.KINDS.items()}
        with figures._attempt(table, list(idle.values())):
            for kind, steps in asyncio.run(figures._hold(process.port, process.pid, list(idle),
                                                         mode.levels)).items():
                level, held, per = steps[-1]
                if held == level:
                    table.add(idle[kind], per)
                else:
                    table.fail(idle[kind], f"held {held:,} of {level:,}")
        for shown, key, vs, load, _ in figures._short(mode):
            progress(f"{name}: {shown[0][0]}")
            cells = [table.figure(label, figure, unit, f"{key} {part}", vs) for figure, unit, part in shown]
            if key == "h2" and server.http2:  # what it lacks, said in its cells
                for cell in cells:
                    table.fail(cell, server.http2)
                continue
            with figures._attempt(table, cells):
                result = load(process)
                for cell, (_, _, part) in zip(cells, shown):
                    table.add(cell, result[part])
        progress(f"{name}: a {mode.size_label} upload")
        upload = table.figure(label, f"upload {mode.size_label}", "MiB/s", "write", "file write")
        with figures._attempt(table, [upload]):
            table.add(upload, figures._upload(process, data, "/files/")[0])
    return table.rows()


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
           (r"websocket echo p50", "ms"), (r"chat fan-out to \d+", "msg/s"), (r"SSE streams at [\d,]+", "KiB/conn")]


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
