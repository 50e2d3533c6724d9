"""Run an app under a real ``hypercorn`` or ``uvicorn`` process, on a free port, killed in the end.

    with real_server("hypercorn", "apps.hello:app") as url:
        httpx.get(url + "/")
"""

from __future__ import annotations

import contextlib
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVERS = ["hypercorn", "uvicorn"]
# Both servers print the address they bound when given port 0.
_ADDRESS = re.compile(r"(http://127\.0\.0\.1:\d+)")


@contextlib.contextmanager
def real_server(server: str, target: str, timeout: float = 30):
    """Start ``server`` (hypercorn or uvicorn) on ``target`` ("module:app"); yield its base URL."""
    args = {
        "hypercorn": [str(BIN / "hypercorn"), "--bind", "127.0.0.1:0", target],
        "uvicorn": [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", "0", target],
    }[server]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        url = None
        while url is None:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{server} printed no address:\n{''.join(output)}") from None
            if match := _ADDRESS.search(line):
                url = match.group(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
    log = "".join(output)
    assert "Traceback" not in log, f"{server} logged a traceback:\n{log}"
