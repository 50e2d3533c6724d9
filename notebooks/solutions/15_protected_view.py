import hmac

from quart import Quart, request
from quart_auth import AuthUser, QuartAuth, current_user, login_required, login_user, logout_user

vault = Quart("vault")
vault.secret_key = "an exercise key: a real one comes from the environment (chapter 06)"
QuartAuth(vault, cookie_secure=False)  # the exercise's test client speaks plain HTTP
USERS = {"ada": "correct horse battery staple"}  # a real app keeps Argon2 hashes (Exercise 1)


async def password_ok(username, password):
    expected = USERS.get(username, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), password.encode())


@vault.post("/login")
async def login():
    """Sign in with the form fields username and password; 401 if they do not match."""
    form = await request.form
    username, password = form.get("username", ""), form.get("password", "")
    if not await password_ok(username, password):
        return {"error": "wrong username or password"}, 401
    login_user(AuthUser(username))
    return {"signed in as": username}


@vault.post("/logout")
async def logout():
    """Sign out."""
    logout_user()
    return {"signed out": True}


@vault.get("/secret")
@login_required
async def secret():
    """Answer {"user": <the signed-in username>}."""
    return {"user": current_user.auth_id}
