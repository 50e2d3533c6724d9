"""apps/settings.py: layered configuration, the production check, one JSON log line per request."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apps.settings import create_app
from conftest import app_command
from course import ServerError, serve, serve_command

ROOT = Path(__file__).resolve().parent.parent
QUART = str(Path(sys.executable).parent / "quart")
SECRET = secrets.token_hex()


@pytest.fixture(autouse=True)
def _no_quart_settings_from_outside(monkeypatch):
    """The tests set the environment they need; none of the machine's QUART_* variables leak in."""
    for name in list(os.environ):
        if name.startswith("QUART_"):
            monkeypatch.delenv(name)


@pytest.fixture
def app(tmp_path):
    return create_app({"SECRET_KEY": SECRET}, instance_path=str(tmp_path / "instance"))


@pytest.fixture
def log(app) -> io.StringIO:
    """What the app logs, one JSON object per line (the handler's stream, swapped for a buffer)."""
    stream = io.StringIO()
    app.logger.handlers[0].setStream(stream)
    return stream


def _lines(log: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in log.getvalue().splitlines()]


def _check_config(env: dict, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUART_")}
    return subprocess.run([QUART, "--app", "apps.settings", "check-config"], cwd=cwd, capture_output=True, text=True,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, timeout=60)


# --- where settings come from -----------------------------------------------------------------


def test_defaults_come_from_the_defaults_class(tmp_path):
    app = create_app(instance_path=str(tmp_path))
    assert app.config["GREETING"] == "Hello" and app.config["MAX_REPORTS"] == 100
    assert app.config["SECRET_KEY"] is None


def test_each_layer_overrides_the_one_before(tmp_path, monkeypatch):
    (tmp_path / "settings.py").write_text('GREETING = "from the instance folder"\nMAX_REPORTS = 7\n')
    app = create_app(instance_path=str(tmp_path))
    assert (app.config["GREETING"], app.config["MAX_REPORTS"]) == ("from the instance folder", 7)

    monkeypatch.setenv("QUART_GREETING", "from the environment")
    monkeypatch.setenv("QUART_MAX_REPORTS", "5")  # read as JSON: the number 5, not the string "5"
    app = create_app(instance_path=str(tmp_path))
    assert (app.config["GREETING"], app.config["MAX_REPORTS"]) == ("from the environment", 5)

    app = create_app({"GREETING": "from create_app"}, instance_path=str(tmp_path))
    assert app.config["GREETING"] == "from create_app"


def test_quart_run_reads_a_dotenv_file_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text(f"QUART_GREETING=from .env\nQUART_SECRET_KEY={SECRET}\n")
    result = _check_config({}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GREETING = 'from .env'" in result.stdout
    result = _check_config({"QUART_GREETING": "from the environment"}, cwd=tmp_path)
    assert "GREETING = 'from the environment'" in result.stdout


@pytest.mark.parametrize(("secret", "code", "words"), [
    (None, 1, "SECRET_KEY is not set"),
    ("dev", 1, "too short (3 characters"),
    (SECRET, 0, "fit for production"),
])
def test_check_config_says_whether_the_settings_are_fit_for_production(secret, code, words):
    result = _check_config({"QUART_SECRET_KEY": secret} if secret else {})
    assert result.returncode == code
    assert words in result.stdout
    assert secret is None or secret not in result.stdout + result.stderr  # the secret is never printed


# --- refusing to start in production without a secret ---------------------------------------------


async def test_production_mode_refuses_to_start_without_a_secret_key(tmp_path, monkeypatch):
    app = create_app(instance_path=str(tmp_path))
    # Quart logs the failed start-up; the exception says it all. (Every app named
    # apps.settings shares this logger, so monkeypatch puts it back afterwards.)
    monkeypatch.setattr(app.logger, "disabled", True)
    # Quart's test app reports the failed start-up as its own LifespanError, with our message.
    with pytest.raises(Exception, match="refusing to start in production mode: SECRET_KEY is not set"):
        async with app.test_app():
            pass


@pytest.mark.parametrize("config", [{"DEBUG": True}, {"TESTING": True}, {"SECRET_KEY": SECRET}])
async def test_debug_testing_or_a_real_secret_may_start(tmp_path, config):
    app = create_app(config, instance_path=str(tmp_path))
    async with app.test_app() as test_app:
        assert (await test_app.test_client().get("/")).status_code == 200


@pytest.mark.parametrize("kind", ["hypercorn", "uvicorn"])
def test_a_real_server_refuses_to_start_without_a_secret_key(kind):
    env = {k: "" for k in os.environ if k.startswith("QUART_")}
    with pytest.raises(ServerError) as refused:
        serve_command(app_command(kind, "apps.settings:app"), env=env, timeout=30)
    assert "refusing to start in production mode: SECRET_KEY is not set" in str(refused.value)


# --- logging ----------------------------------------------------------------------------------------


async def test_one_json_line_per_request_with_its_request_id(app, log):
    client = app.test_client()
    response = await client.get("/", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    assert (await response.get_json())["request_id"] == "abc-123"
    (line,) = _lines(log)
    assert line["request_id"] == "abc-123" and line["level"] == "INFO" and line["logger"] == "apps.settings"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/", 200)
    assert line["message"] == "GET / 200" and line["duration_ms"] >= 0


async def test_a_request_without_an_id_gets_one(app, log):
    response = await app.test_client().get("/reports/5")
    assert response.status_code == 404
    (line,) = _lines(log)
    assert line["request_id"] == response.headers["X-Request-Id"] and len(line["request_id"]) == 32
    assert line["status"] == 404


async def test_errors_go_to_the_log_with_a_traceback_and_never_to_the_client(app, log):
    @app.get("/boom")
    async def boom():
        raise ZeroDivisionError("the bug")

    response = await app.test_client().get("/boom", headers={"X-Request-Id": "crash-1"})
    assert response.status_code == 500
    body = await response.get_data(as_text=True)
    assert json.loads(body) == {"error": "internal server error"} and "Traceback" not in body
    error, request_line = _lines(log)
    assert error["level"] == "ERROR" and error["request_id"] == "crash-1"
    assert error["traceback"].startswith("Traceback") and "ZeroDivisionError: the bug" in error["traceback"]
    assert request_line["status"] == 500 and request_line["request_id"] == "crash-1"


async def test_a_line_break_in_client_input_cannot_forge_a_log_line(app, log):
    response = await app.test_client().post("/reports", json={"message": 'x"}\n{"level": "INFO", "forged": true}'})
    assert response.status_code == 201
    lines = log.getvalue().splitlines()
    assert len(lines) == 2  # the report and the request line: nothing forged
    assert "forged" not in json.loads(lines[0]) and json.loads(lines[0])["report_message"].startswith('x"}\n')


async def test_each_record_is_written_once_even_if_the_root_logger_has_a_handler(app, log):
    seen: list[logging.LogRecord] = []
    root_handler = logging.Handler()
    root_handler.emit = seen.append
    logging.getLogger().addHandler(root_handler)  # what logging.basicConfig() does
    try:
        await app.test_client().get("/")
    finally:
        logging.getLogger().removeHandler(root_handler)
    assert len(_lines(log)) == 1 and not [r for r in seen if r.name == "apps.settings"]


def test_a_malformed_request_id_is_refused_before_the_app(app, log):
    # Served for real: Quart 0.23.1's test client cannot read the middleware's own answer
    # (it expects "more_body" in every body message, which ASGI makes optional).
    with serve(app) as server:
        response = httpx.get(server.url + "/", headers={"X-Request-Id": "bad id\twith tab"}, trust_env=False)
    assert response.status_code == 400 and "X-Request-Id" in response.json()["error"]
    assert _lines(log) == []  # refused before the app: no log line


# --- the reports API, and hostile input ----------------------------------------------------------------


async def test_reports_are_kept_newest_first_and_bounded(tmp_path, monkeypatch):
    app = create_app({"SECRET_KEY": SECRET, "MAX_REPORTS": 3}, instance_path=str(tmp_path))
    monkeypatch.setattr(app.logger, "disabled", True)
    client = app.test_client()
    for n in range(5):
        response = await client.post("/reports", json={"message": f"error {n}", "level": "warning", "page": "/x"})
        assert response.status_code == 201
    reports = await (await client.get("/reports")).get_json()
    assert [r["message"] for r in reports] == ["error 4", "error 3", "error 2"]
    assert (await client.get(f"/reports/{reports[0]['id']}")).status_code == 200
    assert (await client.get("/reports/1")).status_code == 404  # dropped: only 3 are kept


BAD_REQUESTS = [
    ({"data": "{", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ({"data": "[" * 10_000, "headers": {"Content-Type": "application/json"}}, 400, "nested"),
    ({"data": b'{"message": "\xfe"}', "headers": {"Content-Type": "application/json"}}, 400, "not UTF-8"),
    ({"data": "message=hi", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, "Content-Type"),
    ({"json": "just a string"}, 422, "JSON object"),
    ({"json": {"message": ""}}, 422, '"message"'),
    ({"json": {"message": "x" * 2001}}, 422, '"message"'),
    ({"json": {"message": ["x"]}}, 422, '"message"'),
    ({"json": {"message": "hi", "level": "critical"}}, 422, '"level"'),
    ({"json": {"message": "hi", "level": ["error"]}}, 422, '"level"'),
    ({"json": {"message": "hi", "page": 7}}, 422, '"page"'),
    ({"data": "x" * 100_000, "headers": {"Content-Type": "application/json"}}, 413, ""),
]


@pytest.mark.parametrize(("options", "status", "words"), BAD_REQUESTS,
                         ids=[f"{s}-{w or 'too big'}" for _, s, w in BAD_REQUESTS])
async def test_bad_reports_get_clear_json_errors(app, log, options, status, words):
    response = await app.test_client().post("/reports", **options)
    assert response.status_code == status
    body = await response.get_json()
    assert set(body) == {"error"} and words in body["error"]
    assert _lines(log)[-1]["status"] == status  # logged like any other request


@pytest.mark.parametrize("path", ["/reports/99999999999999999999999999", "/reports/-1", "/reports/x", "/nope"])
async def test_unknown_reports_are_404(app, log, path):
    response = await app.test_client().get(path)
    assert response.status_code == 404 and "error" in await response.get_json()


def test_runs_under_real_servers_and_logs_json(run_app):
    server = run_app("apps.settings:app", env={"QUART_SECRET_KEY": SECRET})
    response = httpx.get(server.url + "/", headers={"X-Request-Id": "real-1"}, trust_env=False)
    assert response.status_code == 200 and response.json()["mode"] == "production"
    lines = [json.loads(line) for line in server.output.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "real-1" and line.get("status") == 200 for line in lines), server.output
