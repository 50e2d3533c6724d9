"""Uploads: a 1 GiB streamed upload's rate and the server's memory, HTTP/2 against HTTP/1.1.

The server runs in its own process (its memory is sampled with psutil); curl is the client,
so the client is never the bottleneck. ``python -m bench.uploads [--quick]``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from quart import Quart, request

from bench import MiB, Row, file_write_rate, loopback_copy_rate, table

ROOT = Path(__file__).resolve().parent.parent
GROUP = "uploads"

# The counter-example of notebook 09, served for the memory contrast only.
naive_app = Quart("naive-upload")
naive_app.config["MAX_CONTENT_LENGTH"] = None


@naive_app.put("/files/<name>")
async def naive_upload(name: str):
    """Reads the whole body into memory (what not to do)."""
    data = await request.get_data()
    return {"size": len(data)}


@naive_app.get("/files")
async def naive_ready():
    return {"files": []}


# Hypercorn's own API in a child process: one process (its CLI would fork a worker whose memory
# we would have to find), a socket bound on port 0 by us, optional TLS. argv: app fd [cert key].
_SERVER = """
import asyncio, importlib, os, sys
from hypercorn.asyncio import serve
from hypercorn.config import Config
module, name = sys.argv[1].split(":")
config = Config()
config.bind = [f"fd://{sys.argv[2]}"]
config.accesslog = None
if len(sys.argv) > 3:
    config.certfile, config.keyfile = sys.argv[3], sys.argv[4]
window = int(os.environ.get("BENCH_H2_WINDOW", "0"))
if window:  # Hypercorn has no Config field for HTTP/2 flow-control windows: patch them in
    import h2.settings
    from hypercorn.protocol.h2 import H2Protocol
    initiate = H2Protocol.initiate
    async def initiate_with_windows(self, *args, **kwargs):
        await initiate(self, *args, **kwargs)
        self.connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.connection.increment_flow_control_window(window - 65535)  # the connection's window
        await self._flush()
    H2Protocol.initiate = initiate_with_windows
asyncio.run(serve(getattr(importlib.import_module(module), name), config))
"""


@contextlib.contextmanager
def hypercorn_process(target: str, env: dict | None = None, tls: bool = False, ready_path: str = "/",
                      server: str = "hypercorn"):
    """Yield ``(base_url, pid)`` of ``target`` ("module:app") served in a child process.

    ``server="uvicorn"`` runs uvicorn's command instead (plain HTTP/1.1 only).
    """
    sock = socket.create_server(("127.0.0.1", 0))
    fd = sock.fileno()
    args = [sys.executable, "-c", _SERVER, target, str(fd)]
    if server == "uvicorn":
        args = [sys.executable, "-m", "uvicorn", "--fd", str(fd), "--log-level", "warning", target]
    verify: object = True
    if tls:
        from course import tls_context
        from course._setup import server_files

        args += list(server_files())
        verify = tls_context()
    process = subprocess.Popen(args, cwd=ROOT, pass_fds=[fd], start_new_session=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + ready_path, timeout=1, verify=verify)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server for {target} did not start") from None
                time.sleep(0.1)
        yield url, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        sock.close()


class PeakRSS:
    """Sample a process's resident memory every 2 ms; ``growth`` is the peak over the start, in MiB."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start = self.peak = self.process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        return (self.peak - self.start) / MiB


def curl_upload(url: str, size: int, *protocol: str) -> float:
    """PUT ``size`` zero bytes (from /dev/zero, never stored client-side) with curl; MiB/s."""
    cacert = str(ROOT / "certs" / "ca.pem")
    command = (f"head -c {size} /dev/zero | curl -sS --fail {' '.join(protocol)} --cacert {cacert} "
               f"-H 'Content-Length: {size}' -H 'Expect:' -T - -o /dev/null {url}")
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True, timeout=600)
    return size / MiB / (time.perf_counter() - start)


def run(quick: bool = False) -> list[Row]:
    size = (64 if quick else 1024) * MiB
    naive_size = min(size, 256 * MiB)
    folder = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    rows: list[Row] = []
    try:
        write_rate = file_write_rate(size, str(folder))
        rows.append(Row(GROUP, f"file write {size // MiB} MiB (limit)", write_rate, "MiB/s"))
        rows.append(Row(GROUP, f"loopback copy {size // MiB} MiB (limit)", loopback_copy_rate(size), "MiB/s"))
        env = {"COURSE_UPLOAD_DIR": str(folder)}

        with hypercorn_process("apps.upload:app", env, ready_path="/files") as (url, pid):
            with PeakRSS(pid) as memory:
                rate = curl_upload(f"{url}/files/h1.bin", size, "--http1.1")
            (folder / "h1.bin").unlink()
        rows.append(Row(GROUP, f"streamed upload {size // MiB} MiB, HTTP/1.1", rate, "MiB/s",
                        limit=write_rate, target=">= 90% of file write"))
        rows.append(Row(GROUP, "  server peak RSS growth", memory.growth, "MiB", target="<= 16 MiB"))

        with hypercorn_process("apps.upload:app", env, tls=True, ready_path="/files") as (url, pid):
            h1 = curl_upload(f"{url}/files/tls1.bin", size, "--http1.1")
            (folder / "tls1.bin").unlink()
            with PeakRSS(pid) as memory:
                h2 = curl_upload(f"{url}/files/tls2.bin", size, "--http2")
            (folder / "tls2.bin").unlink()
        rows.append(Row(GROUP, "streamed upload over TLS, HTTP/1.1", h1, "MiB/s"))
        rows.append(Row(GROUP, "streamed upload over TLS, HTTP/2", h2, "MiB/s", limit=h1,
                        target=">= 50% of HTTP/1.1"))
        rows.append(Row(GROUP, "  server peak RSS growth (HTTP/2)", memory.growth, "MiB", target="<= 16 MiB"))

        # Hypercorn keeps HTTP/2's default 64 KiB flow-control windows and has no Config field
        # to change them: the client must wait for a WINDOW_UPDATE every 32 KiB or so.
        tuned_env = {**env, "BENCH_H2_WINDOW": str(16 * MiB)}
        with hypercorn_process("apps.upload:app", tuned_env, tls=True, ready_path="/files") as (url, pid):
            h2_tuned = curl_upload(f"{url}/files/tls2.bin", size, "--http2")
            (folder / "tls2.bin").unlink()
        rows.append(Row(GROUP, "streamed upload over TLS, HTTP/2, 16 MiB windows", h2_tuned, "MiB/s",
                        limit=h1, target=">= 50% of HTTP/1.1"))

        with hypercorn_process("apps.upload:app", env, ready_path="/files", server="uvicorn") as (url, pid):
            with PeakRSS(pid) as memory:
                rate = curl_upload(f"{url}/files/uv.bin", size, "--http1.1")
            (folder / "uv.bin").unlink()
        rows.append(Row(GROUP, f"streamed upload {size // MiB} MiB, uvicorn (h11)", rate, "MiB/s",
                        limit=write_rate, target="for comparison"))
        rows.append(Row(GROUP, "  server peak RSS growth (uvicorn)", memory.growth, "MiB", target="<= 16 MiB"))

        with hypercorn_process("bench.uploads:naive_app", ready_path="/files") as (url, pid):
            with PeakRSS(pid) as memory:
                curl_upload(f"{url}/files/naive.bin", naive_size, "--http1.1")
        rows.append(Row(GROUP, f"naive get_data() {naive_size // MiB} MiB: RSS growth", memory.growth, "MiB",
                        target="(contrast: grows with the upload)"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv[1:])))
