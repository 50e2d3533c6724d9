"""bench/uploads.py and bench/downloads.py run in quick mode and report every figure (no timings asserted)."""

from __future__ import annotations

import psutil
import pytest

import bench
from bench import downloads, uploads


@pytest.mark.slow
@pytest.mark.parametrize("group", [uploads, downloads], ids=lambda m: m.GROUP)
def test_quick_mode_reports_figures_and_leaves_nothing_running(group):
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # e.g. the session's Chromium
    rows = group.run(quick=True)
    assert rows, f"{group.GROUP} reported no figures"
    for row in rows:
        assert isinstance(row, bench.Row) and row.group == group.GROUP
        assert row.value >= 0 and row.unit
    assert "Range last MiB" in bench.table(rows) or group is uploads
    left = [p.cmdline() for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not left, f"benchmark processes still running: {left}"
