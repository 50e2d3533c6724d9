"""Exercises of chapter 15, authentication."""

from __future__ import annotations

import asyncio

from quart.testing.connections import WebsocketResponseError
from quart_auth import generate_auth_token

from course.exercises import Exercise, checklist, expect, peak_concurrency, quiet

PASSWORD = "correct horse battery staple"


class HashOffTheLoop(Exercise):
    """Hash the password in a worker thread, so the event loop keeps serving."""

    id = "15_hash_off_loop"
    hints = [
        "`asyncio.to_thread(function, *args)` runs `function(*args)` in a worker thread and lets you await "
        "the result. Which function does the hashing?",
        "`await asyncio.to_thread(hasher.hash, \"correct horse battery staple\")`: pass the function, "
        "do not call it.",
    ]
    wrong = [('await asyncio.to_thread(hasher.hash, "correct horse battery staple")',
              'hasher.hash("correct horse battery staple")')]

    async def _check(self, signup):
        with quiet(signup):
            response = await signup.test_client().get("/hash")
            body = await response.get_json(silent=True) or {}
            expect(response.status_code == 200 and str(body.get("hash", "")).startswith("$argon2id$"),
                   f'GET /hash answered {response.status_code} {body}, not {{"hash": "$argon2id$..."}}.')
            overlap = await peak_concurrency(signup, "/hash", 4)
        expect(overlap == 4, f"of 4 requests at once, at most {overlap} were in the app together: the hashing "
                             "still blocks the event loop, so each request waits for the one before.")


class ProtectedView(Exercise):
    """Build sign-in, sign-out and a view for signed-in users only."""

    id = "15_protected_view"
    hints = [
        "Sign-in: `if not await password_ok(username, password): return {...}, 401`, else "
        "`login_user(AuthUser(username))` and answer 200.",
        "Sign-out: `logout_user()`. The secret view: `@login_required` between `@vault.get(...)` and "
        "`async def`, and `current_user.auth_id` is the username you signed in with.",
    ]
    wrong = [("@login_required\n", ""),
             ("    logout_user()\n", ""),
             ("if not await password_ok(username, password):", "if False:")]

    async def _check(self, vault):
        client = vault.test_client()
        with quiet(vault):
            anonymous = await client.get("/secret")
            wrong_password = await client.post("/login", form={"username": "ada", "password": "guess"})
            after_wrong = await client.get("/secret")
            unknown = await client.post("/login", form={"username": "nobody", "password": PASSWORD})
            signed_in = await client.post("/login", form={"username": "ada", "password": PASSWORD})
            secret = await client.get("/secret")
            secret_body = await secret.get_json(silent=True)
            forged = await vault.test_client().get("/secret", headers={"Cookie": "QUART_AUTH=ada"})
            await client.post("/logout")
            after_logout = await client.get("/secret")
        with checklist() as expect_:
            expect_(anonymous.status_code == 401, f"GET /secret without signing in answered {anonymous.status_code}, not 401.")
            expect_(wrong_password.status_code == 401 and after_wrong.status_code == 401,
                    f"a wrong password answered {wrong_password.status_code} and then /secret "
                    f"{after_wrong.status_code}: both should be 401.")
            expect_(unknown.status_code == 401, f"an unknown username answered {unknown.status_code}, not 401.")
            expect_(signed_in.status_code < 400, f"signing in as ada answered {signed_in.status_code}.")
            expect_(secret.status_code == 200 and secret_body == {"user": "ada"},
                    f'after signing in, GET /secret answered {secret.status_code} {secret_body}, not {{"user": "ada"}}.')
            expect_(forged.status_code == 401, f"a made-up cookie (QUART_AUTH=ada) answered {forged.status_code}, not 401.")
            expect_(after_logout.status_code == 401, f"after POST /logout, GET /secret answered {after_logout.status_code}, not 401.")


class WebsocketGuard(Exercise):
    """Refuse a websocket before accepting it: 403 for another site's page, 401 without a sign-in."""

    id = "15_ws_guard"
    hints = [
        "Raising an HTTP error before `accept()` answers the handshake with that status: "
        "`abort(...)` from quart.",
        "`abort(403)` for the origin, `abort(401)` for the sign-in.",
    ]
    wrong = [("abort(401)", "await websocket.close(1008)"),
             ("abort(403)", "pass")]

    async def _check(self, room):
        async def attempt(signed_in: bool, origin: str | None):
            client = room.test_client()
            headers = {"Origin": origin} if origin else {}
            if signed_in:
                headers["Cookie"] = f"QUART_AUTH={generate_auth_token(client, 'ada')}"
            try:
                async with client.websocket("/ws", headers=headers) as socket:
                    return await asyncio.wait_for(socket.receive(), 2)
            except WebsocketResponseError as refused:
                return refused.response.status_code
            except Exception as error:  # closed without an HTTP answer, or a crash
                return type(error).__name__

        with quiet(room):
            outcomes = {
                "signed in, from https://room.example": await attempt(True, "https://room.example"),
                "signed in, no Origin (a script)": await attempt(True, None),
                "anonymous": await attempt(False, None),
                "anonymous, from https://room.example": await attempt(False, "https://room.example"),
                "signed in, from https://evil.example": await attempt(True, "https://evil.example"),
            }
        expected = {
            "signed in, from https://room.example": "hello ada",
            "signed in, no Origin (a script)": "hello ada",
            "anonymous": 401,
            "anonymous, from https://room.example": 401,
            "signed in, from https://evil.example": 403,
        }
        with checklist() as expect_:
            for case, outcome in outcomes.items():
                expect_(outcome == expected[case], f"{case}: got {outcome!r}, expected {expected[case]!r}.")


q1 = HashOffTheLoop()
q2 = ProtectedView()
q3 = WebsocketGuard()
