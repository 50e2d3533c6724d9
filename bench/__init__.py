"""Benchmarks: figures that back the course's performance claims, each next to the machine's own limit.

Every group is a module ``bench/<group>.py`` with ``run(quick: bool) -> list[Row]``;
``python -m bench`` runs them all (``--quick``, ``--only kit,servers``) and prints
them with ``table()``, also written as JSON. A figure that has a limit on this
machine (a file write, a raw asyncio responder under the same load tool) carries it
as ``limit``, measured in the same run, so the table shows the ratio: noisy shared
machines change both sides. Benchmarks never assert; tests only smoke-run them.

This module holds what every group shares, one copy each: ``Row``, the machine's
limits (``file_write_rate``, ``file_read_rate``, ``loopback_copy_rate``), the memory
sampler (``Sampler``) and the table formatter (``table``).
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import textwrap
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

__all__ = ["MiB", "Row", "Sampler", "file_read_rate", "file_write_rate", "loopback_copy_rate",
           "median_time", "table"]

MiB = 1024 * 1024
WIDTH = 100  # every table fits JupyterLab's output area and a terminal without wrapping
# A limit in one of these units is a floor (the least it can take): the ratio reads "N×".
FLOOR_UNITS = {"s", "ms", "µs", "KiB/conn", "s/GiB"}
WHOLE_UNITS = {"", "thr", "conns"}  # counts: printed as whole numbers


@dataclass
class Row:
    """One figure: ``value`` in ``unit``, or ``None`` with the reason in ``note``.

    ``limit`` is the machine's own ceiling (or floor) measured in the same run and
    ``vs`` names it ("file write", "raw asyncio"). ``server`` makes the row a cell of
    its group's table: one column per server (or Quart version). ``target`` is the
    project's own goal in words ("<= 16 MiB"), shown only in the CLI's report.
    """

    group: str
    name: str
    value: float | None
    unit: str
    limit: float | None = None
    target: str = ""
    vs: str = ""
    server: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.limit:
            return None
        return self.value / self.limit

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


# --- the machine's limits --------------------------------------------------------------------


def file_write_rate(size: int, directory: str | None = None, chunk: int = MiB, fsync: bool = True) -> float:
    """MiB/s of a plain sequential write of ``size`` bytes in 1 MiB writes.

    With ``fsync`` (the default) the time includes getting the bytes to the disk: what the
    disk sustains, the limit of a server that keeps writing uploads. Without it, the bytes
    only reach the page cache, as a single upload's do (the app does not fsync).
    """
    block = os.urandom(chunk)
    with tempfile.NamedTemporaryFile(dir=directory) as out:
        start = time.perf_counter()
        for _ in range(size // chunk):
            out.write(block)
        out.flush()
        if fsync:
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


# --- the memory sampler ----------------------------------------------------------------------


class Sampler:
    """Peak resident memory and threads of a process tree, sampled in a background thread.

    The tree, because servers fork (Hypercorn's CLI runs its app in a worker process even
    with ``-w 1``; Granian too). ``pid=None`` samples this process. Use it as a with-block::

        with Sampler(server.pid) as memory:
            ...                        # the load
        memory.growth                  # MiB: the peak over the start
        memory.peak_threads
    """

    def __init__(self, pid: int | None = None, interval: float = 0.005) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.base = self.peak = 0
        self.peak_threads = 0
        self._tree: list = []
        self._tree_time = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def totals(self) -> tuple[int, int]:
        """(threads, resident bytes) of the process and its children, now."""
        import psutil

        if time.monotonic() - self._tree_time > 0.5:  # listing children reads all of /proc
            self._tree = [self.process, *self.process.children(recursive=True)]
            self._tree_time = time.monotonic()
        threads = rss = 0
        for process in self._tree:
            try:
                threads += process.num_threads()
                rss += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return threads, rss

    def cpu(self, user: bool = False) -> float:
        """CPU seconds the tree has used so far (``user``: outside the kernel only), steadier than
        wall time on a shared machine."""
        import psutil

        self._tree_time = 0.0
        self.totals()
        total = 0.0
        for process in self._tree:
            try:
                times = process.cpu_times()
                total += times.user + (0 if user else times.system)
            except psutil.NoSuchProcess:
                pass
        return total

    def rss(self) -> float:
        """Resident memory of the tree now, in MiB."""
        self._tree_time = 0.0
        return self.totals()[1] / MiB

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            threads, rss = self.totals()
            self.peak_threads = max(self.peak_threads, threads)
            self.peak = max(self.peak, rss)

    def __enter__(self) -> Sampler:
        self._tree_time = 0.0
        self.peak_threads, self.base = self.totals()
        self.peak = self.base
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        threads, rss = self.totals()  # a last sample: a short run may end between two
        self.peak_threads, self.peak = max(self.peak_threads, threads), max(self.peak, rss)

    @property
    def growth(self) -> float:
        """Peak resident memory over the start, in MiB."""
        return (self.peak - self.base) / MiB

    rss_growth_mib = growth  # the name chapter 04's load generator reads


# --- the table formatter ---------------------------------------------------------------------


def number(value: float | None, unit: str | None = None) -> str:
    """A figure as printed: thousands separated, three significant digits below 100."""
    if value is None:
        return ""
    if unit is not None and unit in WHOLE_UNITS:
        return f"{round(value):,}"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"


def ratio_text(row: Row) -> str:
    """The ratio to the limit: a share of a ceiling ("45%") or times a floor ("3.2×")."""
    if row.ratio is None:
        return ""
    if row.unit in FLOOR_UNITS:
        return f"{row.ratio:,.1f}×"
    return f"{row.ratio:.0%}"


def _shown(row: Row) -> tuple[str, str, str]:
    """Value, unit and limit as printed: a time under a millisecond reads better in µs."""
    value, limit, unit = row.value, row.limit, row.unit
    if unit == "ms" and value is not None and abs(value) < 1 and (not limit or limit < 1):
        value, limit, unit = value * 1000, (limit or 0) * 1000, "µs"
    return number(value, unit), unit, number(limit, unit) if limit else ""


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, subsequent_indent="  ") or [""]


def _long(rows: list[Row]) -> list[str]:
    """One line per figure: name, value, unit, limit, ratio, and what the limit is."""
    vs_width = max([2] + [len(row.vs) for row in rows if row.limit])
    name_width = min(max(len(row.name) for row in rows), WIDTH - 36 - vs_width)
    lines = [f"{'figure':<{name_width}} {'value':>9} {'unit':<6} {'limit':>9} {'ratio':>6}  vs"]
    for row in rows:
        value, unit, limit = _shown(row)
        if row.value is None:
            value, unit = "-", f"({row.note or 'no figure'})"
        names = _wrap(row.name, name_width)
        tail = f" {value:>9} {unit:<6} {limit:>9} {ratio_text(row):>6}  {row.vs if row.limit else ''}"
        if row.value is None:
            tail = f" {value:>9} {unit}"
        lines.append(f"{names[0]:<{name_width}}{tail}".rstrip())
        lines += names[1:]
    return lines


def _columns(rows: list[Row]) -> list[str]:
    """One line per figure and one column per server: the limit once, the ratio on a line below.

    A cell without a figure shows a letter; the reason is written under the table, once.
    """
    servers = list(dict.fromkeys(row.server for row in rows))
    figures = list(dict.fromkeys((row.name, row.unit) for row in rows))
    cells = {(row.server, row.name, row.unit): row for row in rows}
    reasons: dict[str, str] = {}
    cell = 9
    per_table = max(1, (WIDTH - 30 - 9) // (cell + 1))  # columns beside a label of 30
    lines: list[str] = []
    for first in range(0, len(servers), per_table):
        chosen = servers[first:first + per_table]
        label = min(max(len(f"{name} {unit}") for name, unit in figures), WIDTH - 9 - (cell + 1) * len(chosen))
        heads = [server.split() for server in chosen]  # a heading's words on lines of their own
        for line in range(max(len(words) for words in heads)):
            first = "limit" if line == 0 else ""
            lines.append(f"{'':<{label}} {first:>8}" + "".join(
                f" {(words[line] if line < len(words) else '')[:cell]:>{cell}}" for words in heads))
        for name, unit in figures:
            here = [cells.get((server, name, unit)) for server in chosen]
            if not any(here):
                continue
            # One unit for the whole line: µs only if every figure on it is under a millisecond.
            micro = unit == "ms" and all(row.value is None or abs(row.value) < 1 for row in here if row) \
                and all(not row.limit or row.limit < 1 for row in here if row)
            scale, shown_unit = (1000, "µs") if micro else (1, unit)
            # One limit for the line if every column was measured against the same one (one run);
            # rows from separate runs each keep their own, on a line of its own.
            found = [row.limit for row in here if row and row.limit]
            same = bool(found) and all(abs(other - found[0]) <= 1e-9 * abs(found[0]) for other in found)
            limit = number(found[0] * scale, shown_unit) if same else ""
            values, ratios = [], []
            for row in here:
                if row is None or row.value is None:
                    reason = row.note if row else "not measured"
                    letter = reasons.setdefault(reason, "abcdefghijklmnopqrstuvwxyz"[len(reasons) % 26])
                    values.append(f"({letter})")
                    ratios.append("")
                else:
                    values.append(number(row.value * scale, shown_unit))
                    ratios.append(ratio_text(row))
            names = _wrap(f"{name} {shown_unit}", label)
            lines += names[:-1]
            lines.append(f"{names[-1]:<{label}} {limit:>8}" + "".join(f" {v:>{cell}}" for v in values))
            if any(ratios):
                vs = next(row.vs for row in here if row and row.limit)
                kind = "×" if unit in FLOOR_UNITS else "of"
                if not same:
                    own = [number(row.limit * scale, shown_unit) if row and row.limit else "" for row in here]
                    lines.append(f"{f'  {vs}'[:label]:<{label}} {'':>8}" + "".join(f" {v:>{cell}}" for v in own))
                lines.append(f"{f'  {kind} {vs}'[:label]:<{label}} {'':>8}" + "".join(f" {r:>{cell}}" for r in ratios))
        lines.append("")
    for reason, letter in reasons.items():
        lines += _wrap(f"({letter}) {reason}", WIDTH)
    return lines if reasons else lines[:-1]


def table(rows: list[Row], status: dict[str, dict] | None = None, info: dict | None = None,
          targets: bool = False) -> str:
    """The rows as text no wider than 100 columns, one section per group.

    A group whose rows name a ``server`` gets one column per server; the others one line
    per figure. ``status`` (from ``bench.report.run_groups``) adds a line for a group that
    did not run; ``info`` (``bench.report.machine()``) names the machine on top;
    ``targets=True`` adds the project's targets, each met or MISSED (the CLI's report).
    """
    from bench.report import describe, verdict

    lines = _wrap(f"machine: {describe(info)}", WIDTH) if info else []
    order = ["machine"] + list(status or {}) + [row.group for row in rows]
    for group in dict.fromkeys(order):
        chosen = [row for row in rows if row.group == group]
        state = (status or {}).get(group, {})
        if not chosen and state.get("status", "ok") == "ok":
            continue
        lines.append(f"── {group} " + "─" * (WIDTH - 4 - len(group)))
        if chosen:
            lines += _columns(chosen) if any(row.server for row in chosen) else _long(chosen)
        if state.get("status", "ok") != "ok":
            lines += _wrap(f"{state['status'].upper()}: {state.get('reason', '')}", WIDTH)
    lines.append("ratio: value / the limit named after it, measured in the same run; "
                 "N× for a floor (lower is better).")
    goals = [row for row in rows if row.target]
    if targets and goals:
        lines.append("── the project's targets " + "─" * (WIDTH - 25))
        lines.append(f"{'':<6}  {'target':<20}  {'measured':>18}  figure")
        for row in goals:
            met = {True: "met", False: "MISSED", None: "-"}[verdict(row)]
            if row.value is None:
                shown = "no figure"
            elif "%" in row.target and row.ratio is not None:
                shown = f"{ratio_text(row)} of {row.vs}"
            else:
                shown = " ".join(_shown(row)[:2])
            name = f"{row.server}: {row.name}" if row.server else row.name
            prefix = f"{met:<6}  {row.target:<20}  {shown:>18}  "
            names = textwrap.wrap(name, WIDTH - len(prefix))
            lines += [prefix + names[0]] + [" " * (len(prefix) + 2) + more for more in names[1:]]
    return "\n".join(line.rstrip() for line in lines)
