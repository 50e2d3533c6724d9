"""Exercises of A1_binder_and_jupyterhub."""

import re
from urllib.parse import urljoin

from course.exercises import Exercise, expect

HUB = "https://hub.example.org"


class ProxyUrl(Exercise):
    """Write browser_url(prefix, port, path): the proxied address of a kernel's server."""

    id = "A1_proxy_url"
    hints = [
        "The browser asks the Jupyter server, at the prefix, for `proxy/`, then the port, then the path.",
        'With prefix `/user/ada/`, port `5000` and path `/x`: `/user/ada/proxy/5000/x`. '
        'An f-string does it: `f"{prefix}proxy/{port}{path}"`.',
    ]
    wrong = [
        ('f"{prefix}proxy/{port}{path}"', 'f"{prefix}proxy/absolute/{port}{path}"'),
        ('f"{prefix}proxy/{port}{path}"', 'f"http://127.0.0.1:{port}{path}"'),
        ('f"{prefix}proxy/{port}{path}"', 'f"/proxy/{port}{path}"'),
    ]

    def _check(self, browser_url):
        cases = [("/user/ada/", 5000, "/static/chat.html", "/user/ada/proxy/5000/static/chat.html"),
                 ("/user/bo/", 8123, "/events", "/user/bo/proxy/8123/events"),
                 ("/", 43210, "/", "/proxy/43210/")]
        for prefix, port, path, expected in cases:
            got = browser_url(prefix, port, path)
            expect(isinstance(got, str), f"browser_url(...) returned {got!r}, not a string.")
            expect(not got.startswith("http://127.0.0.1"),
                   "127.0.0.1 in the learner's browser is the learner's own computer, not the kernel's.")
            expect("/absolute/" not in got,
                   "`proxy/absolute/` passes the whole path on, prefix included: the course's apps "
                   "expect `proxy/PORT/`, which strips it.")
            expect(got == expected, f"browser_url({prefix!r}, {port}, {path!r}) gave {got!r}; "
                                    f"expected {expected!r}.")


def _href(html: str, element_id: str) -> str | None:
    found = re.search(rf'<a\b[^>]*\bid="{element_id}"[^>]*\bhref="([^"]*)"', html) or re.search(
        rf'<a\b[^>]*\bhref="([^"]*)"[^>]*\bid="{element_id}"', html)
    return found.group(1) if found else None


class RelativeLinks(Exercise):
    """Link / to /static/chat.html and /rooms/<room> to /, both locally and under /user/ada/proxy/5000/."""

    id = "A1_relative_links"
    hints = [
        "A link that starts with `/` goes to the root of the *host*: on a hub that is the hub itself, "
        "outside `/user/ada/proxy/5000/`. A link without the leading `/` is resolved against the page's "
        "own address.",
        "From `/` the chat page is `static/chat.html`; from `/rooms/lobby` the home page is one level up: `../`.",
    ]
    wrong = [('"static/chat.html"', '"/static/chat.html"'), ('"static/chat.html"', '"rooms/lobby"'),
             ('"../"', '"/"'), ('"../"', '"../../"')]

    async def _check(self, pages):
        client = pages.test_client()
        links = [("/", "chat", "static/chat.html"), ("/rooms/lobby", "home", "")]
        for page, element_id, target in links:
            response = await client.get(page)
            expect(response.status_code == 200, f"GET {page} answered {response.status_code}, not 200.")
            href = _href(await response.get_data(as_text=True), element_id)
            expect(href is not None, f'GET {page} has no <a id="{element_id}" href="..."> link.')
            for base in (f"{HUB}/user/ada/proxy/5000", "http://127.0.0.1:5000"):
                got, wanted = urljoin(base + page, href), f"{base}/{target}"
                expect(got == wanted, f'On {base + page} the link href="{href}" opens {got}, '
                                      f"not {wanted}.")


q1 = ProxyUrl()
q2 = RelativeLinks()
