"""Run benchmark groups and report them: the machine's baseline, one table, JSON and a plot.

``python -m bench`` is the command line around these functions; notebook 15 calls
them directly::

    from bench.report import machine, baseline, run_groups, format_table, plot

    info = machine()                                  # cores, memory, CPU, versions
    rows = baseline(quick=True)                       # file write/read, loopback copy (MiB/s)
    more, status = run_groups(["kit", "protocols"], quick=True)
    print(format_table(rows + more, status))
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from bench import MiB, Row, file_read_rate, file_write_rate, loopback_copy_rate

__all__ = ["GROUPS", "machine", "baseline", "run_groups", "format_table", "explain", "plot",
           "write_json", "describe", "comparison", "verdict"]

GROUPS = ["kit", "uploads", "downloads", "protocols", "concurrency"]
PACKAGES = ["quart", "hypercorn", "uvicorn", "werkzeug", "flask", "h11", "h2", "wsproto", "httpx",
            "websockets", "aiofiles"]
LATENCY_UNITS = {"s", "ms", "us", "µs"}  # a latency's limit is a floor: its ratio reads "x times"
COUNT_UNITS = {"", "thr"}  # whole numbers: threads, leaked file descriptors


def machine() -> dict[str, Any]:
    """What the figures were measured on: they only mean something next to this."""
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    tools = {}
    for tool, flag in (("h2load", "--version"), ("wrk", "-v")):
        path = shutil.which(tool)
        if path:
            out = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
            tools[tool] = (out.stdout or out.stderr).splitlines()[0].strip()
        else:
            tools[tool] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": versions,
        "tools": tools,
    }


def describe(info: dict[str, Any]) -> str:
    """One line naming the machine, for the top of the table and the README."""
    return (f"{info['cpu']}, {info['usable_cores'] or info['cores']} cores, {info['memory_gib']} GiB, "
            f"{info['os']}, Python {info['python']}, Quart {info['packages'].get('quart')}, "
            f"Hypercorn {info['packages'].get('hypercorn')}, uvicorn {info['packages'].get('uvicorn')}")


def baseline(quick: bool = False) -> list[Row]:
    """The machine's own ceilings, measured in this run: disk write, disk read, loopback copy."""
    size = (64 if quick else 1024) * MiB
    label = f"{size // MiB} MiB"
    write = file_write_rate(size)
    with tempfile.NamedTemporaryFile() as sample:
        block = os.urandom(MiB)
        for _ in range(size // MiB):
            sample.write(block)
        sample.flush()
        file_read_rate(sample.name)  # first read warms the page cache, as a served file's would be
        read = file_read_rate(sample.name)
    copy = loopback_copy_rate(size)
    return [
        Row("machine", f"sequential file write + fsync ({label})", write, "MiB/s"),
        Row("machine", f"sequential file read, page cache warm ({label})", read, "MiB/s"),
        Row("machine", f"raw loopback TCP copy ({label})", copy, "MiB/s"),
    ]


def run_groups(names: list[str], quick: bool = False,
               on_step: Callable[[str, str], None] | None = None) -> tuple[list[Row], dict[str, dict]]:
    """Run ``bench.<name>.run(quick)`` for each name; never drop a group silently.

    Returns the rows and, per group, ``{"status": "ok" | "not available" | "error", ...}``:
    a group whose module does not exist is "not available"; one that raised is "error"
    (with its traceback's last line), and the other groups still run.
    """
    rows: list[Row] = []
    status: dict[str, dict] = {}
    for name in names:
        (on_step or (lambda group, label: None))(name, "starting")
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"bench.{name}":
                status[name] = {"status": "not available", "reason": f"bench/{name}.py is missing"}
                continue
            status[name] = {"status": "error", "reason": f"import failed: {error!r}"}
            continue
        except Exception as error:  # noqa: BLE001 - a broken group must not stop the others
            status[name] = {"status": "error", "reason": f"import failed: {error!r}"}
            continue
        kwargs: dict[str, Any] = {"quick": quick}
        if on_step and "progress" in inspect.signature(module.run).parameters:
            kwargs["progress"] = lambda label, name=name: on_step(name, label)
        start = time.perf_counter()
        try:
            group_rows = list(_call(module.run, **kwargs))
        except Exception as error:  # noqa: BLE001
            status[name] = {"status": "error", "reason": repr(error), "seconds": time.perf_counter() - start,
                            "traceback": traceback.format_exc()}
            continue
        rows += group_rows
        status[name] = {"status": "ok", "seconds": round(time.perf_counter() - start, 1),
                        "rows": len(group_rows)}
    return rows, status


def _call(func: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``func``; from a thread whose event loop runs (a notebook cell), call it in a new thread,
    so that groups may use ``asyncio.run()`` as they do on the command line."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return func(**kwargs)
    with ThreadPoolExecutor(1, thread_name_prefix="bench-group") as worker:
        return worker.submit(func, **kwargs).result()


def _number(value: float, unit: str | None = None) -> str:
    if unit is not None and unit in COUNT_UNITS:
        return f"{round(value):,}"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"


def _shown(row: Row) -> tuple[str, str, str]:
    """Value, unit and limit as printed: a time under a millisecond reads better in µs."""
    value, limit, unit = row.value, row.limit, row.unit
    if unit == "ms" and abs(value) < 1 and (not limit or limit < 1):
        value, limit, unit = value * 1000, (limit or 0) * 1000, "µs"
    return _number(value, unit), unit, _number(limit, unit) if limit else ""


def comparison(row: Row) -> tuple[str, str, bool]:
    """What a row's limit is: a short label, a phrase for sentences, and whether it is the machine's.

    Most limits are the machine's own (a file write or read, the raw asyncio responder); a few
    rows are compared with another run instead (HTTP/2 with HTTP/1.1, httpx with h2load, a wall
    time with the delay every request waits), and must say so.
    """
    name = row.name
    if row.group in ("uploads", "downloads") and "HTTP/2" in name:
        return "HTTP/1.1 run", "HTTP/1.1's rate over TLS in the same run", False
    if row.group == "uploads":
        return "file write", "the sequential file write", True
    if row.group == "downloads":
        return "file read", "the plain file read (page cache warm)", True
    if row.group == "protocols" and "[httpx]" in name:
        return "h2load run", "h2load's rate on the same server and protocol", False
    if row.group == "protocols":
        if row.unit in LATENCY_UNITS:
            return "raw asyncio", "the raw asyncio responder's p99 (the floor)", True
        return "raw asyncio", "the raw asyncio responder's rate (the limit)", True
    if row.group == "concurrency" and row.limit:
        return "the delay", f"the {row.limit / 1000:g} s delay each request waits", False
    return "limit", "its limit in the same run", True


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return ""
    if row.unit in LATENCY_UNITS:
        return f"{row.ratio:,.1f}×"  # times the floor: lower is better
    return f"{row.ratio:.0%}"  # share of the ceiling: higher is better


def verdict(row: Row) -> bool | None:
    """Whether ``row`` meets its target, where the target is numeric ("<= 16 MiB", ">= 90% of ...",
    "< 10 ms", "0"); None where it is words only ("for comparison")."""
    match = re.match(r"\s*(<=|>=|<|>|=)?\s*(\d+(?:\.\d+)?)\s*(%|[^\s\d]+)?", row.target or "")
    if not match:
        return None
    operator, number, unit = match.group(1) or "=", float(match.group(2)), match.group(3) or ""
    if unit == "%":
        if row.ratio is None:
            return None
        value, number = row.ratio, number / 100
    elif unit in ("", row.unit):
        value = row.value
    else:
        return None
    return {"<=": value <= number, ">=": value >= number, "<": value < number, ">": value > number,
            "=": value == number}[operator]


def format_table(rows: list[Row], status: dict[str, dict] | None = None, info: dict | None = None) -> str:
    """Like ``bench.table``, with room for long names, what each ratio compares with ("vs"), ratios of
    latencies as "N×", and a line per group that did not run ("not available" or "error")."""
    width = max([46] + [len(row.name) for row in rows])
    lines = []
    if info:
        lines.append(f"machine: {describe(info)}")
    gw = max([10] + [len(row.group) for row in rows] + [len(name) for name in status or {}])
    lines.append(f"{'group':<{gw}} {'figure':<{width}} {'value':>10} {'unit':<6}{'limit':>10} {'ratio':>7}"
                 f"  {'vs':<12}  target")
    order = ["machine"] + list(status or {}) + sorted({row.group for row in rows})
    for group in dict.fromkeys(order):
        for row in (r for r in rows if r.group == group):
            value, unit, limit = _shown(row)
            against = comparison(row)[0] if row.limit else ""
            met = {True: "  (met)", False: "  (MISSED)", None: ""}[verdict(row)] if row.target else ""
            lines.append(f"{row.group:<{gw}} {row.name:<{width}} {value:>10} {unit:<6}"
                         f"{limit:>10} {_ratio(row):>7}  {against:<12}  {row.target}{met}")
        state = (status or {}).get(group)
        if state and state["status"] != "ok":
            lines.append(f"{group:<{gw}} {state['status'].upper()}: {state.get('reason', '')}")
    lines.append("ratio: value / the limit named under \"vs\", measured in the same run (for latencies: "
                 "times it); file write, file read and raw asyncio are the machine's limits.")
    return "\n".join(lines)


def _name(row: Row) -> str:
    return " ".join(row.name.split())


def explain(rows: list[Row]) -> str:
    """A few sentences (Markdown) for the table above them: each numeric target met or missed, then
    the range of the other ratios, each saying what it compares with."""
    lines = []
    for row in rows:
        met = verdict(row) if row.target else None
        if met is None:
            continue
        value, unit, _ = _shown(row)
        share = ""
        if row.ratio is not None:
            share = f", {_ratio(row)} of {comparison(row)[1]}"
        lines.append(f"- {'met' if met else '**missed**'}: {_name(row)}: {f'{value} {unit}'.strip()}{share} "
                     f"(target {row.target})")
    by_phrase: dict[str, list[Row]] = {}
    for row in rows:
        if row.ratio is not None and (not row.target or verdict(row) is None):
            by_phrase.setdefault(comparison(row)[1], []).append(row)
    for phrase, chosen in by_phrase.items():
        chosen = sorted(chosen, key=lambda row: row.ratio)
        if len(chosen) > 2:
            chosen = [chosen[0], chosen[-1]]
            words = "from {} to {}"
        else:
            words = " and ".join(["{}"] * len(chosen))
        figures = [f"{_ratio(row)} ({_name(row)})" for row in chosen]
        kind = "times" if chosen[0].unit in LATENCY_UNITS else "of"
        lines.append(f"- Against {phrase}: {words.format(*figures)}"
                     + (" (times it: lower is better)." if kind == "times" else "."))
    return "\n".join(lines)


def write_json(path: str | Path, rows: list[Row], status: dict, info: dict, quick: bool,
               seconds: float) -> Path:
    """The same figures as the table, for tools and the README."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "mode": "quick" if quick else "full",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(seconds, 1),
        "machine": info,
        "groups": {name: {k: v for k, v in state.items() if k != "traceback"}
                   for name, state in status.items()},
        "rows": [row.as_dict() for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def plot(rows: list[Row], path: str | Path | None = None, title: str = ""):
    """Every figure whose limit is the machine's own, as a bar: left the share of a ceiling, right
    times a floor. Rows compared with another run (HTTP/2 with HTTP/1.1, httpx with h2load, wall
    times with a delay) are left out: their ratios are not the machine's limit.

    Returns the matplotlib Figure (and saves it as PNG if ``path`` is given).
    """
    import matplotlib

    if path is not None and "matplotlib_inline" not in sys.modules:
        matplotlib.use("Agg")  # headless: no display needed to write a PNG
    import matplotlib.pyplot as plt

    machine_rows = [row for row in rows if row.ratio is not None and comparison(row)[2]]
    shares = [row for row in machine_rows if row.unit not in LATENCY_UNITS]
    floors = [row for row in machine_rows if row.unit in LATENCY_UNITS]
    groups = list(dict.fromkeys(row.group for row in shares + floors))
    colours = {group: plt.get_cmap("tab10")(i) for i, group in enumerate(groups)}
    height = 1.5 + 0.28 * max(len(shares), len(floors), 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, height), constrained_layout=True)
    for axis, chosen, label in ((left, shares, "share of the machine's limit: file write, file read or "
                                                "raw asyncio responder (higher is better)"),
                                (right, floors, "times the raw asyncio responder's p99 (lower is better)")):
        if not chosen:
            axis.text(0.5, 0.5, "no figures", ha="center", va="center", transform=axis.transAxes)
            axis.set_axis_off()
            continue
        names = [f"{row.group}: {row.name}" for row in chosen][::-1]
        values = [row.ratio for row in chosen][::-1]
        axis.barh(names, values, color=[colours[row.group] for row in chosen][::-1])
        axis.set_xlabel(label)
        axis.tick_params(axis="y", labelsize=8)
        if chosen is shares:
            axis.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
            axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        else:
            axis.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
            if max(values) / max(min(values), 1e-9) > 20:  # ratios spread over decades: log scale
                axis.set_xscale("log")
                axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}×"))
    if len(groups) > 1:
        from matplotlib.patches import Patch

        figure.legend(handles=[Patch(color=colours[g], label=g) for g in groups], loc="outside lower center",
                      ncol=len(groups), fontsize=8, frameon=False)
    if title:
        figure.suptitle(title, fontsize=10)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    return figure
