"""Shared fixtures: test clients and real servers for the apps, TLS files, a real headless Chromium.

A test module names its app with an ``app`` fixture built from the app's factory
(``create_app(config)``, as in Flask's tutorial); ``client`` and ``served`` use it.
``run_app`` runs an app under the real ``hypercorn`` and ``uvicorn`` commands.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STATIC = ROOT / "static"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def notebook_paths() -> list[Path]:
    """The chapters (00_..., 01_...), then the appendices (A1_...)."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) + sorted(NOTEBOOKS.glob("A[0-9]_*.ipynb"))


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL server for the session (tests/postgres.py); skips where it is missing."""
    from postgres import postgres_or_skip

    with postgres_or_skip() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh database: a SQLite file, then a new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.sqlite'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(scope="session")
def certs():
    """The course's CA and server certificate (generated once, like `python -m course setup`)."""
    from course._setup import CERTS, make_certs

    make_certs()
    return CERTS


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def start_browser(*flags: str):
    """A real headless Chromium driven by Selenium (Debian's chromium and chromium-driver).

    Skips with a clear message where Chromium is missing, except in CI, where
    `.ci/run` installs it and a missing browser is a failure. Returns the driver and
    its profile folder; ``stop_browser`` ends both.
    """
    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if not (chromium and driver_path):
        message = "headless Chromium not found: apt-get install chromium chromium-driver"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="course-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
                 "--window-size=1400,1000", f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    driver.profile = profile
    return driver


def stop_browser(driver) -> None:
    driver.quit()
    shutil.rmtree(driver.profile, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium shared by the session's browser tests (1400x1000, like a laptop)."""
    driver = start_browser()
    try:
        yield driver
    finally:
        stop_browser(driver)


def below_a_notebook_frame(browser, url: str, page: str, height: int, ids: list[str],
                            ready: str = "true", then: str = "") -> dict[str, float]:
    """Load ``page`` of the server at ``url`` in a frame ``height`` px tall, as ``show()`` does in a
    1400x1000 window; once the script ``ready`` is true, run ``then``; return how far below the
    frame's bottom each element ends (0 or less: visible without scrolling)."""
    browser.set_window_size(1400, 1000)
    browser.get(url + "/nowhere")  # any page of the server, to hold the frame
    browser.execute_script("const frame = document.createElement('iframe');"
                           "frame.src = arguments[0]; frame.width = '100%'; frame.height = arguments[1];"
                           "document.body.replaceChildren(frame);", page, height)
    browser.switch_to.frame(browser.find_element("tag name", "iframe"))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not browser.execute_script(
                f"return document.readyState === 'complete' && Boolean({ready})"):
            time.sleep(0.05)
        if then:
            browser.execute_script(then)
        return {i: browser.execute_script(f"return document.getElementById('{i}').getBoundingClientRect()"
                                          ".bottom - window.innerHeight") for i in ids}
    finally:
        browser.switch_to.default_content()
        browser.get("about:blank")


@pytest.fixture
async def started(app):
    """The module's ``app`` with its serving hooks run, as a server runs them (``app.test_app()``):
    ``before_serving`` opens what the app opens (a database, a broker), ``after_serving`` closes it."""
    async with app.test_app() as test_app:
        yield test_app


@pytest.fixture
def client(started):
    """Quart's in-process test client for the module's started ``app``."""
    return started.test_client()


@pytest.fixture
def served(app):
    """The module's ``app`` served by the kit on a free port (``served.url``), stopped after the test."""
    from course import serve

    with serve(app) as server:
        yield server


SERVER_KINDS = ["hypercorn", "uvicorn"]


def app_command(kind: str, target: str, *options: str) -> list[str]:
    """The command that serves ``target`` ("apps.hello:app") on the socket serve_command() hands over."""
    if kind == "hypercorn":
        return ["hypercorn", "--bind", "fd://{fd}", *options, target]
    if kind == "uvicorn":
        return ["uvicorn", "--fd", "{fd}", "--log-level", "warning", *options, target]
    raise ValueError(f"unknown server kind {kind!r}")


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request) -> str:
    """Run the test once under Hypercorn and once under uvicorn."""
    return request.param


@pytest.fixture
def run_app(server_kind):
    """``run_app("apps.hello:app", env={...})``: the app under the real server command of this test.

    Returns a ``ServerProcess`` (``.url``, ``.output``, ``.tracebacks``); every process it
    started is stopped with SIGTERM after the test, and must not have printed a traceback.
    """
    from course import serve_command

    started = []

    def run(target: str, *options: str, env: dict | None = None, ready: str | None = "/", **kwargs):
        server = serve_command(app_command(server_kind, target, *options), env=env, ready=ready, **kwargs)
        started.append(server)
        return server

    yield run
    for server in started:
        server.stop()
    tracebacks = [t for server in started for t in server.tracebacks]
    assert not tracebacks, f"the server printed a traceback:\n{tracebacks[0]}"


@pytest.fixture(autouse=True)
def _no_leftover_servers():
    """Every test leaves no kit server behind."""
    yield
    from course import stop_all

    stop_all()
