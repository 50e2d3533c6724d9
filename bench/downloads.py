"""Downloads under Hypercorn: streaming a 1 GiB file, and how fast a Range request anywhere in it is answered.

``python -m bench.downloads [--quick]``. The server (apps/video.py) runs in its own process,
started with ``course.serve_command``; the other servers' downloads are in the servers group.
"""

from __future__ import annotations

import statistics
import sys
import time

import httpx

from bench import MiB, Row, file_read_rate, table
from bench.figures import plain_read_ms, files
from bench.load import curl_download
from course import serve_command

GROUP = "downloads"


def range_latency(client: httpx.Client, url: str, header: str, runs: int) -> float:
    """Median milliseconds for a whole Range request (1 MiB answered) on a kept-alive connection."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, headers={"Range": header})
        times.append(time.perf_counter() - start)
        if response.status_code != 206 or len(response.content) != MiB:
            raise RuntimeError(f"Range {header} answered {response.status_code} with {len(response.content)} bytes")
    return statistics.median(times) * 1000


def video(env: dict, tls: bool = False):
    """apps/video.py under Hypercorn."""
    from course._setup import server_files

    command = ["hypercorn", "--bind", "fd://{fd}", "apps.video:app"]
    if tls:
        certfile, keyfile = server_files()
        command[1:1] = ["--certfile", certfile, "--keyfile", keyfile]
    return serve_command(command, name="bench downloads", env=env, tls=tls, ready="/media/big.bin")


def run(quick: bool = False) -> list[Row]:
    data = files(quick)
    size = data.big.stat().st_size
    label = f"{size // MiB} MiB"
    runs = 20 if quick else 50
    file_read_rate(str(data.big))  # the first read warms the page cache, as a served file's would be
    read = file_read_rate(str(data.big))
    floor = plain_read_ms(data.big, runs)
    rows = [Row(GROUP, f"file read {label}, page cache warm (the limit)", read, "MiB/s"),
            Row(GROUP, "plain read of the last MiB (the floor)", floor, "ms")]
    with video(data.env) as server:
        rate = curl_download(f"{server.url}/media/big.bin", "--http1.1")[0]
        rows.append(Row(GROUP, f"download {label}, HTTP/1.1", rate, "MiB/s", read, vs="file read"))
        with httpx.Client() as client:
            client.get(f"{server.url}/media/big.bin", headers={"Range": "bytes=0-0"})  # connect once
            middle = size // 2
            for where, header in [("first MiB", f"bytes=0-{MiB - 1}"),
                                  ("middle MiB", f"bytes={middle}-{middle + MiB - 1}"),
                                  ("last MiB", f"bytes=-{MiB}")]:
                latency = range_latency(client, f"{server.url}/media/big.bin", header, runs)
                rows.append(Row(GROUP, f"Range {where} of {label} (median, httpx)", latency, "ms", floor,
                                "< 10 ms" if where == "last MiB" else "", "plain read"))
    with video(data.env, tls=True) as server:
        h1 = curl_download(f"{server.url}/media/big.bin", "--http1.1")[0]
        h2 = curl_download(f"{server.url}/media/big.bin", "--http2")[0]
    rows.append(Row(GROUP, f"download {label} over TLS, HTTP/1.1", h1, "MiB/s", read, vs="file read"))
    rows.append(Row(GROUP, f"download {label} over TLS, HTTP/2", h2, "MiB/s", h1, vs="HTTP/1.1 TLS"))
    return rows


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv[1:]), targets=True))
