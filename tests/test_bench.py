"""`python -m bench --quick` runs and reports every group it was asked for; timings are never asserted."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import types

import pytest

from conftest import IN_CI, ROOT

GROUPS = ["kit", "protocols"]
LOAD_TOOLS = [tool for tool in ("h2load", "wrk") if shutil.which(tool) is None]
if LOAD_TOOLS:  # the protocol group drives real load tools; CI installs them, a laptop may not have them
    if IN_CI:
        pytest.fail(f"{' and '.join(LOAD_TOOLS)} missing: apt-get install nghttp2-client wrk", pytrace=False)
    GROUPS.remove("protocols")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run of the groups that exist here, plus a group that does not exist."""
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "bench", "--quick", "--only", ",".join(GROUPS + ["no_such_group"]),
               "--json", str(out / "results.json"), "--plot", str(out / "results.png")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return result, json.loads((out / "results.json").read_text()), out


def test_quick_run_succeeds_and_prints_one_table(quick_run):
    result, _, out = quick_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'ratio: value / the limit named under "vs"' in result.stdout
    assert (out / "results.png").stat().st_size > 0


def test_json_names_the_machine(quick_run):
    _, document, _ = quick_run
    machine = document["machine"]
    assert document["mode"] == "quick"
    assert machine["cores"] >= 1 and machine["python"] and machine["packages"]["quart"]


@pytest.mark.parametrize("group", GROUPS)
def test_each_group_ran_and_gave_rows(quick_run, group):
    result, document, _ = quick_run
    assert document["groups"][group]["status"] == "ok"
    rows = [row for row in document["rows"] if row["group"] == group]
    assert rows, f"no rows for {group}"
    for row in rows:
        assert row["name"] and row["unit"] is not None
        assert isinstance(row["value"], (int, float)) and math.isfinite(row["value"])
        assert row["name"] in result.stdout  # the table shows what the JSON holds


def test_baseline_rows_come_first(quick_run):
    _, document, _ = quick_run
    baseline = [row["name"] for row in document["rows"] if row["group"] == "machine"]
    assert len(baseline) == 3
    assert document["rows"][0]["group"] == "machine"


@pytest.mark.skipif(bool(LOAD_TOOLS), reason="h2load and wrk are not installed (apt-get install nghttp2-client wrk)")
def test_protocol_rows_carry_the_machine_limit(quick_run):
    _, document, _ = quick_run
    rows = [row for row in document["rows"] if row["group"] == "protocols" and row["unit"] == "req/s"]
    assert rows
    limits = [row for row in rows if row["name"].startswith("limit:")]
    measured = [row for row in rows if not row["name"].startswith("limit:")]
    assert limits and measured
    for row in measured:
        assert row["limit"] and row["ratio"] is not None, row["name"]
        assert "[wrk]" in row["name"] or "[h2load]" in row["name"] or "[httpx]" in row["name"]


def test_a_missing_group_is_reported_not_dropped(quick_run):
    result, document, _ = quick_run
    assert document["groups"]["no_such_group"]["status"] == "not available"
    assert "no_such_group" in result.stdout and "NOT AVAILABLE" in result.stdout


def test_a_group_that_raises_fails_the_run(tmp_path, monkeypatch, capsys):
    """A broken group is reported as an error, the others still run, and the exit code says so."""
    from bench.__main__ import main

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


@pytest.mark.parametrize(("target", "value", "limit", "unit", "met"), [
    (">= 90% of file write", 450, 1000, "MiB/s", False),
    (">= 50% of HTTP/1.1", 60, 100, "MiB/s", True),
    ("<= 16 MiB", 3.2, None, "MiB", True),
    ("<= 16 MiB", 20, None, "MiB", False),
    ("< 10 ms", 12, None, "ms", False),
    ("0", 0, None, "", True),
    ("0", 2, None, "", False),
    ("for comparison", 1, 2, "MiB/s", None),
    ("close to the delay (the limit)", 510, 500, "ms", None),
])
def test_numeric_targets_are_called_met_or_missed(target, value, limit, unit, met):
    from bench import Row
    from bench.report import explain, verdict

    row = Row("uploads", "figure", value, unit, limit, target)
    assert verdict(row) is met
    if met is not None:
        assert ("**missed**" in explain([row])) is (not met)


def test_ratios_say_what_they_compare_with():
    """A ratio to another run must not be called the machine's limit, nor plotted as one."""
    from bench import Row
    from bench.report import comparison, explain, format_table

    h2 = Row("uploads", "streamed upload over TLS, HTTP/2", 60, "MiB/s", 100, ">= 50% of HTTP/1.1")
    wall = Row("concurrency", "quart 10 requests: wall time", 1010, "ms", 1000, "close to the delay (the limit)")
    threads = Row("concurrency", "quart 10 requests: peak threads", 3.0, "thr")
    floor = Row("kit", "bare socket bind", 0.00953, "ms")
    assert not comparison(h2)[2] and not comparison(wall)[2]
    text = explain([h2, wall])
    assert "HTTP/1.1's rate over TLS in the same run" in text and "1 s delay each request waits" in text
    assert "machine" not in text
    table = format_table([threads, floor])
    assert " 3 thr" in table and "9.53 µs" in table
