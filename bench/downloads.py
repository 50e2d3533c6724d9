"""Downloads: streaming a 1 GiB file, and how fast a Range request anywhere in it is answered.

``python -m bench.downloads [--quick]``. The server (apps/video.py) runs in its own process.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import MiB, Row, file_read_rate, table
from bench.uploads import ROOT, hypercorn_process

GROUP = "downloads"


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MiB)  # random bytes: nothing on the way can compress them
    with open(path, "wb") as out:
        for _ in range(size // MiB):
            out.write(block)


def curl_download(url: str, *protocol: str) -> float:
    """GET ``url`` into /dev/null with curl; MiB/s."""
    start = time.perf_counter()
    result = subprocess.run(["curl", "-sS", "--fail", *protocol, "--cacert", str(ROOT / "certs" / "ca.pem"),
                             "-o", "/dev/null", "-w", "%{size_download}", url],
                            capture_output=True, text=True, check=True, timeout=600)
    return int(result.stdout) / MiB / (time.perf_counter() - start)


def range_latency(client: httpx.Client, url: str, header: str, runs: int) -> float:
    """Median milliseconds for a whole Range request (1 MiB answered) on a kept-alive connection."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, headers={"Range": header})
        times.append(time.perf_counter() - start)
        assert response.status_code == 206 and len(response.content) == MiB, response.status_code
    return statistics.median(times) * 1000


def run(quick: bool = False) -> list[Row]:
    size = (64 if quick else 1024) * MiB
    runs = 20 if quick else 50
    folder = Path(tempfile.mkdtemp(prefix="bench-downloads-"))
    rows: list[Row] = []
    try:
        path = folder / "big.bin"
        make_file(path, size)
        read_rate = file_read_rate(str(path))
        rows.append(Row(GROUP, f"file read {size // MiB} MiB (limit, page cache warm)", read_rate, "MiB/s"))
        env = {"COURSE_MEDIA_DIR": str(folder)}
        with hypercorn_process("apps.video:app", env, ready_path="/media/big.bin") as (url, _):
            rate = curl_download(f"{url}/media/big.bin", "--http1.1")
            rows.append(Row(GROUP, f"download {size // MiB} MiB, HTTP/1.1", rate, "MiB/s", limit=read_rate))
            with httpx.Client() as client:
                client.get(f"{url}/media/big.bin", headers={"Range": "bytes=0-0"})  # connect once
                middle = size // 2
                for label, header in [("first MiB", f"bytes=0-{MiB - 1}"),
                                      ("middle MiB", f"bytes={middle}-{middle + MiB - 1}"),
                                      ("last MiB", f"bytes=-{MiB}")]:
                    latency = range_latency(client, f"{url}/media/big.bin", header, runs)
                    rows.append(Row(GROUP, f"Range {label} of {size // MiB} MiB (median)", latency, "ms",
                                    target="< 10 ms" if label == "last MiB" else ""))
        with hypercorn_process("apps.video:app", env, tls=True, ready_path="/media/big.bin") as (url, _):
            h1 = curl_download(f"{url}/media/big.bin", "--http1.1")
            h2 = curl_download(f"{url}/media/big.bin", "--http2")
        rows.append(Row(GROUP, f"download {size // MiB} MiB over TLS, HTTP/1.1", h1, "MiB/s", limit=read_rate))
        rows.append(Row(GROUP, f"download {size // MiB} MiB over TLS, HTTP/2", h2, "MiB/s", limit=h1))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv[1:])))
