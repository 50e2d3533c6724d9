"""Exercises of chapter 03, blueprints and the app factory."""

from course.exercises import Exercise, Incorrect, checklist, quiet


class Shop(Exercise):
    """A shop blueprint at /shop, registered by create_shop_app()."""

    id = "03_shop"
    hints = [
        "`url_prefix` is the part of the path in front of every route of the blueprint. A "
        "blueprint does nothing until the factory registers it on the app it builds: look at "
        "`create_app` in `apps/blog/__init__.py`.",
        '`url_prefix="/shop"` (with the leading slash), and in the factory: '
        "`app.register_blueprint(shop)`.",
    ]
    wrong = [('url_prefix="/shop"', 'url_prefix="/store"'), ("app.register_blueprint(shop)", "pass")]

    async def _check(self, create_shop_app):
        first, second = create_shop_app(), create_shop_app()
        with checklist() as expect:
            expect(first is not second, "create_shop_app() returned the same app twice: build a new one per call.")
            rules = sorted(rule.rule for rule in first.url_map.iter_rules() if rule.endpoint != "static")
            expect("/shop/items" in rules, f"the app's routes are {rules}; expected /shop/items.")
            for app in (first, second):
                response = await app.test_client().get("/shop/items")
                body = await response.get_json() if response.status_code == 200 else None
                expect(response.status_code == 200 and body == ["teapot", "cup"],
                       f"GET /shop/items answered {response.status_code} {body!r}.")
            endpoints = {rule.endpoint for rule in first.url_map.iter_rules()}
            expect("shop.items" in endpoints, f"no endpoint shop.items among {sorted(endpoints)}.")


class Library(Exercise):
    """Build nested blueprints api (/api) and v2 (/v2) with a hook, and the factory that registers them."""

    id = "03_library"
    hints = [
        "Two `Blueprint(...)` objects, each with its `url_prefix`; the view on `v2`; an "
        "`@api.after_request` hook that sets the header and returns the response; "
        "`api.register_blueprint(v2)` once, at module level (a blueprint cannot be changed after an "
        "app has registered it); and `app.register_blueprint(api)` inside the factory.",
        "`apps/blog/api.py` (Step 3) has the same shape: `bp`, `v1`, `mark_api_version`, and "
        "`bp.register_blueprint(v1)` at its end.",
    ]
    wrong = [
        ('v2 = Blueprint("v2", __name__, url_prefix="/v2")', 'v2 = Blueprint("v2", __name__, url_prefix="/v1")'),
        ('    response.headers["X-API"] = "library"\n', ""),
        ("api.register_blueprint(v2)", 'api.register_blueprint(v2, name="books")'),
        ("    app.register_blueprint(api)\n", "    app.register_blueprint(v2)\n"),
    ]

    async def _check(self, create_library_app):
        first = create_library_app()
        try:
            second = create_library_app()
        except Exception as error:  # noqa: BLE001 - say what went wrong in words
            raise Incorrect(f"the second create_library_app() call raised {type(error).__name__}: "
                                 f"{error}. Register v2 on api once, outside the factory.") from None
        with quiet(first), checklist() as expect:
            expect(first is not second, "create_library_app() returned the same app twice: build a new one per call.")
            endpoints = {rule.endpoint: rule.rule for rule in first.url_map.iter_rules()}
            expect(endpoints.get("api.v2.list_books") == "/api/v2/books",
                   f"expected the endpoint api.v2.list_books at /api/v2/books; the app has {endpoints}.")
            for app in (first, second):
                response = await app.test_client().get("/api/v2/books")
                body = await response.get_json() if response.status_code == 200 else None
                expect(response.status_code == 200 and body == ["Dune", "Emma"],
                       f"GET /api/v2/books answered {response.status_code} {body!r}.")
            expect(response.headers.get("X-API") == "library",
                   f"GET /api/v2/books came with X-API: {response.headers.get('X-API')!r}, not 'library': "
                   "a hook on the parent blueprint runs for the nested one too.")
            other = await first.test_client().get("/books")
            expect(other.status_code == 404, f"GET /books answered {other.status_code}: the books belong "
                                             "under /api/v2 only.")


q1 = Shop()
q2 = Library()
