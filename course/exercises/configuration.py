"""Exercises of chapter 06, configuration and logging."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

from course.exercises import Exercise, Incorrect, checklist, expect, quiet


@contextmanager
def _environment(**values: str | None):
    """Set (or, with None, remove) environment variables for the length of a check, then put them back."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Layers(Exercise):
    """Defaults from a class, overridden by SHOP_* environment variables."""

    id = "06_layers"
    hints = [
        "Two methods of `app.config`: one copies the UPPER-CASE attributes of a class, one reads "
        "environment variables that start with a prefix.",
        "`app.config.from_object(Defaults)` first, then `app.config.from_prefixed_env(prefix=\"SHOP\")`: "
        "the one called last wins.",
    ]
    wrong = [
        ('app.config.from_object(Defaults)\n    app.config.from_prefixed_env(prefix="SHOP")',
         'app.config.from_prefixed_env(prefix="SHOP")\n    app.config.from_object(Defaults)'),
        ('from_prefixed_env(prefix="SHOP")', 'from_prefixed_env()'),
    ]

    def _check(self, make_app):
        with _environment(SHOP_PAGE_SIZE=None, SHOP_GREETING=None):
            plain = make_app().config
        with _environment(SHOP_PAGE_SIZE="50", SHOP_GREETING="Welcome"):
            deployed = make_app().config
        with checklist() as expect_:
            expect_(plain.get("PAGE_SIZE") == 20 and plain.get("GREETING") == "Hello",
                    f"without environment variables PAGE_SIZE is {plain.get('PAGE_SIZE')!r} and GREETING "
                    f"{plain.get('GREETING')!r}: the defaults (20, 'Hello') should apply.")
            expect_(deployed.get("PAGE_SIZE") == 50,
                    f"with SHOP_PAGE_SIZE=50 in the environment PAGE_SIZE is {deployed.get('PAGE_SIZE')!r}, not 50 "
                    "(the number: from_prefixed_env reads values as JSON).")
            expect_(deployed.get("GREETING") == "Welcome",
                    f"with SHOP_GREETING=Welcome in the environment GREETING is {deployed.get('GREETING')!r}.")


class RequestLog(Exercise):
    """Log one line per request: method, path, status and request id."""

    id = "06_request_log"
    hints = [
        "`after_request` functions get the response (so they know its status) and must return it.",
        "`request.method`, `request.path`, `response.status_code` and `request.headers.get(\"X-Request-Id\")`.",
        'The whole body: `log.info("request", extra={"method": request.method, "path": request.path, '
        '"status": response.status_code, "request_id": request.headers.get("X-Request-Id")})`, then '
        "`return response`.",
    ]
    wrong = [
        ('"status": response.status_code', '"status": 200'),
        ('request.headers.get("X-Request-Id")', 'None'),
        ("    return response", "    return None"),
    ]

    async def _check(self, audit):
        records: list[logging.LogRecord] = []
        handler = logging.Handler(logging.INFO)
        handler.emit = records.append
        logger = logging.getLogger("audit.requests")
        logger.addHandler(handler)
        try:
            client = audit.test_client()
            with quiet(audit):
                hello = await client.get("/hello", headers={"X-Request-Id": "req-1"})
                first = list(records)
                missing = await client.get("/missing", headers={"X-Request-Id": "req-2"})
                wrong_method = await client.post("/hello", headers={"X-Request-Id": "req-3"})
        except Exception as error:  # Quart 0.23 cannot even send a response the hook lost
            raise Incorrect(f"a request failed ({type(error).__name__}): does log_request return the response?")
        finally:
            logger.removeHandler(handler)
        expect(hello.status_code == 200, f"GET /hello answered {hello.status_code}, not 200: does the hook "
                                         "return the response?")
        with checklist() as expect_:
            expect_(len(first) == 1, f"GET /hello logged {len(first)} lines on 'audit.requests', not one.")
            line = vars(first[0]) if first else {}
            expect_((line.get("method"), line.get("path")) == ("GET", "/hello"),
                    f"the line says method={line.get('method')!r}, path={line.get('path')!r}.")
            expect_(line.get("status") == 200, f"the line says status={line.get('status')!r} for a 200.")
            expect_(line.get("request_id") == "req-1",
                    f"the line says request_id={line.get('request_id')!r}; the request sent X-Request-Id: req-1.")
            statuses = [(vars(r).get("status"), vars(r).get("request_id")) for r in records[1:]]
            expect_(statuses == [(404, "req-2"), (405, "req-3")],
                    f"a 404 and a 405 were logged as {statuses}: every request needs its own line, "
                    "with its real status.")
            expect_(missing.status_code == 404 and wrong_method.status_code == 405,
                    "the hook changed the answers of GET /missing or POST /hello.")


class SecretGuard(Exercise):
    """Refuse to start in production mode without a SECRET_KEY."""

    id = "06_secret_guard"
    hints = [
        "Production mode is when `vault.debug` is false; the key is `vault.config.get(\"SECRET_KEY\")`.",
        "The condition: `not vault.debug and not vault.config.get(\"SECRET_KEY\")`.",
    ]
    wrong = [
        ('not vault.debug and not vault.config.get("SECRET_KEY")', 'not vault.config.get("SECRET_KEY")'),
        ('not vault.debug and not vault.config.get("SECRET_KEY")', "not vault.debug"),
    ]

    async def _check(self, vault):
        saved = dict(vault.config)

        async def starts(**settings) -> bool:
            vault.config.update(settings)
            try:
                with quiet(vault):  # Quart logs a failed start-up with its traceback
                    async with vault.test_app():
                        return True
            except Exception:
                return False
            finally:
                vault.config.clear()
                vault.config.update(saved)

        with checklist() as expect_:
            expect_(not await starts(DEBUG=False, SECRET_KEY=None),
                    "in production mode without a SECRET_KEY the app started: it should refuse.")
            expect_(await starts(DEBUG=False, SECRET_KEY="a long random production secret, 64 characters or so"),
                    "in production mode with a SECRET_KEY the app refused to start.")
            expect_(await starts(DEBUG=True, SECRET_KEY=None),
                    "in debug mode without a SECRET_KEY the app refused to start: development needs no secret.")


q1 = Layers()
q2 = RequestLog()
q3 = SecretGuard()
