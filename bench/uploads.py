"""Uploads under Hypercorn: a 1 GiB streamed upload's rate and memory, over TLS, and HTTP/2 against HTTP/1.1.

The server runs in its own process (started with ``course.serve_command``; its memory is
the peak growth of its process tree) and curl is the client, so the client is never
the bottleneck. The other servers' uploads are in the servers group.
``python -m bench.uploads [--quick]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from quart import Quart, request

from bench import MiB, Row, Sampler, file_write_rate, table
from bench.figures import files
from bench.load import LoadError, curl_upload
from course import ServerError, serve_command

ROOT = Path(__file__).resolve().parent.parent
GROUP = "uploads"

# The counter-example of the request-streaming chapter, served for the memory contrast only.
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


# Hypercorn has no Config field for HTTP/2 flow-control windows (64 KiB by default, so the
# client waits for a WINDOW_UPDATE every 32 KiB or so): this launcher patches them in.
# argv: app fd certfile keyfile window
_WINDOWS = """
import asyncio, importlib, sys
import h2.settings
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol.h2 import H2Protocol
target, fd, certfile, keyfile, window = sys.argv[1:6]
window = int(window)
initiate = H2Protocol.initiate
async def initiate_with_windows(self, *args, **kwargs):
    await initiate(self, *args, **kwargs)
    self.connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
    self.connection.increment_flow_control_window(window - 65535)  # the connection's own window
    await self._flush()
H2Protocol.initiate = initiate_with_windows
config = Config()
config.bind, config.certfile, config.keyfile, config.accesslog = [f"fd://{fd}"], certfile, keyfile, None
module, name = target.split(":")
asyncio.run(serve(getattr(importlib.import_module(module), name), config))
"""


def hypercorn(target: str, env: dict, tls: bool = False, window: int = 0):
    """``target`` under Hypercorn (the CLI; or, with ``window``, the patched launcher above)."""
    from course._setup import server_files

    certfile, keyfile = server_files()  # the files serve(app, tls=True) uses
    if window:
        command = [sys.executable, "-c", _WINDOWS, target, "{fd}", certfile, keyfile, str(window)]
    else:
        command = ["hypercorn", "--bind", "fd://{fd}", target]
        if tls:
            command[1:1] = ["--certfile", certfile, "--keyfile", keyfile]
    return serve_command(command, name=f"bench uploads {target}", env=env, tls=tls or bool(window),
                         ready="/files")


def upload(server, data, name: str, *protocol: str, source: Path | None = None) -> tuple[float, float]:
    """MiB/s of a streamed upload of the big file, and the server's peak memory growth (MiB)."""
    try:
        with Sampler(server.pid) as memory:
            rate = curl_upload(f"{server.url}/files/{name}", source or data.big, *protocol)
    finally:
        for leftover in data.uploads.glob(f"*{name}*"):
            leftover.unlink()
    return rate, memory.growth


def _attempt(func, count: int) -> tuple[tuple, str]:
    """``func()``'s figures, or as many Nones and the reason (another helper may be rewriting the app)."""
    try:
        return func(), ""
    except (LoadError, ServerError, OSError) as error:
        return (None,) * count, str(error).strip().splitlines()[0][:160]


def run(quick: bool = False) -> list[Row]:
    data = files(quick)
    size = data.big.stat().st_size
    label = f"{size // MiB} MiB"
    write = file_write_rate(size, str(data.uploads))
    rows = [Row(GROUP, f"file write + fsync {label} (the limit)", write, "MiB/s")]

    def plain() -> tuple:
        with hypercorn("apps.upload:app", data.env) as server:
            return upload(server, data, "h1.bin", "--http1.1")

    (rate, growth), why = _attempt(plain, 2)
    rows += [Row(GROUP, f"streamed upload {label}, HTTP/1.1", rate, "MiB/s", write, ">= 90% of file write",
                 "file write", note=why),
             Row(GROUP, "  server peak memory growth", growth, "MiB", target="<= 16 MiB", note=why)]

    def tls() -> tuple:
        with hypercorn("apps.upload:app", data.env, tls=True) as server:
            h1 = upload(server, data, "tls1.bin", "--http1.1")[0]
            return (h1, *upload(server, data, "tls2.bin", "--http2"))

    (h1, h2, growth), why = _attempt(tls, 3)
    rows += [Row(GROUP, "streamed upload over TLS, HTTP/1.1", h1, "MiB/s", write, vs="file write", note=why),
             Row(GROUP, "streamed upload over TLS, HTTP/2", h2, "MiB/s", h1, ">= 50% of HTTP/1.1", "HTTP/1.1 TLS",
                 note=why),
             Row(GROUP, "  server peak memory growth (HTTP/2)", growth, "MiB", target="<= 16 MiB", note=why)]

    def windows() -> tuple:
        with hypercorn("apps.upload:app", data.env, window=16 * MiB) as server:
            return upload(server, data, "tls2w.bin", "--http2")[:1]

    (tuned,), why = _attempt(windows, 1)
    rows.append(Row(GROUP, "streamed upload over TLS, HTTP/2, 16 MiB windows", tuned, "MiB/s", h1,
                    ">= 50% of HTTP/1.1", "HTTP/1.1 TLS", note=why))

    naive = min(size, 256 * MiB)
    source = data.folder / "naive.bin"
    with open(data.big, "rb") as big, open(source, "wb") as out:
        out.write(big.read(naive))

    def contrast() -> tuple:
        with hypercorn("bench.uploads:naive_app", data.env) as server:
            return upload(server, data, "naive.bin", "--http1.1", source=source)[1:]

    try:
        (growth,), why = _attempt(contrast, 1)
    finally:
        source.unlink()
    rows.append(Row(GROUP, f"naive get_data() {naive // MiB} MiB: memory growth", growth, "MiB",
                    note=why or "grows with the upload"))
    return rows


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv[1:]), targets=True))
