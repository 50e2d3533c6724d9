"""Exercises of chapter 05, extensions."""

from course.exercises import Exercise, NotAttempted, ____, checklist, expect, quiet

SHOP = "https://shop.example"


class Schema(Exercise):
    """A pydantic model makes POST /signup require an age of at least 13."""

    id = "05_schema"
    hints = [
        "pydantic's `Field(...)` takes constraints: `ge=` means greater than or equal.",
        "age: int = Field(ge=13)   (no default, so it is required)",
    ]
    wrong = [("age: int = Field(ge=13)", "age: int = Field(ge=0)"),
             ("age: int = Field(ge=13)", "age: int = Field(default=18, ge=13)")]

    async def _check(self, signup):
        from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE

        view = signup.view_functions.get("create")
        model = getattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE, (None,))[0] if view else None
        expect(model is not None, "POST /signup has no @validate_request(...) model.")
        if any(field.default is ____ for field in model.model_fields.values()):
            raise NotAttempted("Replace every `____` in the exercise cell, run it, then check again.")
        client = signup.test_client()
        with quiet(signup), checklist() as check:
            response = await client.post("/signup", json={"name": "Ada", "age": 36})
            body = await response.get_json() if response.status_code == 201 else None
            check(body == {"welcome": "Ada", "age": 36},
                  f'a valid signup answered {response.status_code} {body!r}, not 201 {{"welcome": "Ada", "age": 36}}.')
            for body, why in (({"name": "Tim", "age": 10}, "an age of 10"),
                              ({"name": "Tim"}, "a missing age"),
                              ({"name": "Tim", "age": "old"}, 'the age "old"')):
                response = await client.post("/signup", json=body)
                check(response.status_code in (400, 422),
                      f"{why} answered {response.status_code}; the model should reject it (400).")


class ShopApi(Exercise):
    """Build a validated order API that pages from https://shop.example (only) may call."""

    id = "05_shop_api"
    hints = [
        "Three parts: a pydantic model for the order (`Field(ge=..., le=...)` bounds a number), "
        "two views (`@validate_request(Order)` on the POST one), and `shop = cors(shop, "
        "allow_origin=...)` at the end. The *origin* of a page is its scheme and host (and port, "
        "if not the default): no path, no trailing slash.",
        'class Order(BaseModel): item: str = Field(min_length=1); quantity: int = Field(ge=1, le=10). '
        'Then `shop = cors(shop, allow_origin="https://shop.example")`.',
    ]
    wrong = [
        ('allow_origin="https://shop.example"', 'allow_origin="*"'),
        ('allow_origin="https://shop.example"', 'allow_origin="https://shop.example/"'),
        ('shop = cors(shop, allow_origin="https://shop.example")', ""),
        ("quantity: int = Field(ge=1, le=10)", "quantity: int = Field(ge=0)"),
        ("@validate_request(Order)\n", ""),
    ]

    async def _check(self, shop):
        cors_options = [getattr(hook, "keywords", {}) for funcs in shop.after_request_funcs.values() for hook in funcs]
        if (not any(rule.rule in ("/prices", "/orders") for rule in shop.url_map.iter_rules())
                or any(options.get("allow_origin") is ____ for options in cors_options)):
            raise NotAttempted("Write the routes and replace the `____` in the exercise cell, run it, "
                               "then check again.")
        client = shop.test_client()
        with quiet(shop), checklist() as check:
            response = await client.get("/prices")
            body = await response.get_json() if response.status_code == 200 else None
            check(body == {"teapot": 18.5}, f'GET /prices answered {response.status_code} {body!r}.')
            response = await client.post("/orders", json={"item": "teapot", "quantity": 2})
            body = await response.get_json() if response.status_code == 201 else None
            check(body == {"ordered": "teapot", "quantity": 2},
                  f'a valid order answered {response.status_code} {body!r}; expected 201 '
                  '{"ordered": "teapot", "quantity": 2}.')
            for order, why in (({"item": "teapot", "quantity": 0}, "a quantity of 0"),
                               ({"item": "teapot", "quantity": 11}, "a quantity of 11"),
                               ({"item": "teapot", "quantity": "two"}, 'the quantity "two"'),
                               ({"item": "teapot"}, "a missing quantity")):
                response = await client.post("/orders", json=order)
                check(response.status_code in (400, 422),
                      f"{why} answered {response.status_code}: the model should refuse it (400).")
            response = await client.get("/prices", headers={"Origin": SHOP})
            allowed = response.headers.get("Access-Control-Allow-Origin")
            check(allowed == SHOP, f"for a page from {SHOP} the answer carried "
                                   f"Access-Control-Allow-Origin: {allowed!r}, not {SHOP!r}.")
            response = await client.get("/prices", headers={"Origin": "https://evil.example"})
            other = response.headers.get("Access-Control-Allow-Origin")
            check(other is None, f"a page from https://evil.example was allowed too ({other!r}): "
                                 f"allow only {SHOP}.")
            response = await client.options("/orders", headers={
                "Origin": SHOP, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type"})
            methods = response.headers.get("Access-Control-Allow-Methods", "")
            check(response.status_code == 200 and "POST" in methods,
                  f"the browser's preflight for POST /orders answered {response.status_code} with "
                  f"Access-Control-Allow-Methods: {methods!r}.")


q1 = Schema()
q2 = ShopApi()
