"""Exercises of 15_performance."""

import random

from course.exercises import Exercise, expect


class P99(Exercise):
    """Write p99(latencies): the smallest latency that at least 99% of the requests did not exceed."""

    id = "15_p99"
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
        random.Random(15).shuffle(values)
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


class ReuseClient(Exercise):
    """Make /upstream reuse one httpx.AsyncClient, opened when the app starts and closed when it stops."""

    id = "15_reuse_client"
    hints = [
        "Create the client once, in `before_serving`, and keep it where chapter 11 kept its client: "
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

        with serve(upstream, name="15-upstream") as server:
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
q2 = ReuseClient()
