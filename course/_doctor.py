"""``python -m course doctor``: is this machine ready for the course? Run it before notebook 00.

Each check prints one line: ✓ when it is fine, ✗ with what to do when it is not, · when it
could not be tried here. The exit status is 0 when nothing is wrong, 1 otherwise, so
Binder's ``postBuild`` and CI fail early instead of a learner's first cell.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import os
import re
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ._display import _jupyter_server, page_route
from ._setup import CERTS, MEDIA, SAMPLE

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
OLDEST_PYTHON = (3, 11)
SETUP = "run `python -m course setup`"
INSTALL = "run `python -m pip install -r requirements.txt`"


@dataclass
class Check:
    """One line of the report: ``ok`` is True (✓), False (✗) or None (· not tried)."""

    ok: bool | None
    text: str
    fix: str = ""

    def __str__(self) -> str:
        mark = {True: "✓", False: "✗", None: "·"}[self.ok]
        return f"{mark} {self.text}" + (f": {self.fix}" if self.fix and not self.ok else "")


def check_python() -> Iterable[Check]:
    version = ".".join(map(str, sys.version_info[:3]))
    wanted = ".".join(map(str, OLDEST_PYTHON))
    yield Check(sys.version_info[:2] >= OLDEST_PYTHON, f"Python {version} (the course needs {wanted}+)",
                f"install Python {wanted} or newer")


def _normalise(version: str) -> str:
    try:
        from packaging.version import Version

        return str(Version(version))
    except Exception:  # packaging missing or an odd version string: compare as written
        return version


def _pins(requirements: Path) -> list[tuple[str, str]]:
    """(name, version) of every ``name==version`` line that applies to this Python."""
    from packaging.requirements import Requirement

    pins = []
    for line in requirements.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            pins.append((requirement.name, str(requirement.specifier).removeprefix("==")))
    return pins


def check_packages(requirements: Path = REQUIREMENTS) -> Iterable[Check]:
    if not requirements.exists():
        yield Check(None, f"package versions not compared: {requirements} not found")
        return
    pins = _pins(requirements)
    wrong = []
    for name, pinned in pins:
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(Check(False, f"{name} is not installed (requirements.txt pins {pinned})", INSTALL))
            continue
        if _normalise(installed) != _normalise(pinned):
            wrong.append(Check(False, f"{name} {installed} is installed, requirements.txt pins {pinned}",
                               INSTALL))
    quart = importlib.metadata.version("quart") if not wrong else "?"
    yield from wrong or [Check(True, f"all {len(pins)} pinned packages match requirements.txt "
                                     f"(Quart {quart} on this Python)")]


def check_certs(directory: Path = CERTS) -> Iterable[Check]:
    names = ["ca.pem", "server.pem", "server-key.pem"]
    missing = [name for name in names if not (directory / name).exists()]
    if missing:
        yield Check(False, f"certificates missing in {directory}: {', '.join(missing)}", SETUP)
        return
    try:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(directory / "server.pem", directory / "server-key.pem")
        ssl.create_default_context(cafile=str(directory / "ca.pem"))
    except (ssl.SSLError, ValueError) as error:
        yield Check(False, f"certificates in {directory} do not load ({error})", SETUP + " again")
        return
    from cryptography import x509

    now = datetime.datetime.now(datetime.timezone.utc)
    for name in ("ca.pem", "server.pem"):
        cert = x509.load_pem_x509_certificate((directory / name).read_bytes())
        if cert.not_valid_after_utc < now + datetime.timedelta(days=1):
            yield Check(False, f"{name} expires on {cert.not_valid_after_utc:%Y-%m-%d}",
                        f"delete {directory}/*.pem and {SETUP}")
            return
    yield Check(True, f"certificates present and valid in {directory}")


def check_media() -> Iterable[Check]:
    sample = MEDIA / SAMPLE
    if not sample.exists() or sample.stat().st_size == 0:
        yield Check(False, f"sample video missing: {sample}", SETUP)
    else:
        yield Check(True, f"sample video present: {sample} ({sample.stat().st_size // 1024} kB)")


def _tiny_app():
    from quart import Quart, websocket

    app = Quart("course-doctor")

    @app.get("/")
    async def index():
        return {"doctor": "ok"}

    @app.websocket("/ws")
    async def echo():
        await websocket.send(f"echo: {await websocket.receive()}")

    return app


def _round_trip(http_url: str, ws_url: str, headers: dict | None = None, **client) -> None:
    """GET / and a websocket echo; raise on anything unexpected."""
    import httpx
    from websockets.sync.client import connect

    with httpx.Client(headers=headers, trust_env=False, timeout=10, **client) as http:
        response = http.get(http_url + "/")
        if response.status_code != 200 or response.json() != {"doctor": "ok"}:
            raise RuntimeError(f"GET / answered {response.status_code} {response.text[:80]!r}")
    with connect(ws_url + "/ws", additional_headers=headers, proxy=None, open_timeout=10) as socket:
        socket.send("ping")
        if (answer := socket.recv(timeout=10)) != "echo: ping":
            raise RuntimeError(f"the websocket answered {answer!r}")


def check_server(directory: Path = CERTS) -> Iterable[Check]:
    from . import serve

    try:
        with serve(_tiny_app(), name="course-doctor") as server:
            _round_trip(server.url, server.ws_url)
        yield Check(True, "serve() answers HTTP and websockets on 127.0.0.1")
    except Exception as error:  # noqa: BLE001 - reported as a line, not a traceback
        yield Check(False, f"serve() on loopback failed: {error}", "check that 127.0.0.1 is not blocked")
        return
    if not (directory / "ca.pem").exists():
        yield Check(None, "HTTPS not tried: no certificates yet")
        return
    try:
        trust = ssl.create_default_context(cafile=str(directory / "ca.pem"))
        with serve(_tiny_app(), name="course-doctor", certfile=str(directory / "server.pem"),
                   keyfile=str(directory / "server-key.pem")) as server:
            import httpx

            with httpx.Client(verify=trust, http2=True, trust_env=False, timeout=10) as client:
                version = client.get(server.url + "/").http_version
        yield Check(version == "HTTP/2", f"serve(app, tls=True) answers over HTTPS with {version}",
                    "HTTP/2 needs `httpx[http2]` (h2)")
    except Exception as error:  # noqa: BLE001
        yield Check(False, f"HTTPS with the course certificates failed: {error}", SETUP + " again")


def check_proxy() -> Iterable[Check]:
    base, why = page_route()
    where = f"{base}proxy/PORT/" if base else "http://127.0.0.1:PORT/"
    yield Check(True, f"pages open at {where} ({why})")
    installed = importlib.util.find_spec("jupyter_server_proxy") is not None
    yield Check(installed, "jupyter-server-proxy is installed" if installed else
                "jupyter-server-proxy is missing: a browser on another machine reaches no page", INSTALL)
    info = _jupyter_server() if installed else None
    if info is None or info.get("sock") or info.get("secure"):
        yield Check(None, "proxy not tried: no Jupyter server runs this process "
                          "(run the doctor in a JupyterLab terminal or cell to try it)")
        return
    host = info.get("hostname") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "localhost") else host
    root = f"{host}:{info['port']}{info['base_url']}"
    token = info.get("token") or os.environ.get("JUPYTERHUB_API_TOKEN", "")
    headers = {"Authorization": f"token {token}"} if token else None
    from . import serve

    try:
        with serve(_tiny_app(), name="course-doctor") as server:
            _round_trip(f"http://{root}proxy/{server.port}", f"ws://{root}proxy/{server.port}", headers)
        yield Check(True, f"HTTP and websockets reach the kernel through {info['base_url']}proxy/PORT/")
    except Exception as error:  # noqa: BLE001
        yield Check(False, f"the proxy at {info['base_url']}proxy/PORT/ failed: {error}",
                    "is the jupyter_server_proxy server extension enabled? (`jupyter server extension list`)")


CHECKS: list[Callable[[], Iterable[Check]]] = [check_python, check_packages, check_certs,
                                               check_media, check_server, check_proxy]


def main() -> int:
    """Print one line per check; return 1 if anything needs fixing, else 0."""
    problems = 0
    for check in CHECKS:
        try:
            results = list(check())
        except Exception as error:  # noqa: BLE001 - a broken check is a problem, not a crash
            results = [Check(False, f"{check.__name__} could not run: {error!r}")]
        for result in results:
            print(result, flush=True)
            problems += result.ok is False
    print("\nReady for the course." if not problems else
          f"\n{problems} problem{'s' * (problems > 1)} to fix first (see the ✗ lines).")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
