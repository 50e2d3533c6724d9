"""Exercises of chapter 21, the capstone's data and accounts.

Each check serves the finished site (``apps.videoshare.create_app``) with your blueprint
registered on it, on a fresh SQLite file, and visits it as two people (``Visitor``). The
videos it needs are written straight into the database, as the notebook's Step 7 does, so
no check waits for processing.
"""

from __future__ import annotations

import contextlib
import html
import re
import secrets
import tempfile
from pathlib import Path

import httpx

from course.exercises import Exercise, Incorrect, NotAttempted, checklist, has_blank, quiet


def site_config(folder: Path, **extra) -> dict:
    """Settings for a site the checks serve: a database of its own, plain HTTP, quiet logs."""
    return {"DATABASE_URL": f"sqlite:///{folder / 'site.sqlite'}", "DATABASE_CREATE_ALL": True,
            "SECRET_KEY": secrets.token_hex(32), "VIDEO_DIR": folder / "videos",
            "PASSWORD_HASH_PROFILE": "CHEAPEST", "SESSION_COOKIE_SECURE": False,
            "QUART_AUTH_COOKIE_SECURE": False, "LOG_LEVEL": "ERROR", "PROCESSING_WORKERS": 0, **extra}


@contextlib.contextmanager
def served_site(name: str, *blueprints, **config):
    """The finished site with ``blueprints`` registered, served in a thread; removed afterwards."""
    from apps.videoshare import create_app
    from course import serve

    with tempfile.TemporaryDirectory(prefix=f"{name}-") as folder:
        app = create_app(site_config(Path(folder), **config))
        for blueprint in blueprints:
            app.register_blueprint(blueprint)
        if has_blank(app):
            raise NotAttempted("Replace every `____` in the exercise cell, run it, then check again.")
        with quiet(app), serve(app, name=name) as server:
            yield app, server


def add_video(server, app, owner_id: int, title: str, status: str = "ready", **values) -> int:
    """Write a video row as processing would leave it (no file needed); its id."""
    from apps.videoshare.models import Video, db

    async def add() -> int:
        async with db.new_session(app) as session:
            video = Video(owner_id=owner_id, title=title, filename=secrets.token_hex(8) + ".webm", size=1000,
                          status=status, duration=30.0 if status == "ready" else None, **values)
            session.add(video)
            await session.commit()
            return video.id

    return server.call(add())  # the engine belongs to the server's event loop


def people(server, *names: str) -> list:
    """Signed-up visitors, and their user ids (1, 2, ...)."""
    from apps.videoshare.client import Visitor

    found = []
    for name in names:
        visitor = Visitor(server.url, name).sign_up()
        visitor.id = visitor.http.get("/me").json()["id"]
        found.append(visitor)
    return found


def _routes(app, path: str) -> list:
    return [rule for rule in app.url_map.iter_rules() if rule.rule == path]


class UserPage(Exercise):
    """Fill in the page /u/<name>: a user's ready videos, newest first, rendered while rows stream in."""

    id = "21_user_page"
    hints = [
        "`session.stream_scalars(query)` runs the query and gives an *async* iterator of `Video` objects: "
        "rows arrive from the database while the template renders them. (`session.scalars` would read "
        "them all first.)",
        "In the template, loop over what the view passed in: `{% for video in videos %}`. Quart renders "
        "templates in Jinja's async mode, so a `{% for %}` can walk an async iterator.",
    ]
    wrong = [
        ("{% for video in videos %}", "{% for video in [] %}"),
        ("videos = await session.stream_scalars(query)",
         "videos = await session.stream_scalars(select(Video).order_by(Video.id.desc()))"),
    ]

    def _check(self, profiles, PAGE):
        if has_blank(PAGE):
            raise NotAttempted("Replace the `____` in PAGE, run the cell, then check again.")
        with served_site("21-check-page", profiles) as (app, server), checklist() as expect:
            if not _routes(app, "/u/<name>"):
                raise NotAttempted("Keep the route /u/<name> on `profiles`, run the cell, then check again.")
            ada, bob = people(server, "ada", "bob")
            for title, status in [("First", "ready"), ("Not yet", "queued"), ("<b>Bold</b> move", "ready"),
                                  ("Broken", "failed")]:
                add_video(server, app, ada.id, title, status)
            add_video(server, app, bob.id, "Bob's", "ready")
            page = ada.http.get("/u/ada")
            expect(page.status_code == 200, f"GET /u/ada answered {page.status_code}, not 200.")
            text = page.text if page.status_code == 200 else ""
            titles = [html.unescape(t) for t in re.findall(r'<a href="watch\?v=\d+">(.*?)</a>', text)]
            expect(titles == ["<b>Bold</b> move", "First"],
                   f"ada's page lists {titles}: it should list her two ready videos, newest first "
                   "(['<b>Bold</b> move', 'First']), and nothing of bob's or not ready.")
            expect("<b>Bold</b>" not in text, "a title holding HTML was put into the page as HTML: let Jinja "
                                              "escape it ({{ video.title }}, never | safe).")
            missing = httpx.get(server.url + "/u/nobody", trust_env=False)
            expect(missing.status_code == 404, f"GET /u/nobody answered {missing.status_code}, not 404.")
            theirs = [html.unescape(t) for t in re.findall(r'<a href="watch\?v=\d+">(.*?)</a>',
                                                           httpx.get(server.url + "/u/bob", trust_env=False).text)]
            expect(theirs == ["Bob's"], f"bob's page lists {theirs}, not [\"Bob's\"]: each page shows its owner's "
                                        "videos only.")


class MyVideos(Exercise):
    """Build GET /api/me/videos: the signed-in user's videos in every state, newest first; 401 otherwise."""

    id = "21_my_videos"
    hints = [
        "Decorate the view with `@login_required` (quart-auth, chapter 15): nobody signed in gets 401. "
        "Inside, `user = await current_account()` is the signed-in `User`.",
        "`select(Video).where(Video.owner_id == user.id).order_by(Video.id.desc())` with "
        "`await db.session().scalars(...)`, then return "
        '`{"videos": [video.to_dict() for video in videos]}`.',
    ]
    wrong = [
        ("@login_required\n", ""),
        ("order_by(Video.id.desc())", "order_by(Video.id)"),
        (".where(Video.owner_id == user.id)", ""),
        (".where(Video.owner_id == user.id)", ".where(Video.owner_id == user.id, Video.status == \"ready\")"),
    ]

    def _check(self, mine):
        with served_site("21-check-mine", mine) as (app, server), checklist() as expect:
            rules = _routes(app, "/api/me/videos")
            if not rules:
                raise NotAttempted("Write the route GET /api/me/videos on `mine`, run the cell, then check again.")
            anonymous = httpx.get(server.url + "/api/me/videos", trust_env=False)
            expect(anonymous.status_code == 401, f"a visitor who is not signed in got {anonymous.status_code}, "
                                                 "not 401: the route is for signed-in users only.")
            ada, bob = people(server, "ada", "bob")
            empty = ada.http.get("/api/me/videos")
            got = empty.json() if empty.headers.get("content-type", "").startswith("application/json") else None
            expect(empty.status_code == 200 and got == {"videos": []},
                   f"ada, who has no videos yet, got {empty.status_code} {got if got is not None else empty.text[:80]}"
                   ', not 200 {"videos": []}.')
            for title, status in [("a1", "ready"), ("a2", "queued"), ("a3", "failed"), ("a4", "processing")]:
                add_video(server, app, ada.id, title, status)
                add_video(server, app, bob.id, "b" + title[1], "ready")
            answer = ada.http.get("/api/me/videos")
            try:
                videos = answer.json()["videos"]
                titles = [video["title"] for video in videos]
                statuses = [video["status"] for video in videos]
            except (ValueError, KeyError, TypeError):
                raise Incorrect(f'ada got {answer.status_code} {answer.text[:120]!r}: answer {{"videos": [...]}}, '
                                "each video as video.to_dict().") from None
            expect(not [t for t in titles if t.startswith("b")], f"ada got bob's videos too: {titles}.")
            mine_only = [t for t in titles if t.startswith("a")]
            expect(sorted(mine_only) == ["a1", "a2", "a3", "a4"],
                   f"ada has four videos (one ready, one queued, one failed, one processing) and got {mine_only}: "
                   "all of hers, in every state.")
            expect(mine_only == sorted(mine_only, reverse=True),
                   f"ada's videos came in the order {mine_only}: newest (largest id) first.")
            expect(set(statuses) <= {"ready", "queued", "failed", "processing"},
                   f"the statuses were {statuses}: send each video as video.to_dict().")


q1 = UserPage()
q2 = MyVideos()
