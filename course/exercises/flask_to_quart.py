"""Exercises of 01_flask_to_quart."""

import asyncio
import time

from course.exercises import Exercise, expect, quiet


class Port(Exercise):
    """Port POST /greet (JSON or form field "name") from Flask to Quart."""

    id = "01_port"
    hints = [
        "Reading the body waits for the network, so both lines need `await`.",
        'Mind the parentheses: `(await request.get_json())["name"]` and `(await request.form)["name"]`.',
    ]
    wrong = [
        ('(await request.get_json())["name"]', 'request.get_json()["name"]'),
        ('(await request.form)["name"]', 'request.args.get("name")'),
    ]

    async def _check(self, greeter):
        client = greeter.test_client()
        with quiet(greeter):
            response = await client.post("/greet", json={"name": "Ada"})
            expect(response.status_code == 200,
                   f"POST /greet with JSON answered {response.status_code}. A forgotten `await` "
                   "gives a coroutine where you expected the data.")
            body = await response.get_json()
            expect(body == {"greeting": "Hello, Ada!"}, f"POST /greet with JSON answered {body!r}.")
            response = await client.post("/greet", form={"name": "Grace"})
            expect(response.status_code == 200,
                   f"POST /greet with a form answered {response.status_code}: is `request.form` awaited?")
            body = await response.get_json()
            expect(body == {"greeting": "Hello, Grace!"}, f"POST /greet with a form answered {body!r}.")


class Offload(Exercise):
    """Make /rates call the blocking fetch_rates() without freezing other requests."""

    id = "01_offload"
    hints = [
        "A blocking call must run in a worker thread while the event loop carries on.",
        "`return await run_sync(fetch_rates)()` (or `await asyncio.to_thread(fetch_rates)`).",
    ]
    wrong = [("await run_sync(fetch_rates)()", "fetch_rates()")]

    async def _check(self, exchange):
        client = exchange.test_client()
        start = time.perf_counter()
        with quiet(exchange):
            responses = await asyncio.gather(*(client.get("/rates") for _ in range(5)))
        elapsed = time.perf_counter() - start
        statuses = [r.status_code for r in responses]
        expect(statuses == [200] * 5, f"/rates answered {statuses}.")
        body = await responses[0].get_json()
        expect(body == {"EUR": 1.0, "USD": 1.08}, f"/rates answered {body!r}, not the rates.")
        expect(elapsed < 1.0, f"5 requests at once took {elapsed:.2f} s: fetch_rates() still blocks "
                              "the event loop, so they ran one after another.")


q1 = Port()
q2 = Offload()
