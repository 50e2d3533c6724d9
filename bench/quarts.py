"""The other Quart: find an interpreter with the Quart this one does not have, and borrow its copy.

The course supports Quart 0.23 (Python >= 3.13) and 0.22 (below). ``bench.kit`` re-runs
itself in the other interpreter; the servers group runs the other Quart *on this
interpreter* where it can (Quart is pure Python: its package directory goes first on
PYTHONPATH), so that the comparison changes Quart and nothing else.

Where to look, in order: ``--python PATH`` (or ``BENCH_OTHER_PYTHON``), virtual
environments next to this one (``../*/bin/python``), and the environments that
``tests/test_kit_pythons.py`` caches under ``~/.cache/quart-course``.
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEEDS = ["quart", "hypercorn", "httpx", "websockets", "psutil"]  # what bench.kit imports
_PROBE = """
import json, sys, importlib.metadata as m
import course, quart, hypercorn, httpx, websockets, psutil
print(json.dumps({"python": sys.version.split()[0], "quart": m.version("quart"),
                  "quart_dir": quart.__path__[0], "bin": sys.executable}))
"""

# Importing is not enough: Quart 0.23 imports on Python 3.11 and fails at its first request
# (asyncio.Queue.shutdown is new in 3.13).
_REQUEST = """
import asyncio, importlib.metadata as m
from quart import Quart
app = Quart("probe")
app.get("/")(lambda: {"ok": True})
async def main():
    assert (await app.test_client().get("/")).status_code == 200
asyncio.run(main())
print(m.version("quart"))
"""


def this_quart() -> str:
    return metadata.version("quart")


def candidates() -> list[str]:
    """Interpreters that may hold the other Quart, most likely first."""
    found = []
    if os.environ.get("BENCH_OTHER_PYTHON"):
        found.append(os.environ["BENCH_OTHER_PYTHON"])
    here = Path(sys.prefix).resolve()
    found += sorted(glob.glob(str(here.parent / "*" / "bin" / "python")))
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "quart-course"
    cached = [path for path in glob.glob(str(cache_dir / "*" / "bin" / "python"))
              if (Path(path).parent.parent / "ready").exists()]
    found += sorted(cached, key=os.path.getmtime, reverse=True)
    return [path for path in dict.fromkeys(found) if Path(path).parent.parent.resolve() != here]


@cache
def probe(python: str) -> dict | None:
    """What ``python`` offers (its version, Quart and Quart's folder), or None if it cannot run
    the benchmark (a module missing)."""
    try:
        result = subprocess.run([python, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.splitlines()[-1])


def other_quart(python: str | None = None) -> dict | None:
    """The first interpreter whose Quart differs from ours: ``{"python", "quart", "quart_dir", "bin"}``."""
    for candidate in [python] if python else candidates():
        found = probe(candidate)
        if found and found["quart"] != this_quart():
            return found
    return None


@cache
def borrowed(quart_dir: str, version: str) -> dict | None:
    """Environment variables that run the Quart in ``quart_dir`` on *this* interpreter, or None
    if it does not import here (Quart 0.23 needs Python 3.13)."""
    shelf = Path(tempfile.mkdtemp(prefix="bench-quart-"))
    atexit.register(shutil.rmtree, shelf, True)
    site = Path(quart_dir).parent
    (shelf / "quart").symlink_to(quart_dir)
    for info in site.glob(f"quart-{version}.dist-info"):  # so importlib.metadata names it too
        (shelf / info.name).symlink_to(info)
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(shelf)])}
    check = subprocess.run([sys.executable, "-c", _REQUEST], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=60)
    if check.returncode != 0 or check.stdout.strip() != version:
        return None
    return env
