"""bench/uploads.py and bench/downloads.py run in quick mode and report every figure (no timings asserted)."""

from __future__ import annotations

import psutil
import pytest

import bench
from bench import downloads, uploads


@pytest.mark.slow
@pytest.mark.parametrize("group", [uploads, downloads], ids=lambda m: m.GROUP)
def test_quick_mode_reports_figures_and_leaves_nothing_running(group):
    rows = group.run(quick=True)
    assert rows, f"{group.GROUP} reported no figures"
    for row in rows:
        assert isinstance(row, bench.Row) and row.group == group.GROUP
        assert row.value >= 0 and row.unit
    assert "Range last MiB" in bench.table(rows) or group is uploads
    assert not psutil.Process().children(recursive=True), "a benchmark server is still running"
