"""Exercises of chapter 10, HTTP/2.

The checks serve a small probe app over HTTPS with the kit and look at what it saw: the
protocol of each request, the connection it came on, and how many were inside at once
(order, never time).
"""

import asyncio
import inspect

from course.exercises import Exercise, NotAttempted, checklist, expect


def _protocol_probe():
    from quart import Quart, request

    app = Quart("http2-probe")

    @app.get("/")
    async def index():
        return {"http_version": request.http_version}

    return app


class H2Client(Exercise):
    """Write make_client(): an httpx.Client that speaks HTTP/2 to the course's HTTPS server."""

    id = "10_h2_client"
    hints = [
        "httpx speaks HTTP/1.1 unless you ask for HTTP/2 with `http2=True`.",
        "Over HTTPS, the client must trust the course's CA: `verify=tls_context()`.",
    ]
    wrong = [("http2=True", "http2=False")]

    def _check(self, make_client):
        import httpx

        from course import serve

        with serve(_protocol_probe(), tls=True, name="10-check") as server:
            client = make_client()
            expect(isinstance(client, httpx.Client), "make_client() should return an `httpx.Client`.")
            with client:
                try:
                    response = client.get(server.url + "/")
                except httpx.ConnectError as error:
                    expect(False, f"The TLS handshake failed ({error}): does the client trust the course CA?")
            expect(response.http_version == "HTTP/2",
                   f"The request went over {response.http_version}; ALPN should pick HTTP/2.")


class ProtocolView(Exercise):
    """Make GET /version answer {"http_version": ...} with the protocol the request came over."""

    id = "10_protocol_view"
    hints = [
        "Quart's `request` has an attribute with the protocol version as a string: `1.1` or `2`.",
        'Return `{"http_version": request.http_version}`.',
    ]
    wrong = [('{"http_version": request.http_version}', '{"http_version": "2"}'),
             ('{"http_version": request.http_version}', '{"http_version": request.scheme}')]

    def _check(self, proto):
        import httpx

        from course import serve, tls_context

        with serve(proto, tls=True, name="10-check") as server:
            seen = {}
            for http2 in (False, True):
                with httpx.Client(http2=http2, verify=tls_context()) as client:
                    response = client.get(server.url + "/version")
                expect(response.status_code == 200, f"GET /version answered {response.status_code}.")
                seen[response.http_version] = response.json().get("http_version")
        expect(seen.get("HTTP/1.1") == "1.1", f"Over HTTP/1.1 the view said {seen.get('HTTP/1.1')!r}, not '1.1'.")
        expect(seen.get("HTTP/2") == "2", f"Over HTTP/2 the view said {seen.get('HTTP/2')!r}, not '2'.")


def _multiplex_probe():
    """GET /item/<n> -> {"n": n}; records each request's protocol and connection, and the overlap.

    The first request waits (up to 2 s) for a second one to arrive: requests sent together
    overlap for sure, while one-at-a-time requests are seen as such after one wait.
    """
    from quart import Quart, request

    app = Quart("multiplex-probe")
    seen = app.extensions["seen"] = {"requests": [], "inside": 0, "peak": 0, "alone": False}

    @app.before_serving
    async def make_event():
        app.extensions["company"] = asyncio.Event()  # on the server's loop

    @app.get("/item/<int:n>")
    async def item(n):
        seen["requests"].append((request.http_version, request.scope["client"][1]))
        seen["inside"] += 1
        seen["peak"] = max(seen["peak"], seen["inside"])
        company = app.extensions["company"]
        if seen["inside"] > 1:
            company.set()
        try:
            if not seen["alone"]:
                await asyncio.wait_for(company.wait(), 2)
        except TimeoutError:
            seen["alone"] = True  # nobody came: the client sends one request at a time
        finally:
            seen["inside"] -= 1
        return {"n": n}

    return app


class FetchAll(Exercise):
    """Build fetch_all(urls): GET them all at once over one HTTP/2 connection, JSON bodies in order."""

    id = "10_fetch_all"
    hints = [
        "One `httpx.AsyncClient(http2=True, verify=tls_context())` for all of them, in an `async with` "
        "block: a client keeps its connection, so every request can share it. A client per URL would "
        "open a connection per URL.",
        "Start every request before waiting for any: "
        "`responses = await asyncio.gather(*(client.get(url) for url in urls))`, then "
        "`return [response.json() for response in responses]`.",
    ]
    wrong = [
        ("http2=True", "http2=False"),
        ("responses = await asyncio.gather(*(client.get(url) for url in urls))",
         "responses = [await client.get(url) for url in urls]"),
        ("    async with httpx.AsyncClient(http2=True, verify=tls_context()) as client:\n"
         "        responses = await asyncio.gather(*(client.get(url) for url in urls))\n",
         "    async def one(url):\n"
         "        async with httpx.AsyncClient(http2=True, verify=tls_context()) as client:\n"
         "            return await client.get(url)\n\n"
         "    responses = await asyncio.gather(*(one(url) for url in urls))\n"),
    ]

    async def _check(self, fetch_all):
        from course import serve

        if not inspect.iscoroutinefunction(fetch_all):
            raise NotAttempted("Write fetch_all as an `async def` in the exercise cell, run it, then check again.")
        probe = _multiplex_probe()
        seen = probe.extensions["seen"]
        with serve(probe, tls=True, name="10-check") as server:
            urls = [f"{server.url}/item/{n}" for n in range(6)]
            answer = await fetch_all(urls)
        protocols = sorted({version for version, _ in seen["requests"]})
        connections = len({port for _, port in seen["requests"]})
        with checklist() as expect:
            expect(answer == [{"n": n} for n in range(6)],
                   f"fetch_all returned {answer!r}, not the six JSON bodies in the order of the URLs.")
            expect(protocols == ["2"], f"the server saw HTTP versions {protocols}, not only '2'.")
            expect(connections == 1, f"the requests came over {connections} TCP connections, not one.")
            expect(seen["peak"] > 1, "the requests came one after another: start them all before "
                                     "waiting for any (asyncio.gather).")


q1 = H2Client()
q2 = ProtocolView()
q3 = FetchAll()
