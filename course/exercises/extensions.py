"""Exercises of 05_extensions."""

from course.exercises import Exercise, NotAttempted, ____, expect, quiet


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
        with quiet(signup):
            response = await client.post("/signup", json={"name": "Ada", "age": 36})
            expect(response.status_code == 201, f"a valid signup answered {response.status_code}, not 201.")
            expect(await response.get_json() == {"welcome": "Ada", "age": 36},
                   "a valid signup should answer {\"welcome\": \"Ada\", \"age\": 36}.")
            for body, why in (({"name": "Tim", "age": 10}, "an age of 10"),
                              ({"name": "Tim"}, "a missing age"),
                              ({"name": "Tim", "age": "old"}, 'the age "old"')):
                response = await client.post("/signup", json=body)
                expect(response.status_code in (400, 422),
                       f"{why} answered {response.status_code}; the model should reject it (400).")


class Cors(Exercise):
    """Allow pages from https://shop.example (and no other origin) to call GET /prices."""

    id = "05_cors"
    hints = [
        "`allow_origin` takes the *origin* of the page that calls the API: its scheme and host "
        "(and a port, if not the default), nothing more. Which part of "
        "`https://shop.example/index.html` is that?",
        'shop = cors(shop, allow_origin="https://shop.example")',
    ]
    wrong = [('allow_origin="https://shop.example"', 'allow_origin="*"'),
             ('allow_origin="https://shop.example"', 'allow_origin="https://shop.example/"')]

    async def _check(self, shop):
        hooks = [hook for funcs in shop.after_request_funcs.values() for hook in funcs]
        options = [getattr(hook, "keywords", {}) for hook in hooks]
        expect(any("allow_origin" in o for o in options), "the app has no CORS hook: call cors(shop, ...).")
        if any(o.get("allow_origin") is ____ for o in options):
            raise NotAttempted("Replace every `____` in the exercise cell, run it, then check again.")
        client = shop.test_client()
        response = await client.get("/prices", headers={"Origin": "https://shop.example"})
        expect(response.status_code == 200, f"GET /prices answered {response.status_code}.")
        allowed = response.headers.get("Access-Control-Allow-Origin")
        expect(allowed == "https://shop.example",
               f"for Origin https://shop.example the answer carried Access-Control-Allow-Origin: {allowed!r}.")
        response = await client.get("/prices", headers={"Origin": "https://evil.example"})
        other = response.headers.get("Access-Control-Allow-Origin")
        expect(other is None, f"a page from https://evil.example was allowed too ({other!r}): "
                              "allow only https://shop.example.")


q1 = Schema()
q2 = Cors()
