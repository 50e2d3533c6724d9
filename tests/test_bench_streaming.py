"""bench/uploads.py and bench/downloads.py run in quick mode, give every row a figure or a reason,
and leave no process behind (no timings asserted)."""

from __future__ import annotations

import math
import shutil

import psutil
import pytest

import bench
from bench import downloads, uploads

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@pytest.mark.slow
@pytest.mark.parametrize("group", [uploads, downloads], ids=lambda m: m.GROUP)
def test_quick_mode_reports_figures_and_leaves_nothing_running(group):
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # e.g. the session's Chromium
    rows = group.run(quick=True)
    assert rows, f"{group.GROUP} reported no figures"
    for row in rows:
        assert isinstance(row, bench.Row) and row.group == group.GROUP and row.unit
        assert (row.value is not None and math.isfinite(row.value)) or row.note, row
    assert rows[0].value, "the machine's limit comes first, measured"
    if group is downloads:  # (an upload app being rewritten may answer 500: its rows then say so)
        assert any(row.name.startswith("Range last MiB") and row.value and row.limit for row in rows)
    left = [p.cmdline() for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not left, f"benchmark processes still running: {left}"
