"""Exercises of 03_blueprints."""

from course.exercises import Exercise, expect, quiet


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
        expect(first is not second,
               "create_shop_app() returned the same app twice: build a new one per call.")
        rules = sorted(rule.rule for rule in first.url_map.iter_rules() if rule.endpoint != "static")
        expect("/shop/items" in rules, f"the app's routes are {rules}; expected /shop/items.")
        for app in (first, second):
            response = await app.test_client().get("/shop/items")
            expect(response.status_code == 200, f"GET /shop/items answered {response.status_code}.")
            body = await response.get_json()
            expect(body == ["teapot", "cup"], f"GET /shop/items answered {body!r}.")
        endpoints = {rule.endpoint for rule in first.url_map.iter_rules()}
        expect("shop.items" in endpoints, f"no endpoint shop.items among {sorted(endpoints)}.")


class Stock(Exercise):
    """Fill current_app.extensions["stock"] in the blueprint's before_app_serving hook."""

    id = "03_stock"
    hints = [
        "The hook runs once when the server starts, inside the app's context: `current_app` works.",
        'Assign the dict: `current_app.extensions["stock"] = {"teapot": 3, "cup": 12}`.',
    ]
    wrong = [('{"teapot": 3, "cup": 12}', '{"teapot": 3}'),
             ("@stock.before_app_serving", "@stock.after_app_serving")]

    async def _check(self, warehouse):
        warehouse.extensions.pop("stock", None)  # start as a fresh server would
        with quiet(warehouse):
            async with warehouse.test_app() as test_app:
                client = test_app.test_client()
                counts = {}
                for item in ("teapot", "cup", "spoon"):
                    response = await client.get(f"/stock/{item}")
                    expect(response.status_code == 200,
                           f"GET /stock/{item} answered {response.status_code}: is the stock there "
                           "before the first request?")
                    counts[item] = (await response.get_json())["count"]
        expect(counts == {"teapot": 3, "cup": 12, "spoon": 0},
               f"the counts were {counts}; expected teapot 3, cup 12 (and 0 for a spoon).")


q1 = Shop()
q2 = Stock()
