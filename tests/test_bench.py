"""`python -m bench --quick` runs and reports every group; every row has a figure or says why not.

Timings are never asserted: the machine is shared. The quick run itself is slow (a few
minutes); the table and the reference server are checked quickly.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT

import bench
from bench import Row, table
from bench.report import GROUPS, explain, verdict

TOOLS = [tool for tool in ("h2load", "wrk", "curl") if shutil.which(tool) is None]
needs_tools = pytest.mark.skipif(bool(TOOLS) and not IN_CI,
                                 reason=f"{', '.join(TOOLS)} not installed (apt-get install nghttp2-client wrk curl)")


def rows_of(document: dict, group: str) -> list[Row]:
    return [Row(**{k: v for k, v in row.items() if k != "ratio"}) for row in document["rows"] if row["group"] == group]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run of every group, plus a group that does not exist."""
    if TOOLS and IN_CI:
        pytest.fail(f"{' and '.join(TOOLS)} missing: apt-get install nghttp2-client wrk curl", pytrace=False)
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "bench", "--quick", "--only", ",".join(GROUPS + ["no_such_group"]),
               "--json", str(out / "results.json"), "--plot", str(out / "results.png")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    return result, json.loads((out / "results.json").read_text()), out


@pytest.mark.slow
@needs_tools
def test_quick_run_prints_every_group_within_100_columns(quick_run):
    result, document, out = quick_run
    assert document["mode"] == "quick"
    assert document["machine"]["cores"] >= 1 and document["machine"]["packages"]["quart"]
    assert (out / "results.png").stat().st_size > 0
    table_lines = [line for line in result.stdout.splitlines() if not line.startswith("JSON:")]
    assert table_lines and max(len(line) for line in table_lines) <= 100
    for group in GROUPS:
        assert f"── {group} " in result.stdout


@pytest.mark.slow
@needs_tools
@pytest.mark.parametrize("group", GROUPS)
def test_every_row_has_a_figure_or_a_stated_reason(quick_run, group):
    _, document, _ = quick_run
    assert document["groups"][group]["status"] == "ok", document["groups"][group]
    rows = rows_of(document, group)
    assert rows, f"no rows for {group}"
    for row in rows:
        if row.value is None:
            assert row.note.strip(), f"{group}: {row.server} {row.name} has neither a figure nor a reason"
        else:
            assert isinstance(row.value, (int, float)) and math.isfinite(row.value), row
        if row.limit:
            assert row.vs, f"{row.name}: a ratio must say what it compares with"


@pytest.mark.slow
@needs_tools
def test_servers_group_has_every_figure_for_every_server(quick_run):
    from bench.servers import SERVERS

    _, document, _ = quick_run
    rows = rows_of(document, "servers")
    labels = {row.server for row in rows}
    assert {server.label for server in SERVERS.values()} <= labels
    figures = {(row.name, row.unit) for row in rows if not row.name.startswith(("GET / with", "GET / Quart"))}
    for server in SERVERS.values():
        have = {(row.name, row.unit) for row in rows if row.server == server.label}
        assert figures <= have, f"{server.label} lacks {figures - have}"
    measured = [row for row in rows if row.value is not None and row.limit]
    assert measured, "no server figure was measured next to a limit"


@pytest.mark.slow
@needs_tools
def test_kit_has_a_column_for_each_quart(quick_run):
    _, document, _ = quick_run
    columns = {row.server for row in rows_of(document, "kit")}
    assert any(column.startswith(f"Quart {document['machine']['packages']['quart']} ") for column in columns)
    assert len(columns) == 2  # the other Quart's figures, or a column saying why there are none


@pytest.mark.slow
@needs_tools
def test_targets_are_only_in_the_cli_report(quick_run):
    result, document, _ = quick_run
    assert "the project's targets" in result.stdout
    rows = rows_of(document, "servers") + rows_of(document, "kit")
    learner_text = table(rows) + explain(rows)
    assert "MISSED" not in learner_text and "target" not in learner_text


@pytest.mark.slow
@needs_tools
def test_a_missing_group_is_reported_not_dropped(quick_run):
    result, document, _ = quick_run
    assert document["groups"]["no_such_group"]["status"] == "not available"
    assert "NOT AVAILABLE" in result.stdout


def test_a_group_that_raises_fails_the_run(tmp_path, monkeypatch, capsys):
    """A broken group is reported as an error, the others still run, and the exit code says so."""
    from bench.__main__ import main

    monkeypatch.setattr("bench.report.baseline", lambda quick: [])
    broken = types.ModuleType("bench.broken")
    broken.run = lambda quick=False: 1 / 0
    monkeypatch.setitem(sys.modules, "bench.broken", broken)
    code = main(["--quick", "--only", "broken,no_such_group", "--json", str(tmp_path / "r.json"),
                 "--plot", "none"])
    assert code == 1
    groups = json.loads((tmp_path / "r.json").read_text())["groups"]
    assert groups["broken"]["status"] == "error" and "ZeroDivisionError" in groups["broken"]["reason"]
    assert groups["no_such_group"]["status"] == "not available"
    assert "ERROR" in capsys.readouterr().out


def test_no_group_runs_a_process_of_its_own():
    """Every server process is started and stopped by course.serve_command: one helper, one policy."""
    sources = sorted(Path(bench.__file__).parent.glob("*.py"))
    assert len(sources) > 5
    for source in sources:
        text = source.read_text()
        for own in ("Popen(", "killpg", "_free_port", "os.kill("):
            assert own not in text, f"{source.name} uses {own}"


SERVER_ROWS = [
    Row("servers", "GET / [wrk], 10 conns", 3000.0, "req/s", 100000.0, vs="raw asyncio", server="Hypercorn"),
    Row("servers", "GET / [wrk], 10 conns", 6000.0, "req/s", 100000.0, vs="raw asyncio", server="Granian"),
    Row("servers", "GET / [wrk], 10 conns", None, "req/s", server="uvicorn httptools uvloop", note="it crashed"),
    Row("servers", "h2c, 10 streams [h2load] p99", 0.5, "ms", 0.25, vs="raw asyncio h1", server="Hypercorn"),
    Row("servers", "h2c, 10 streams [h2load] p99", 0.7, "ms", 0.25, vs="raw asyncio h1", server="Granian"),
    Row("servers", "h2c, 10 streams [h2load] p99", None, "ms", server="uvicorn httptools uvloop",
        note="uvicorn speaks HTTP/1.1 only"),
]


def test_table_gives_each_server_a_column_and_each_missing_figure_its_reason():
    text = table(SERVER_ROWS)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any("Hypercorn" in line and "Granian" in line and "uvicorn" in line for line in lines)
    assert "(a)" in text and "(a) it crashed" in text and "(b) uvicorn speaks HTTP/1.1 only" in text
    assert "3,000" in text and "3%" in text and "6%" in text
    p99 = next(line for line in lines if line.startswith("h2c, 10 streams [h2load] p99"))
    assert "µs" in p99 and "500" in p99 and "700" in p99  # one unit for the whole line
    assert "2.0×" in text and "2.8×" in text


def test_table_fits_100_columns_with_many_servers_and_long_names():
    rows = [Row("servers", "a figure with a rather long name, to be wrapped " * 2, float(i), "MiB/s", 10.0,
                vs="file write", server=f"server{i} variant{i}") for i in range(9)]
    rows.append(Row("machine", "a long machine figure name " * 4, 1.0, "MiB/s"))
    text = table(rows)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "server8" in text and "server0" in text


@pytest.mark.parametrize(("target", "value", "limit", "unit", "met"), [
    (">= 90% of file write", 450, 1000, "MiB/s", False),
    (">= 50% of HTTP/1.1", 60, 100, "MiB/s", True),
    ("<= 16 MiB", 3.2, None, "MiB", True),
    ("<= 16 MiB", 20, None, "MiB", False),
    ("<= 16 MiB", None, None, "MiB", None),
    ("< 10 ms", 12, None, "ms", False),
    ("0", 0, None, "", True),
    ("0", 2, None, "", False),
    ("for comparison", 1, 2, "MiB/s", None),
])
def test_numeric_targets_are_met_or_missed_in_the_cli_report(target, value, limit, unit, met):
    row = Row("uploads", "figure", value, unit, limit, target, vs="file write")
    assert verdict(row) is met
    report = table([row], targets=True)
    assert ("MISSED" in report) is (met is False)
    assert "MISSED" not in table([row]) and "the project's targets" not in table([row])


def test_reference_server_and_lean_clients_talk(tmp_path):
    """The limit's server answers HTTP, holds SSE streams, and echoes websocket frames."""
    import asyncio

    import httpx

    from bench.load import StreamClient, WebSocketClient, open_many, reference_command
    from course import serve_command

    async def talk(port: int) -> tuple[list[bytes], int]:
        got: list[bytes] = []
        _, client = await asyncio.get_running_loop().create_connection(
            lambda: WebSocketClient("x", "/chat/a", lambda c, payload: got.append(payload)), "127.0.0.1", port)
        await client.opened
        client.send_text('{"text": "hello"}')
        async with asyncio.timeout(10):
            while not got:
                await asyncio.sleep(0.01)
        client.close()
        streams = await open_many(lambda: StreamClient("x", "/events"), "127.0.0.1", port, 20)
        for stream in streams:
            stream.close()
        return got, len(streams)

    with serve_command(reference_command(), name="reference") as server:
        assert httpx.get(server.url + "/").json() == {"ok": True}
        got, held = asyncio.run(talk(server.port))
    assert got == [b'{"text": "hello"}'] and held == 20


def test_compare_names_the_servers_it_knows():
    from bench.servers import SERVERS, compare

    with pytest.raises(ValueError, match="hypercorn"):
        compare("gunicorn")
    assert {"hypercorn", "uvicorn", "granian"} <= set(SERVERS)
    for server in SERVERS.values():
        assert ("{fd}" in " ".join(server.command)) != ("{port}" in " ".join(server.command))


def test_servers_plot_is_a_figure_with_a_panel_per_main_figure(tmp_path):
    from bench.servers import plot

    rows = SERVER_ROWS + [Row("servers", "upload 64 MiB", v, "MiB/s", 700.0, vs="file write", server=s)
                          for s, v in (("Hypercorn", 300.0), ("Granian", 500.0))]
    figure = plot(rows, tmp_path / "servers.png")
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert any(title.startswith("GET / [wrk], 10 conns") for title in titles)
    assert any("upload" in title and "file write" in title for title in titles)
    assert (tmp_path / "servers.png").stat().st_size > 10_000
    assert re.search(r"\| = raw asyncio, same run", " ".join(titles))  # each bar's limit is marked


@pytest.mark.slow
def test_glance_gives_every_row_a_figure_or_a_reason_against_one_set_of_limits():
    """The deployment chapter's cut: one limit per row for every server, so the table prints it once."""
    from bench.servers import glance, limits, table

    machine = limits()
    rows = glance("hypercorn", machine) + glance("uvicorn", machine)
    assert rows and {row.server for row in rows} == {"Hypercorn", "uvicorn httptools uvloop"}
    for row in rows:
        assert row.value is not None or row.note, f"{row.server}: {row.name} has neither a figure nor a reason"
        assert row.value is None or row.limit, f"{row.server}: {row.name} has no limit"
    assert any(row.note == "uvicorn speaks HTTP/1.1 only" for row in rows)  # said, not left blank
    assert max(len(line) for line in table(rows).splitlines()) <= 100
    with pytest.raises(ValueError, match="granian"):
        glance("gunicorn", machine)
