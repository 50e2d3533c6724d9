"""Exercises of chapter 10, HTTP/2."""

from course.exercises import Exercise, expect


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


q1 = H2Client()
q2 = ProtocolView()
