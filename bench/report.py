"""Run benchmark groups and report them: the machine's baseline, one table, JSON and a plot.

``python -m bench`` is the command line around these functions; a chapter may call
them directly::

    from bench.report import machine, baseline, run_groups, format_table, plot

    info = machine()                                  # cores, memory, CPU, versions
    rows = baseline(quick=True)                       # file write/read, loopback copy (MiB/s)
    more, status = run_groups(["kit", "protocols"], quick=True)
    print(format_table(rows + more, status))          # the same as bench.table()
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

from bench import FLOOR_UNITS, MiB, Row, file_read_rate, file_write_rate, loopback_copy_rate, ratio_text, table

__all__ = ["GROUPS", "machine", "baseline", "run_groups", "format_table", "explain", "plot",
           "write_json", "describe", "verdict"]

GROUPS = ["kit", "uploads", "downloads", "protocols", "concurrency", "servers"]
PACKAGES = ["quart", "hypercorn", "uvicorn", "granian", "uvloop", "httptools", "werkzeug", "flask", "h11",
            "h2", "wsproto", "httpx", "websockets", "aiofiles"]


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
            f"Hypercorn {info['packages'].get('hypercorn')}, uvicorn {info['packages'].get('uvicorn')}, "
            f"Granian {info['packages'].get('granian')}")


def baseline(quick: bool = False) -> list[Row]:
    """The machine's own ceilings, measured in this run: disk write, disk read, loopback copy."""
    size = (64 if quick else 1024) * MiB
    label = f"{size // MiB} MiB"
    write = file_write_rate(size)
    cached = file_write_rate(size, fsync=False)
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
        Row("machine", f"sequential file write, page cache only ({label})", cached, "MiB/s"),
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


def verdict(row: Row) -> bool | None:
    """Whether ``row`` meets its target, where the target is numeric ("<= 16 MiB", ">= 90% of ...",
    "< 10 ms", "0"); None where it is words only, or there is no figure."""
    match = re.match(r"\s*(<=|>=|<|>|=)?\s*(\d+(?:\.\d+)?)\s*(%|[^\s\d]+)?", row.target or "")
    if not match or row.value is None:
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


def format_table(rows: list[Row], status: dict[str, dict] | None = None, info: dict | None = None,
                 targets: bool = False) -> str:
    """``bench.table``: the one formatter (kept under this name for the chapters)."""
    return table(rows, status, info, targets)


def _name(row: Row) -> str:
    return " ".join(f"{row.server} {row.name}".split())


def explain(rows: list[Row]) -> str:
    """A few sentences (Markdown) for the table above them: for each kind of limit, the lowest
    and the highest ratio, each saying what it was compared with. No targets: those are the
    project's, not the reader's."""
    by_limit: dict[str, list[Row]] = {}
    for row in rows:
        if row.ratio is not None:
            by_limit.setdefault(row.vs or "its limit", []).append(row)
    lines = []
    for vs, chosen in by_limit.items():
        chosen = sorted(chosen, key=lambda row: row.ratio)
        words = "from {} to {}" if len(chosen) > 1 else "{}"
        picked = [chosen[0], chosen[-1]] if len(chosen) > 1 else chosen
        figures = [f"{ratio_text(row)} ({_name(row)})" for row in picked]
        floor = chosen[0].unit in FLOOR_UNITS
        lines.append(f"- Against {vs}{' (a floor: lower is better)' if floor else ''}: "
                     f"{words.format(*figures)}.")
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
    """Every figure with a limit, as a bar: left the share of a ceiling (higher is better),
    right times a floor (lower is better), coloured by group.

    Returns the matplotlib Figure (and saves it as PNG if ``path`` is given).
    """
    import matplotlib

    if path is not None and "matplotlib_inline" not in sys.modules:
        matplotlib.use("Agg")  # headless: no display needed to write a PNG
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, NullFormatter, PercentFormatter

    limited = [row for row in rows if row.ratio is not None]
    shares = [row for row in limited if row.unit not in FLOOR_UNITS]
    floors = [row for row in limited if row.unit in FLOOR_UNITS]
    groups = list(dict.fromkeys(row.group for row in shares + floors))
    colours = {group: plt.get_cmap("tab10")(i % 10) for i, group in enumerate(groups)}
    height = 1.5 + 0.24 * max(len(shares), len(floors), 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, height), constrained_layout=True)
    for axis, chosen, label in ((left, shares, "share of the limit measured in the same run "
                                                "(higher is better)"),
                                (right, floors, "times the floor measured in the same run (lower is better)")):
        if not chosen:
            axis.text(0.5, 0.5, "no figures", ha="center", va="center", transform=axis.transAxes)
            axis.set_axis_off()
            continue
        names = [f"{_name(row)} (vs {row.vs})" for row in chosen][::-1]
        values = [row.ratio for row in chosen][::-1]
        axis.barh(names, values, color=[colours[row.group] for row in chosen][::-1])
        axis.set_xlabel(label)
        axis.tick_params(axis="y", labelsize=8)
        axis.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
        if chosen is shares:
            axis.xaxis.set_major_formatter(PercentFormatter(1.0))
        else:
            if max(values) / max(min(values), 1e-9) > 20:  # ratios spread over decades: log scale
                axis.set_xscale("log")
                axis.xaxis.set_minor_formatter(NullFormatter())
            axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}×"))
    if len(groups) > 1:
        figure.legend(handles=[Patch(color=colours[g], label=g) for g in groups], loc="outside lower center",
                      ncol=len(groups), fontsize=8, frameon=False)
    if title:
        figure.suptitle(title, fontsize=10)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    return figure
