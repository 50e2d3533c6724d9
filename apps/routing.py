"""Routes, converters, JSON and forms, errors, cookies, sessions and templates: the app of 02.

Run it with ``hypercorn apps.routing:app`` or ``uvicorn apps.routing:app``.
Templates live in ``apps/templates/``, next to this file (Quart's default ``template_folder``).
"""

from __future__ import annotations

import asyncio
import os
import secrets

from quart import (Quart, abort, render_template, render_template_string, request, session,
                   stream_template)

from apps.errors import json_body, json_errors, limit_body

THEMES = ("light", "dark")


def create_app(config: dict | None = None) -> Quart:
    """A new shop app with its own catalogue; ``config`` overrides the defaults."""
    app = Quart(__name__)
    json_errors(app)  # every error as JSON {"error": ...}: see apps/errors.py
    limit_body(app)  # MAX_CONTENT_LENGTH also for bodies sent without Content-Length
    app.config.update(
        # Sessions are signed cookies: without a secret key Quart refuses to set one.
        # A random key is fine for one process; set SECRET_KEY when you run several.
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.config.update(config or {})

    # Each app gets its own copy, so one test (or cell) cannot change another's catalogue.
    items = {1: {"id": 1, "name": "teapot", "price": 18.5}, 2: {"id": 2, "name": "cup", "price": 4.0}}

    @app.get("/")
    async def catalogue():
        """The catalogue page, in the theme stored in the "theme" cookie."""
        # A cookie is client input like any other: only a theme this app could have set counts.
        theme = request.cookies.get("theme")
        theme = theme if theme in THEMES else "light"
        return await render_template("catalogue.html", items=list(items.values()), theme=theme)

    @app.post("/theme/<any(light, dark):theme>")
    async def set_theme(theme: str):
        """Remember a theme in a plain cookie; the any() converter allows only the two names."""
        response = await app.make_response({"theme": theme})
        response.set_cookie("theme", theme, max_age=365 * 24 * 3600, samesite="Lax")
        return response

    @app.route("/items", methods=["GET", "POST"])
    async def item_list():
        """GET lists the items; POST adds one from JSON or from a form."""
        if request.method == "GET":
            return list(items.values())
        if request.is_json:
            data = await json_body()  # 400 for malformed, non-UTF-8 or too deeply nested JSON
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            data = (await request.form).to_dict()
        else:
            abort(415, "send JSON or a form")
        if not isinstance(data, dict):
            data = {}  # a JSON list or number: treated as an object with no fields, so 422 below
        name, price = data.get("name"), _number(data.get("price"))
        if not isinstance(name, str) or not name.strip() or price is None or price < 0:
            abort(422, 'an item needs a non-empty "name" and a "price" that is a number >= 0')
        item = {"id": max(items, default=0) + 1, "name": name.strip(), "price": price}
        items[item["id"]] = item
        return item, 201

    @app.get("/items/<int:item_id>")
    async def item_detail(item_id: int):
        """One item; the int converter already answers 404 for /items/abc."""
        if item_id not in items:
            abort(404, f"there is no item {item_id}")
        return items[item_id]

    @app.get("/files/<path:name>")
    async def file_info(name: str):
        """The path converter accepts slashes: /files/a/b/c.txt gives "a/b/c.txt"."""
        return {"path": name, "parts": name.split("/")}

    @app.get("/orders/<uuid:order_id>")
    async def order(order_id):
        """The uuid converter hands the view a uuid.UUID, and answers 404 for anything else."""
        return {"order": str(order_id), "hex": order_id.hex}

    @app.post("/cart/<int:item_id>")
    async def add_to_cart(item_id: int):
        """Put an item in the session's cart (a signed cookie the client cannot forge)."""
        if item_id not in items:
            abort(404, f"there is no item {item_id}")
        session["cart"] = [*session.get("cart", []), item_id]  # assign, so Quart saves the session
        return {"cart": session["cart"]}

    @app.get("/cart")
    async def cart():
        """What the session's cart holds."""
        return {"cart": session.get("cart", [])}

    @app.get("/hello/<name>")
    async def hello(name: str):
        """A template from a string; Jinja escapes the name, so <script> stays text."""
        return await render_template_string("<p>Hello, {{ name }}!</p>", name=name, theme="light")

    @app.get("/report")
    async def report():
        """A long page streamed row by row: the first bytes leave before the last row exists."""
        rows = _int_arg("rows", default=50, low=1, high=10_000)
        delay = _float_arg("delay", default=0.01, low=0, high=1)

        async def produce():
            for n in range(1, rows + 1):
                await asyncio.sleep(delay)  # stands for a slow query, one row at a time
                yield {"n": n, "value": n * n}

        return await stream_template("report.html", rows=produce(), theme="light")

    return app


def _number(value):
    """A float from JSON (a number) or a form (a string), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer of 400 digits
        return None
    return number if number == number and abs(number) != float("inf") else None


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query argument in [low, high]: 400 if it is no integer, 422 if out of range."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"?{name}= must be an integer")
    if not low <= value <= high:
        abort(422, f"?{name}= must be between {low} and {high}")
    return value


def _float_arg(name: str, default: float, low: float, high: float) -> float:
    """A number query argument in [low, high]: 400 if it is no number, 422 if out of range."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = _number(raw)
    if value is None:
        abort(400, f"?{name}= must be a number")
    if not low <= value <= high:
        abort(422, f"?{name}= must be between {low} and {high}")
    return value


app = create_app()  # what ``hypercorn apps.routing:app`` and ``uvicorn apps.routing:app`` serve
