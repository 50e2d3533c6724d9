"""apps/accounts: sign-up, sign-in, cookies, CSRF, rate limits, protected websockets and streams.

The test client speaks HTTPS (``scheme="https"``), as a browser would to a deployed app:
the cookies are ``Secure``. Every test that takes ``client`` or ``app`` runs on SQLite and
on a real PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import websockets
from quart import Quart
from quart.testing.connections import WebsocketResponseError
from quart_auth import generate_auth_token
from sqlalchemy import select

from apps.accounts import Passwords, User, create_app, db
from course.exercises import peak_concurrency

PASSWORD = "correct horse battery staple"
SECRET = "s" * 64
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends for a page


@pytest.fixture
def app(database_url):
    return create_app({"DATABASE_URL": database_url, "DATABASE_CREATE_ALL": True, "SECRET_KEY": SECRET,
                       "PASSWORD_HASH_PROFILE": "CHEAPEST", "SESSION_CHECK_INTERVAL": 0.05})



async def _token(client, path: str = "/login") -> str:
    page = await (await client.get(path, scheme="https")).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def _post(client, path: str, form: dict, *, token: bool = True, **options):
    if token:
        form = {**form, "csrf_token": await _token(client)}
    return await client.post(path, form=form, scheme="https", **options)


async def _sign_up(client, username: str = "ada", password: str = PASSWORD):
    return await _post(client, "/signup", {"username": username, "password": password})


async def _sign_in(client, username: str = "ada", password: str = PASSWORD, **options):
    return await _post(client, "/login", {"username": username, "password": password}, **options)


async def _me(client, **options):
    return await client.get("/me", scheme="https", **options)


def _cookie(response, name: str) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "="))


# --- sign-up, sign-in, sign-out ----------------------------------------------------------------


async def test_signing_up_signs_you_in(client):
    response = await _sign_up(client, "Ada")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    me = await _me(client)
    assert me.status_code == 200 and (await me.get_json())["username"] == "ada"  # stored lower-case
    home = await (await client.get("/", scheme="https")).get_data(as_text=True)
    assert "Hello, ada" in home


async def test_a_username_is_taken_once_whatever_its_case(client, started):
    await _sign_up(client, "ada")
    again = await _sign_up(started.test_client(), "ADA")
    assert again.status_code == 409
    assert "the username &#39;ada&#39; is taken" in await again.get_data(as_text=True)


@pytest.mark.parametrize(("username", "password", "words"), [
    ("ab", PASSWORD, "3 to 32"),
    ("a" * 33, PASSWORD, "3 to 32"),
    ("ada lovelace", PASSWORD, "3 to 32"),
    ("ädä", PASSWORD, "3 to 32"),
    ("ada\x00", PASSWORD, "3 to 32"),
    ("<script>", PASSWORD, "3 to 32"),
    ("ada", "short", "10 to 256"),
    ("ada", "x" * 257, "10 to 256"),
])
async def test_sign_up_checks_the_username_and_password(client, username, password, words):
    response = await _sign_up(client, username, password)
    assert response.status_code == 422 and words in await response.get_data(as_text=True)
    assert (await _me(client)).status_code == 401


async def test_passwords_are_stored_as_argon2id_hashes(client, app):
    await _sign_up(client)
    async with db.new_session(app) as session:
        user = await session.scalar(select(User).where(User.username == "ada"))
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


@pytest.mark.parametrize(("username", "password"), [("ada", "wrong password!"), ("nobody", PASSWORD)])
async def test_a_failed_sign_in_does_not_say_which_part_was_wrong(client, started, username, password):
    await _sign_up(started.test_client())
    response = await _sign_in(client, username, password)
    assert response.status_code == 401
    assert "wrong username or password" in await response.get_data(as_text=True)
    assert (await _me(client)).status_code == 401


@pytest.mark.parametrize(("next_page", "location"), [
    ("/me", "/me"),
    ("/chat?room=x", "/chat?room=x"),
    ("//evil.example/", "/"),
    ("https://evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("", "/"),
])
async def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(client, started, next_page, location):
    await _sign_up(started.test_client())
    response = await _post(client, "/login", {"username": "ada", "password": PASSWORD, "next": next_page})
    assert response.status_code == 303 and response.headers["Location"] == location


async def test_a_signed_out_browser_is_sent_to_the_sign_in_page(client):
    page = await client.get("/chat", scheme="https", headers=HTML)
    assert page.status_code == 303 and page.headers["Location"] == "/login?next=/chat"
    api = await _me(client)  # a script gets JSON instead
    assert api.status_code == 401 and await api.get_json() == {"error": "sign in first"}


async def test_signing_out_ends_every_copy_of_the_sign_in_cookie(client, started):
    signed_up = await _sign_up(client)
    stolen = _cookie(signed_up, "QUART_AUTH").split(";")[0]
    thief = started.test_client()
    assert (await _me(thief, headers={"Cookie": stolen})).status_code == 200
    token = await _token(client, "/")
    assert (await client.post("/logout", form={"csrf_token": token}, scheme="https")).status_code == 303
    assert (await _me(client)).status_code == 401
    assert (await _me(thief, headers={"Cookie": stolen})).status_code == 401  # the copy is dead too


async def test_cookies_are_secure_httponly_and_samesite(client):
    response = await _sign_up(client)
    for name in ("QUART_AUTH", "session"):
        cookie = _cookie(response, name)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


# --- forged and missing cookies ----------------------------------------------------------------------


async def _user_id(app, username: str = "ada") -> int:
    async with db.new_session(app) as session:
        return await session.scalar(select(User.id).where(User.username == username))


@pytest.mark.parametrize("forge", ["none", "garbage", "other key", "unsigned", "unknown user", "old version",
                                   "not an id", "huge id"])
async def test_forged_or_missing_sign_in_cookies_are_nobody(client, started, app, forge):
    await _sign_up(started.test_client())
    user_id = await _user_id(app)
    other = Quart("other")
    other.config["SECRET_KEY"] = "another secret key, not this app's"
    from quart_auth import QuartAuth
    QuartAuth(other)
    cookies = {
        "none": None,
        "garbage": "QUART_AUTH=not-a-token",
        "other key": f"QUART_AUTH={generate_auth_token(other.test_client(), f'{user_id}:0')}",
        "unsigned": "QUART_AUTH=" + generate_auth_token(client, f"{user_id}:0").rsplit(".", 1)[0],
        "unknown user": f"QUART_AUTH={generate_auth_token(client, '999:0')}",
        "old version": f"QUART_AUTH={generate_auth_token(client, f'{user_id}:1')}",
        "not an id": f"QUART_AUTH={generate_auth_token(client, 'ada')}",
        "huge id": f"QUART_AUTH={generate_auth_token(client, '9' * 40 + ':0')}",
    }
    headers = {"Cookie": cookies[forge]} if cookies[forge] else {}
    response = await _me(client, headers=headers)
    assert response.status_code == 401 and await response.get_json() == {"error": "sign in first"}
    genuine = f"QUART_AUTH={generate_auth_token(client, f'{user_id}:0')}"
    assert (await _me(started.test_client(), headers={"Cookie": genuine})).status_code == 200  # the control


# --- CSRF --------------------------------------------------------------------------------------------


async def test_form_posts_without_the_right_csrf_token_are_refused(client, started):
    await _sign_up(client)
    other_token = await _token(started.test_client())  # a real token, of another browser
    attempts = {
        "no token": {},
        "empty token": {"csrf_token": ""},
        "wrong token": {"csrf_token": "x" * 43},
        "another browser's token": {"csrf_token": other_token},
    }
    for name, form in attempts.items():
        response = await client.post("/logout", form=form, scheme="https")
        assert response.status_code == 400, name
        assert "CSRF token" in (await response.get_json())["error"], name
    json_post = await client.post("/logout", json={}, scheme="https")
    assert json_post.status_code == 400
    assert (await _me(client)).status_code == 200  # still signed in: none of them got through


async def test_a_csrf_error_is_a_page_for_a_browser(client):
    response = await client.post("/login", form={"username": "ada", "password": PASSWORD}, scheme="https", headers=HTML)
    assert response.status_code == 400 and "reload the page" in await response.get_data(as_text=True)


async def test_the_csrf_token_changes_when_you_sign_in(client):
    before = await _token(client)
    await _sign_up(client)
    assert await _token(client, "/") != before


# --- rate limits ----------------------------------------------------------------------------------------


async def test_sign_in_attempts_are_rate_limited_per_client(client, started):
    await _sign_up(started.test_client())
    for attempt in range(5):
        response = await _sign_in(client, password="guess number %d" % attempt)
        assert response.status_code == 401
    limited = await _sign_in(client)  # the right password, but too late
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "error" in await limited.get_json()
    # A made-up X-Forwarded-For does not make a new client...
    spoofed = await _sign_in(client, headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429
    # ...but another address does, and reading the form is never limited.
    elsewhere = await _sign_in(started.test_client(), scope_base={"client": ("198.51.100.7", 5000)})
    assert elsewhere.status_code == 303
    assert (await client.get("/login", scheme="https")).status_code == 200


# --- websockets and event streams, checked at the handshake -------------------------------------------------


async def _refused(client, path: str, **options) -> tuple[int, dict]:
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket(path, scheme="wss", **options) as socket:
            await socket.receive()
    return refused.value.response.status_code, await refused.value.response.get_json()


async def test_a_signed_in_user_chats_under_their_own_name(client):
    await _sign_up(client)
    async with client.websocket("/chat/lobby?name=ada", scheme="wss", headers={"Origin": "https://localhost"}) as chat:
        assert json.loads(await chat.receive()) == {"type": "join", "room": "lobby", "name": "ada"}
        await chat.send(json.dumps({"text": "hello"}))
        assert json.loads(await chat.receive())["text"] == "hello"


@pytest.mark.parametrize(("path", "headers", "status", "words"), [
    ("/chat/lobby?name=ada", {}, 401, "sign in"),
    ("/ws", {}, 401, "sign in"),
    ("/chat/lobby?name=ada", {"Cookie": "QUART_AUTH=forged"}, 401, "sign in"),
])
async def test_websockets_are_refused_before_accept_without_a_sign_in(client, path, headers, status, words):
    code, body = await _refused(client, path, headers=headers)
    assert code == status and words in body["error"]


@pytest.mark.parametrize(("path", "origin", "words"), [
    ("/chat/lobby?name=ada", "https://evil.example", "may not connect"),
    ("/chat/lobby?name=ada", "null", "may not connect"),
    ("/chat/lobby?name=grace", "https://localhost", "your own name"),
    ("/chat/lobby", "https://localhost", "your own name"),
])
async def test_websockets_from_other_sites_or_under_other_names_are_forbidden(client, path, origin, words):
    await _sign_up(client)
    code, body = await _refused(client, path, headers={"Origin": origin})
    assert code == 403 and words in body["error"]


async def test_allowed_origins_may_open_websockets(database_url):
    app = create_app({"DATABASE_URL": database_url, "DATABASE_CREATE_ALL": True, "SECRET_KEY": SECRET,
                      "PASSWORD_HASH_PROFILE": "CHEAPEST", "ALLOWED_ORIGINS": ["https://partner.example"]})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await _sign_up(client)
        async with client.websocket("/ws", scheme="wss", headers={"Origin": "https://partner.example"}) as echo:
            await echo.send("hi")
            assert await echo.receive() == "You said: hi"


async def _open_stream(client, **headers):
    connection = client.request("/events", scheme="https", headers=headers)
    await connection.__aenter__()
    await connection.send_complete()
    return connection


async def test_an_event_stream_needs_a_sign_in_and_an_allowed_origin(client):
    anonymous = await client.get("/events", scheme="https")
    assert anonymous.status_code == 401 and (await anonymous.get_json())["error"] == "sign in first"
    await _sign_up(client)
    cross_site = await client.get("/events", scheme="https", headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403


async def test_an_event_stream_ends_when_its_session_does(client, started):
    await _sign_up(client)
    stream = await _open_stream(client)
    first = (await asyncio.wait_for(stream.receive(), 5)).decode()
    assert stream.status_code == 200 and "event: hello" in first and '"username": "ada"' in first
    token = await _token(client, "/")
    await client.post("/logout", form={"csrf_token": token}, scheme="https")  # elsewhere, the same user
    received = ""
    while "event: signed-out" not in received:
        received += (await asyncio.wait_for(stream.receive(), 5)).decode()
    await stream.__aexit__(None, None, None)  # the stream ended by itself: this returns


# --- passwords off the event loop ---------------------------------------------------------------------------


async def test_hashing_leaves_the_event_loop_free():
    passwords = Passwords()  # the real, slow parameters
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    before = ticks
    stored = await passwords.hash(PASSWORD)
    during = ticks - before
    ticker.cancel()
    assert during > 1, "the event loop did not run while the password was hashed"
    assert await passwords.verify(stored, PASSWORD) and not await passwords.verify(stored, "wrong")
    assert not await passwords.verify(None, PASSWORD) and not await passwords.verify("not a hash", PASSWORD)


async def test_concurrent_hashes_overlap_only_off_the_loop():
    from argon2 import PasswordHasher, profiles

    passwords = Passwords(profiles.CHEAPEST)
    blocking = PasswordHasher.from_parameters(profiles.CHEAPEST)
    demo = Quart("hashing")

    @demo.get("/off")
    async def off_the_loop():
        return await passwords.hash(PASSWORD)

    @demo.get("/on")
    async def on_the_loop():
        return blocking.hash(PASSWORD)

    assert await peak_concurrency(demo, "/off", 4) == 4
    assert await peak_concurrency(demo, "/on", 4) == 1


async def test_a_password_hashed_with_old_parameters_is_upgraded_at_sign_in(database_url):
    from argon2 import profiles

    config = {"DATABASE_URL": database_url, "DATABASE_CREATE_ALL": True, "SECRET_KEY": SECRET}
    async with create_app({**config, "PASSWORD_HASH_PROFILE": "CHEAPEST"}).test_app() as old:
        await _sign_up(old.test_client())
    stronger = create_app({**config, "PASSWORD_HASH_PROFILE": "PRE_21_2"})
    async with stronger.test_app() as new:
        assert (await _sign_in(new.test_client())).status_code == 303
        async with db.new_session(stronger) as session:
            stored = await session.scalar(select(User.password_hash).where(User.username == "ada"))
    assert f"m={profiles.PRE_21_2.memory_cost}," in stored


# --- hostile input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "options", "status"), [
    ("POST", "/login", {"data": b"username=\xff\xfe&password=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 400),
    ("POST", "/login", {"data": b"--x\r\n", "headers": {"Content-Type": "multipart/form-data"}}, 400),
    ("POST", "/login", {"data": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}, 400),
    ("POST", "/login", {"data": b"{", "headers": {"Content-Type": "application/json"}}, 400),
    ("POST", "/login", {"data": b"a=" + b"x" * 70_000, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 413),
    ("POST", "/me", {}, 405),
    ("POST", "/nowhere", {}, 404),
    ("GET", "/login?next=" + "%00" * 50, {}, 200),
])
async def test_hostile_requests_get_a_clear_4xx(client, method, path, options, status):
    response = await client.open(path, method=method, scheme="https", **options)
    assert response.status_code == status
    if status != 200:
        assert "error" in await response.get_json()


async def test_a_huge_username_or_password_is_refused_cheaply(client):
    response = await _sign_in(client, "a" * 10_000, "p" * 50_000)
    assert response.status_code == 401


# --- settings and real servers --------------------------------------------------------------------------------


async def test_production_refuses_to_start_without_a_secret_key(database_url, monkeypatch):
    app = create_app({"DATABASE_URL": database_url})
    monkeypatch.setattr(app.logger, "disabled", True)
    with pytest.raises(Exception, match="refusing to start in production mode"):
        async with app.test_app():
            pass


async def test_development_gets_a_random_secret_key(database_url):
    app = create_app({"DATABASE_URL": database_url, "DATABASE_CREATE_ALL": True, "DEBUG": True,
                      "PASSWORD_HASH_PROFILE": "CHEAPEST"})
    async with app.test_app() as test_app:
        assert len(app.config["SECRET_KEY"]) == 64
        client = test_app.test_client()
        await _sign_up(client)
        assert (await _me(client)).status_code == 200


def test_runs_under_real_servers_with_protected_websockets(run_app, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'accounts.sqlite'}", "QUART_DATABASE_CREATE_ALL": "true",
           "QUART_SECRET_KEY": SECRET, "QUART_PASSWORD_HASH_PROFILE": "CHEAPEST",
           # plain HTTP here, so the cookies may not be Secure (httpx would not send them back)
           "QUART_SESSION_COOKIE_SECURE": "false", "QUART_QUART_AUTH_COOKIE_SECURE": "false"}
    server = run_app("apps.accounts:app", env=env, ready="/login")
    with httpx.Client(base_url=server.url, trust_env=False) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/signup").text).group(1)
        signed_up = browser.post("/signup", data={"username": "ada", "password": PASSWORD, "csrf_token": token})
        assert signed_up.status_code == 303
        assert browser.get("/me").json()["username"] == "ada"
        cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())

    async def chat() -> tuple[dict, int]:
        url = server.ws_url + "/chat/lobby?name=ada"
        async with websockets.connect(url, additional_headers={"Cookie": cookies}, proxy=None) as socket:
            joined = json.loads(await socket.recv())
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, proxy=None):
                pass
        return joined, refused.value.response.status_code

    joined, refused_status = asyncio.run(chat())
    assert joined == {"type": "join", "room": "lobby", "name": "ada"}
    assert refused_status == 401


@pytest.mark.browser
# quart-auth warns that Secure cookies set over plain HTTP are ignored; on 127.0.0.1 they are not.
@pytest.mark.filterwarnings("ignore:Secure cookies will be ignored on insecure requests")
def test_a_browser_signs_up_and_chats_behind_the_sign_in(browser, tmp_path):
    """Chromium over plain HTTP on 127.0.0.1: it keeps the Secure cookies (loopback counts as secure)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from course import serve

    browser.delete_all_cookies()
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'accounts.sqlite'}", "DATABASE_CREATE_ALL": True,
                      "SECRET_KEY": SECRET, "PASSWORD_HASH_PROFILE": "CHEAPEST"})
    wait = WebDriverWait(browser, 10)
    with serve(app, name="accounts in chromium") as server:
        browser.get(server.url + "/chat")  # signed out: sent to the sign-in page first
        wait.until(lambda b: "/login?next=" in b.current_url)
        browser.get(server.url + "/signup")
        browser.find_element(By.ID, "username").send_keys("ada")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda b: b.find_element(By.TAG_NAME, "h1").text == "Hello, ada")
        assert {c["name"]: c["secure"] for c in browser.get_cookies()} == {"QUART_AUTH": True, "session": True}
        browser.get(server.url + "/chat")
        wait.until(lambda b: b.find_element(By.ID, "status").text == "connected")
        assert browser.find_element(By.ID, "name").text == "ada"
        browser.find_element(By.ID, "message").send_keys("hello from a signed-in browser")
        browser.find_element(By.ID, "send").click()
        wait.until(lambda b: "ada: hello from a signed-in browser" in b.find_element(By.ID, "messages").text)
        browser.delete_all_cookies()
