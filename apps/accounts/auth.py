"""Sign-up, sign-in and sign-out pages, and who the current user is.

quart-auth keeps the sign-in in a signed cookie (``QUART_AUTH``) holding an id; the
``CurrentUser`` below checks that id against the database, so a deleted user, or a cookie
from before a sign-out, is nobody.
"""

from __future__ import annotations

import re
from datetime import timedelta

from quart import Blueprint, current_app, redirect, render_template, request, url_for
from quart_auth import Action, AuthUser, current_user, login_required, login_user, logout_user
from quart_rate_limiter import rate_limit
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .models import USERNAME_LENGTH, User, db
from .security import rotate_csrf_token

bp = Blueprint("auth", __name__, template_folder="templates")

USERNAME = re.compile(rf"[a-z0-9_.-]{{3,{USERNAME_LENGTH}}}", re.ASCII)
PASSWORD_LENGTH = (10, 256)  # long enough to be hard to guess; bounded so hashing stays cheap


class CurrentUser(AuthUser):
    """quart-auth's user, looked up in the database once per request (``await current_user.user()``)."""

    def __init__(self, auth_id: str | None, action: Action = Action.PASS) -> None:
        super().__init__(auth_id, action)
        self._user: User | None = None
        self._loaded = False

    async def user(self) -> User | None:
        if not self._loaded:
            self._user, self._loaded = await _load_user(self.auth_id), True
        return self._user

    @property
    async def is_authenticated(self) -> bool:
        return await self.user() is not None


async def _load_user(auth_id: str | None) -> User | None:
    user_id, _, version = (auth_id or "").partition(":")
    if not (user_id.isdigit() and version.isdigit() and len(user_id) < 10):
        return None
    # A short session of its own, closed at once: a websocket that lasts an hour must not
    # hold a pooled database connection (the request's session would) for that hour.
    async with db.new_session() as session:
        user = await session.get(User, int(user_id))
    return user if user is not None and str(user.session_version) == version else None


async def current_account() -> User | None:
    """The signed-in ``User`` of this request or websocket, or None."""
    return await current_user.user()


# --- sign-up ------------------------------------------------------------------------------------


@bp.get("/signup")
async def signup_form():
    """The sign-up form."""
    return await render_template("accounts/signup.html")


@bp.post("/signup")
@rate_limit(10, timedelta(hours=1))
async def signup():
    """Create an account (409 if the name is taken), then sign in as it."""
    form = await request.form
    username, password = form.get("username", "").strip().lower(), form.get("password", "")
    error = _check_new_account(username, password)
    if error:
        return await render_template("accounts/signup.html", error=error, username=username), 422
    user = User(username=username, password_hash=await current_app.extensions["passwords"].hash(password))
    session = db.session()
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:  # the unique index decides, even between two sign-ups racing for a name
        await session.rollback()
        error = f"the username {username!r} is taken: choose another"
        return await render_template("accounts/signup.html", error=error, username=username), 409
    _sign_in(user)
    return redirect(url_for("pages.home"), 303)


def _check_new_account(username: str, password: str) -> str | None:
    if not USERNAME.fullmatch(username):
        return f"a username is 3 to {USERNAME_LENGTH} letters, digits, '.', '_' or '-'"
    if not PASSWORD_LENGTH[0] <= len(password) <= PASSWORD_LENGTH[1]:
        return f"a password is {PASSWORD_LENGTH[0]} to {PASSWORD_LENGTH[1]} characters"
    return None


# --- sign-in and sign-out -------------------------------------------------------------------------


async def client_address() -> str:
    """The rate limiter's key: the address the connection came from (behind a proxy you run,
    let a trusted proxy middleware, chapter 16, put the real client's address there)."""
    return request.remote_addr or "unknown"


@bp.get("/login")
async def login_form():
    """The sign-in form."""
    return await render_template("accounts/login.html", next=_safe_next(request.args.get("next")))


@bp.post("/login")
# Five tries a minute per client address: enough for typos, far too few to guess passwords.
# The key is the address of the TCP connection: quart-rate-limiter's default key trusts
# X-Forwarded-For, which any client can set to a new value on every try.
@rate_limit(5, timedelta(minutes=1), key_function=client_address)
async def login():
    """Sign in; the same answer for an unknown user and a wrong password."""
    form = await request.form
    username, password = form.get("username", "").strip().lower(), form.get("password", "")
    passwords = current_app.extensions["passwords"]
    user = None
    if USERNAME.fullmatch(username) and len(password) <= PASSWORD_LENGTH[1]:
        user = await db.session().scalar(select(User).where(User.username == username))
    # Verify even when there is no such user: both answers take as long (see passwords.py).
    matches = await passwords.verify(user.password_hash if user else None, password)
    if user is None or not matches:
        error = "wrong username or password"
        return await render_template("accounts/login.html", error=error, username=username,
                                     next=_safe_next(form.get("next"))), 401
    if passwords.needs_rehash(user.password_hash):  # the parameters were raised since: upgrade it
        user.password_hash = await passwords.hash(password)
        await db.session().commit()
    _sign_in(user)
    return redirect(_safe_next(form.get("next")) or url_for("pages.home"), 303)


@bp.post("/logout")
@login_required
async def logout():
    """Sign out here and everywhere: every cookie issued before now stops working."""
    user = await current_account()
    session = db.session()
    # In SQL, not in Python: two sign-outs at once both count.
    await session.execute(update(User).where(User.id == user.id).values(session_version=User.session_version + 1))
    await session.commit()
    logout_user()
    return redirect(url_for("pages.home"), 303)


@bp.get("/me")
@login_required
async def me():
    """The signed-in user as JSON (401 when nobody is signed in)."""
    return (await current_account()).to_dict()


def _sign_in(user: User) -> None:
    login_user(CurrentUser(user.auth_id))
    rotate_csrf_token()


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site; never ``//evil.example`` or ``https://...``."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and len(target) < 2000:
        return target if target.isprintable() else None
    return None

