"""Exercises of 20_measuring."""

import asyncio
import inspect
import random

import httpx

from course.exercises import Exercise, checklist, expect


class P99(Exercise):
    """Write p99(latencies): the smallest latency that at least 99% of the requests did not exceed."""

    id = "20_p99"
    hints = [
        "Sort the latencies; the answer is one of them. Out of 100 sorted values, the 99th "
        "(index 98) is the p99: 99 of the 100 requests took that long or less.",
        "The rank is 99% of the count, rounded *up* (so at least 99% are covered): "
        "`math.ceil(0.99 * len(ordered))`.",
    ]
    wrong = [
        ("math.ceil(0.99 * len(ordered))", "len(ordered)"),  # the maximum
        ("math.ceil(0.99 * len(ordered))", "int(0.99 * len(ordered))"),  # rounds down
        ("math.ceil(0.99 * len(ordered))", "len(ordered) // 2 + 1"),  # the median
    ]

    def _check(self, p99):
        values = list(range(1, 101))
        random.Random(20).shuffle(values)
        cases = [
            (values, 99, "1..100 in random order"),
            (list(range(1, 1001)), 990, "1..1000"),
            ([1.0] * 198 + [50.0, 60.0], 1.0, "198 fast requests (1 ms) and 2 slow ones"),
            ([1.0] * 197 + [40.0, 50.0, 60.0], 40.0, "197 fast requests (1 ms) and 3 slow ones"),
            ([3, 1, 2], 3, "[3, 1, 2]"),
            ([7], 7, "a single request of 7 ms"),
        ]
        for latencies, expected, label in cases:
            got = p99(list(latencies))
            expect(got == expected, f"p99 of {label} gave {got!r}; expected {expected!r}. "
                                    "Try q1.hint().")


class _Clock:
    """A stop-watch the check controls: a request "takes" exactly as long as the fake client says."""

    def __init__(self) -> None:
        self.now = 100.0  # seconds, like time.perf_counter(): only differences mean something

    def __call__(self) -> float:
        return self.now


class _Client:
    """A stand-in for httpx.AsyncClient: request n takes n ms (the first 1 s); the first
    ``good`` requests answer 200, the others ``status``."""

    def __init__(self, clock: _Clock, status: int = 200, good: int = 0) -> None:
        self.clock, self.status, self.good = clock, status, good
        self.urls: list[str] = []
        self.in_flight = self.peak = 0

    async def get(self, url, **options):
        self.urls.append(url)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0)  # let requests started together overlap, as real ones would
        self.clock.now += 1.0 if len(self.urls) == 1 else len(self.urls) / 1000
        self.in_flight -= 1
        status = 200 if len(self.urls) <= self.good else self.status
        return httpx.Response(status, json={"ok": status == 200},
                              request=httpx.Request("GET", url))


class Measure(Exercise):
    """Write measure(client, url, count, warmup, clock): latencies in ms after a warm-up."""

    id = "20_measure"
    hints = [
        "Two loops. First `for _ in range(warmup): ...` sends requests you do not time. Then, for "
        "each of the `count` timed requests: `start = clock()`, `response = await client.get(url)`, "
        "and append `(clock() - start) * 1000` (clock() counts seconds; you want milliseconds).",
        "Call `response.raise_for_status()` on every response: it raises for a 4xx or 5xx, so a "
        "fast error page never passes for a fast answer. Send one request after another (no "
        "`asyncio.gather`): overlapping requests time the queue, not the request.",
    ]
    wrong = [
        ("range(warmup)", "range(0)"),  # no warm-up: the first, slow request is in the figures
        ("(clock() - start) * 1000", "clock() - start"),  # seconds, not milliseconds
        ("        response.raise_for_status()  # a fast error is not a fast answer\n", ""),
        ("    for _ in range(count):\n        start = clock()\n",
         "    start = clock()\n    for _ in range(count):\n"),  # time since the start, not per request
    ]

    async def _check(self, measure):
        expect(inspect.iscoroutinefunction(measure),
               "Write `async def measure(...)`: an `httpx.AsyncClient`'s `get()` must be awaited.")
        clock = _Clock()
        client = _Client(clock)
        url = "http://127.0.0.1:5000/"
        with checklist() as check:
            try:
                got = await measure(client, url, 5, warmup=1, clock=clock)
            except Exception as error:  # noqa: BLE001 - reported as feedback
                got = None
                check(False, f"measure(client, url, 5, warmup=1, clock=clock) raised {error!r}.")
            if got is not None:
                got = list(got) if isinstance(got, (list, tuple)) else got
                check(isinstance(got, list) and len(got) == 5,
                      f"measure(..., 5, ...) returned {got!r}: expected a list of 5 latencies.")
                check(len(client.urls) == 6 and set(client.urls) == {url},
                      f"The client got {len(client.urls)} requests; expected 6 GETs of the url: "
                      "1 warm-up and 5 timed ones.")
                if isinstance(got, list) and len(got) == 5 and all(isinstance(v, (int, float)) for v in got):
                    check(max(got) < 999,
                          "The first request (it took 1 s here) is among the latencies: send `warmup` "
                          "requests before you start timing.")
                    check(all(abs(a - b) < 1e-6 for a, b in zip(got, [2, 3, 4, 5, 6])) or max(got) >= 999,
                          f"The timed requests took 2, 3, 4, 5 and 6 ms; measure() gave {got!r}. "
                          "Time each request on its own, `clock()` just before and just after it, "
                          "and multiply the seconds by 1000.")
                check(client.peak <= 1, "Requests overlapped: send them one after another, or each "
                                        "latency includes the time it waited behind the others.")
            warm = _Client(_Clock())
            try:
                await measure(warm, url, 2, warmup=3, clock=warm.clock)
            except Exception:  # noqa: BLE001 - the first case reports errors
                pass
            check(len(warm.urls) == 5, f"With warmup=3 and count=2 the client got {len(warm.urls)} "
                                       "requests; expected 5.")
            failing = _Client(_Clock(), status=500, good=1)  # the warm-up works, then errors
            try:
                await measure(failing, url, 3, warmup=1, clock=failing.clock)
                raised = False
            except Exception:  # noqa: BLE001 - any error will do
                raised = True
            check(raised, "The timed requests answered 500, yet measure() returned latencies: call "
                          "`response.raise_for_status()`, so errors are never timed as answers.")


class ReuseClient(Exercise):
    """Make /upstream reuse one httpx.AsyncClient, opened when the app starts and closed when it stops."""

    id = "20_reuse_client"
    hints = [
        "Create the client once, in `before_serving`, and keep it where chapter 13 kept its client: "
        "`proxy.extensions[\"http\"] = httpx.AsyncClient()`. A client keeps a pool of open connections, "
        "so the next request skips the TCP (and TLS) handshake.",
        "In the view, use that client: `await proxy.extensions[\"http\"].get(...)`. A new "
        "`httpx.AsyncClient()` per request opens a new connection every time (and is never closed).",
    ]
    wrong = [
        ('await proxy.extensions["http"].get(', "await httpx.AsyncClient().get("),
        ("httpx.AsyncClient()", "httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))"),
        ('await proxy.extensions["http"].aclose()', "pass"),
    ]

    async def _check(self, proxy):
        from course import serve

        connections: list = []

        async def upstream(scope, receive, send):
            """A tiny server that notes which client connection (address, port) each request came on."""
            if scope["type"] == "lifespan":  # nothing to set up: say so, or the server waits for it
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            connections.append(tuple(scope["client"]))
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"upstream": true}'})

        with serve(upstream, name="20-upstream") as server:
            proxy.config["UPSTREAM_URL"] = server.url + "/"
            async with proxy.test_app() as app:
                client = app.test_client()
                for _ in range(5):
                    response = await client.get("/upstream")
                    expect(response.status_code == 200,
                           f"GET /upstream answered {response.status_code}, not 200.")
                    body = await response.get_json()
                    expect(body == {"upstream": True},
                           f"GET /upstream answered {body!r}; expected the upstream's JSON {{'upstream': True}}.")
                opened = len(set(connections))
                expect(opened == 1, f"5 requests to /upstream opened {opened} connections to the upstream "
                                    "server: every one paid a new handshake. Reuse one client (and its "
                                    "pool of open connections) for the app's whole life.")
                http_client = proxy.extensions.get("http")
            expect(http_client is not None and http_client.is_closed,
                   "After the app stopped, its client is still open: close it in `after_serving` "
                   "with `await proxy.extensions[\"http\"].aclose()`.")


q1 = P99()
q2 = Measure()
q3 = ReuseClient()
