"""Exercises of 04_why_async."""

import asyncio
import time

from course.exercises import Exercise, expect


class Gather(Exercise):
    """GET /dashboard calls three 0.2 s services at once with asyncio.gather."""

    id = "04_gather"
    hints = [
        "Awaiting one call after the other waits 0.2 s three times. `asyncio.gather(...)` starts "
        "them all and waits for all of them.",
        'results = await asyncio.gather(fetch("users"), fetch("orders"), fetch("stock"))',
    ]
    wrong = [
        ('await asyncio.gather(fetch("users"), fetch("orders"), fetch("stock"))',
         '[await fetch("users"), await fetch("orders"), await fetch("stock")]'),
        ('await asyncio.gather(fetch("users"), fetch("orders"), fetch("stock"))',
         'await asyncio.gather(fetch("stock"), fetch("orders"), fetch("users"))'),
    ]

    async def _check(self, dashboard):
        client = dashboard.test_client()
        start = time.perf_counter()
        response = await client.get("/dashboard")
        elapsed = time.perf_counter() - start
        expect(response.status_code == 200, f"GET /dashboard answered {response.status_code}.")
        body = await response.get_json()
        expect(body == {"results": ["users: ok", "orders: ok", "stock: ok"]},
               f"GET /dashboard answered {body!r}; expected the three results in the order "
               "users, orders, stock.")
        expect(elapsed < 0.45, f"GET /dashboard took {elapsed:.2f} s: the three calls ran one "
                               "after another instead of together.")


class Timeout(Exercise):
    """GET /quote waits at most 0.2 s for the partner, else answers 504."""

    id = "04_timeout"
    hints = [
        "`asyncio.wait_for(awaitable, timeout)` raises `TimeoutError` when time is up, and "
        "cancels the slow call.",
        "price = await asyncio.wait_for(partner(delay), timeout=0.2)",
    ]
    wrong = [
        ("await asyncio.wait_for(partner(delay), timeout=0.2)", "await partner(delay)"),
        ("await asyncio.wait_for(partner(delay), timeout=0.2)",
         "await asyncio.wait_for(partner(delay), timeout=2)"),
    ]

    async def _check(self, quotes):
        client = quotes.test_client()
        response = await client.get("/quote?delay=0")
        expect(response.status_code == 200, f"GET /quote with a fast partner answered {response.status_code}.")
        expect(await response.get_json() == {"price": 42.0}, "a fast partner's price should come through.")
        start = time.perf_counter()
        try:
            response = await asyncio.wait_for(client.get("/quote?delay=1.5"), timeout=1.2)
        except TimeoutError:
            expect(False, "with a partner taking 1.5 s, /quote was still waiting after 1.2 s: "
                          "give up after 0.2 s.")
        elapsed = time.perf_counter() - start
        expect(response.status_code == 504, f"with a slow partner /quote answered {response.status_code}, not 504.")
        expect(elapsed < 0.6, f"with a slow partner /quote took {elapsed:.2f} s to give up; expected about 0.2 s.")


q1 = Gather()
q2 = Timeout()
