"""Exercises of chapter 04, why async.

The checks look at order and overlap (how many requests or calls were under way at once,
which call was cancelled), never at elapsed time, so a busy machine cannot fail them.
"""

from course.exercises import Exercise, Incorrect, NotAttempted, checklist, peak_concurrency, quiet


class Offload(Exercise):
    """Build GET /report around a blocking call without blocking the event loop, and GET /ping."""

    id = "04_offload"
    hints = [
        "`legacy_report()` blocks. Called directly in an `async def` view it holds the event loop's "
        "only thread, and every other request waits. Run it in a worker thread and `await` the result.",
        "`from quart.utils import run_sync`, then `return {\"report\": await run_sync(legacy_report)()}` "
        "(or `await asyncio.to_thread(legacy_report)`).",
    ]
    wrong = [
        ("await run_sync(legacy_report)()", "legacy_report()"),
        ('@reports.get("/ping")', '@reports.get("/pong")'),
    ]

    async def _check(self, reports):
        if not any(rule.rule in ("/report", "/ping") for rule in reports.url_map.iter_rules()):
            raise NotAttempted("Write the two routes in the exercise cell, run it, then check again.")
        client = reports.test_client()
        with quiet(reports), checklist() as expect:
            response = await client.get("/ping")
            body = await response.get_json() if response.status_code == 200 else None
            expect(body == {"pong": True}, f"GET /ping answered {response.status_code} {body!r}; "
                                           'expected {"pong": true}.')
            response = await client.get("/report")
            body = await response.get_json() if response.status_code == 200 else None
            expect(body == {"report": "report"}, f"GET /report answered {response.status_code} {body!r}; "
                                                 'expected {"report": "report"}.')
            if body == {"report": "report"}:
                peak = await peak_concurrency(reports, "/report", 4)
                expect(peak > 1, "4 requests to /report sent at once ran one after another: "
                                 "legacy_report() still blocks the event loop.")


class Gather(Exercise):
    """GET /dashboard calls three 0.2 s services at once with asyncio.gather."""

    id = "04_gather"
    hints = [
        "Awaiting one call after the other waits 0.2 s three times. `asyncio.gather(...)` starts "
        "them all and waits for all of them, and returns the results in the order you passed them.",
        'results = await asyncio.gather(fetch("users"), fetch("orders"), fetch("stock"))',
    ]
    wrong = [
        ('await asyncio.gather(fetch("users"), fetch("orders"), fetch("stock"))',
         '[await fetch("users"), await fetch("orders"), await fetch("stock")]'),
        ('await asyncio.gather(fetch("users"), fetch("orders"), fetch("stock"))',
         'await asyncio.gather(fetch("stock"), fetch("orders"), fetch("users"))'),
    ]

    async def _check(self, dashboard):
        view = dashboard.view_functions.get("show_dashboard")
        namespace = getattr(view, "__globals__", {})
        original = namespace.get("fetch")
        if original is None:
            raise Incorrect("the cell needs its `fetch` function and the view `show_dashboard`: run the whole cell.")
        running = peak = 0

        async def counted(service):
            """``fetch`` as the view calls it, counting how many calls are under way at once."""
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                return await original(service)
            finally:
                running -= 1

        namespace["fetch"] = counted  # the view looks ``fetch`` up in the cell's globals
        try:
            with quiet(dashboard):
                response = await dashboard.test_client().get("/dashboard")
        finally:
            namespace["fetch"] = original
        body = await response.get_json() if response.status_code == 200 else None
        with checklist() as expect:
            expect(body == {"results": ["users: ok", "orders: ok", "stock: ok"]},
                   f"GET /dashboard answered {response.status_code} {body!r}; expected the three "
                   "results in the order users, orders, stock.")
            expect(peak == 3, f"only {peak} of the three fetch() calls ran at once: start all three "
                              "together.")


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
        ("await asyncio.wait_for(partner(delay), timeout=0.2)",
         "await asyncio.wait_for(partner(delay), timeout=0.02)"),
    ]

    async def _check(self, quotes):
        client = quotes.test_client()
        # Order, not time: the event loop fires timers in the order of their deadlines, so a
        # partner that answers after 0.05 s beats a 0.2 s timeout, and one that needs 0.3 s
        # loses to it, however busy the machine is.
        with quiet(quotes), checklist() as expect:
            for delay in (0, 0.05):
                response = await client.get(f"/quote?delay={delay}")
                body = await response.get_json() if response.status_code == 200 else None
                expect(body == {"price": 42.0}, f"a partner answering after {delay} s should come "
                                                f"through; /quote answered {response.status_code} {body!r}.")
            response = await client.get("/quote?delay=0.3")
            expect(response.status_code == 504, f"with a partner taking 0.3 s, /quote answered "
                                                f"{response.status_code}, not 504: give up after 0.2 s.")


q1 = Offload()
q2 = Gather()
q3 = Timeout()
