"""apps/why_async.py: the I/O-bound service in Quart and Flask, the blocking trap and its fix."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import bench
import bench.concurrency
from apps.why_async import app, flask_app
from course import serve
from cli_server import cli_server


@pytest.mark.parametrize("path", ["/io?delay=0", "/blocking?delay=0", "/offloaded?delay=0", "/io"])
async def test_every_wait_answers(path):
    response = await app.test_client().get(path)
    assert response.status_code == 200
    assert "waited" in await response.get_json()


@pytest.mark.parametrize("query, status, words", [
    ("delay=abc", 400, "number"),
    ("delay=", 400, "number"),
    ("delay=-1", 422, "between"),
    ("delay=99", 422, "between"),
    ("delay=nan", 422, "between"),
    ("delay=inf", 422, "between"),
])
@pytest.mark.parametrize("path", ["/io", "/blocking", "/offloaded"])
async def test_bad_delays_get_clear_json_errors(path, query, status, words):
    response = await app.test_client().get(f"{path}?{query}")
    assert response.status_code == status
    assert words in (await response.get_json())["error"]


@pytest.mark.parametrize("method, path, status", [("post", "/io", 405), ("get", "/nowhere", 404)])
async def test_routing_errors_are_json(method, path, status):
    response = await getattr(app.test_client(), method)(path)
    assert response.status_code == status
    assert "error" in await response.get_json()


def test_flask_twin_answers_and_validates():
    client = flask_app.test_client()
    assert client.get("/io?delay=0").get_json() == {"waited": 0.0}
    bad = client.get("/io?delay=nope")
    assert bad.status_code == 400 and "number" in bad.get_json()["error"]
    assert client.get("/io?delay=9").status_code == 422


async def test_blocking_call_freezes_the_loop_and_run_sync_frees_it():
    """Ordering, not timing: while /blocking sleeps, /ping cannot finish first; with run_sync it does."""
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for path, ping_first in (("/blocking?delay=0.5", False), ("/offloaded?delay=0.5", True)):
                finished = []

                async def call(p):
                    await client.get(p)
                    finished.append(p)

                slow = asyncio.create_task(call(path))
                await asyncio.sleep(0.1)
                await call("/ping")
                await slow
                assert (finished[0] == "/ping") == ping_first, (path, finished)


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
def test_runs_under_real_servers(kind):
    with cli_server(kind, "apps.why_async:app") as server:
        assert httpx.get(server.url + "/io?delay=0.01").json() == {"waited": 0.01}
        assert httpx.get(server.url + "/offloaded?delay=0.01").status_code == 200
        assert httpx.get(server.url + "/io?delay=x").status_code == 400
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output


async def test_bench_burst_counts_threads_and_requests():
    """A smoke run of the benchmark's load generator and its server processes (no timings asserted)."""
    with bench.concurrency.server_process("Flask") as (port, pid):
        figures = await bench.concurrency.burst(port, "/io?delay=0.2", 5, pid)
    assert figures["threads"] >= 5  # one thread per waiting request in threaded Flask
    with bench.concurrency.server_process("Quart") as (port, pid):
        figures = await bench.concurrency.burst(port, "/io?delay=0", 5, pid)
    assert set(figures) == {"wall", "threads", "memory"}
    rows = [bench.Row("concurrency", "x", 1.0, "ms")]
    assert "concurrency" in bench.table(rows)
