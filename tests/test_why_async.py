"""apps/why_async.py: the I/O-bound service in Quart and Flask, the blocking trap and its fix."""

from __future__ import annotations

import httpx
import pytest

import bench.concurrency
from apps.why_async import create_app, create_flask_app
from course.exercises import peak_concurrency


@pytest.fixture
def app():
    return create_app()


@pytest.mark.parametrize("path", ["/io?delay=0", "/blocking?delay=0", "/offloaded?delay=0", "/io"])
async def test_every_wait_answers(client, path):
    response = await client.get(path)
    assert response.status_code == 200
    assert "waited" in await response.get_json()


@pytest.mark.parametrize("path, overlapping", [
    ("/io?delay=0.05", 5),         # awaiting: all five requests are inside the app at once
    ("/offloaded?delay=0.05", 5),  # a worker thread each: the event loop stays free
    ("/blocking?delay=0.05", 1),   # time.sleep holds the event loop: one request at a time
])
async def test_only_the_blocking_view_serialises_requests(app, path, overlapping):
    """Order, not time: how many requests were inside the app at once."""
    assert await peak_concurrency(app, path, 5) == overlapping


BAD_DELAYS = [
    # (query, status, words in the error)
    ("delay=abc", 400, "number"),
    ("delay=", 400, "number"),
    ("delay=0x10", 400, "number"),
    ("delay=-1", 422, "between"),
    ("delay=99", 422, "between"),
    ("delay=nan", 422, "between"),
    ("delay=inf", 422, "between"),
    ("delay=1e400", 422, "between"),
    ("delay=" + "9" * 5000, 422, "between"),
]


@pytest.mark.parametrize("query, status, words", BAD_DELAYS)
@pytest.mark.parametrize("path", ["/io", "/blocking", "/offloaded"])
async def test_bad_delays_get_clear_json_errors(client, path, query, status, words):
    response = await client.get(f"{path}?{query}")
    assert response.status_code == status
    assert words in (await response.get_json())["error"]


@pytest.mark.parametrize("method, path, status", [("post", "/io", 405), ("get", "/nowhere", 404)])
async def test_routing_errors_are_json(client, method, path, status):
    response = await getattr(client, method)(path)
    assert response.status_code == status
    assert "error" in await response.get_json()


@pytest.mark.parametrize("query, status, words", [("delay=0", 200, None), *BAD_DELAYS])
def test_the_flask_twin_answers_the_same(query, status, words):
    response = create_flask_app().test_client().get(f"/io?{query}")
    assert response.status_code == status
    assert words is None or words in response.get_json()["error"]


def test_the_flask_twin_answers_json_for_routing_errors():
    client = create_flask_app().test_client()
    assert client.post("/io").status_code == 405
    assert "error" in client.get("/nowhere").get_json()


def test_runs_under_real_servers(run_app):
    server = run_app("apps.why_async:app")
    answers = {path: httpx.get(server.url + path, trust_env=False).status_code
               for path in ["/io?delay=0.01", "/offloaded?delay=0.01", "/io?delay=x", "/io?delay=1e400"]}
    assert answers == {"/io?delay=0.01": 200, "/offloaded?delay=0.01": 200, "/io?delay=x": 400,
                       "/io?delay=1e400": 422}


async def test_bench_burst_counts_threads():
    """The benchmark of chapter 04 serves this module's apps: threaded Flask holds a thread per waiting request."""
    with bench.concurrency.server_process("Flask") as (port, pid):
        figures = await bench.concurrency.burst(port, "/io?delay=0.2", 5, pid)
    assert figures["threads"] >= 5
    with bench.concurrency.server_process("Quart") as (port, pid):
        figures = await bench.concurrency.burst(port, "/io?delay=0", 5, pid)
    assert set(figures) == {"wall", "threads", "memory"}
