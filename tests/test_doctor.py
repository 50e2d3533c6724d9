"""The set-up check: ✓ on a ready machine, and a ✗ with the fix for each kind of problem.

The check through a real jupyter-server-proxy runs in tests/test_proxy.py.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
from importlib.metadata import version

import pytest

from conftest import ROOT
from course import _doctor
from course._doctor import Check


def _lines(results) -> list[str]:
    lines = [str(result) for result in results]
    assert lines, "the check reported nothing"
    return lines


def test_a_ready_machine_passes(certs, capsys):
    from course._setup import make_sample_media

    make_sample_media()  # what `python -m course setup` does
    assert _doctor.main() == 0
    out = capsys.readouterr().out
    assert "✗" not in out
    assert out.count("✓") >= 6 and out.rstrip().endswith("Ready for the course.")


def test_runs_as_a_script_with_an_exit_status(certs):
    done = subprocess.run([sys.executable, "-m", "course._doctor"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_lines_are_marked():
    assert str(Check(True, "fine", "never shown")) == "✓ fine"
    assert str(Check(False, "broken", "do this")) == "✗ broken: do this"
    assert str(Check(None, "not tried")) == "· not tried"


QUART, HTTPX = version("quart"), version("httpx")


@pytest.mark.parametrize("requirement, expected", [
    ("quart==0.0.1", f"quart {QUART} is installed, requirements.txt pins 0.0.1"),
    ("httpx[http2]==9.9", f"httpx {HTTPX} is installed, requirements.txt pins 9.9"),
    ("no-such-course-package==1.0", "no-such-course-package is not installed"),
])
def test_wrong_or_missing_packages_are_named(tmp_path, requirement, expected):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# pins\nhttpx=={HTTPX}\n{requirement}\n-e .\n")
    lines = _lines(_doctor.check_packages(requirements))
    assert len(lines) == 1 and lines[0].startswith(f"✗ {expected}")
    assert "pip install -r requirements.txt" in lines[0]


def test_matching_pins_pass(tmp_path):
    (tmp_path / "requirements.txt").write_text(f"quart=={QUART}\nhttpx[http2]=={HTTPX}\n")
    assert _lines(_doctor.check_packages(tmp_path / "requirements.txt")) == [
        f"✓ all 2 pinned packages match requirements.txt (Quart {QUART} on this Python)"]


def test_pins_for_another_python_are_not_compared(tmp_path):
    """requirements.txt pins Quart 0.23 for Python 3.13+ and 0.22 below: only one applies here."""
    (tmp_path / "requirements.txt").write_text(
        f'quart=={QUART}; python_version >= "3.0"\nquart==0.0.1; python_version < "3.0"\n')
    assert _lines(_doctor.check_packages(tmp_path / "requirements.txt"))[0].startswith("✓ all 1 pinned")


def test_a_missing_sample_video_points_at_setup(monkeypatch, tmp_path):
    monkeypatch.setattr(_doctor, "MEDIA", tmp_path)
    line = _lines(_doctor.check_media())[0]
    assert line.startswith("✗ sample video missing") and "python -m course setup" in line


def test_missing_certificates_point_at_setup(tmp_path):
    lines = _lines(_doctor.check_certs(tmp_path))
    assert lines[0].startswith("✗ certificates missing") and "python -m course setup" in lines[0]
    assert _lines(_doctor.check_server(tmp_path))[-1] == "· HTTPS not tried: no certificates yet"


def _write(directory, ca, cert) -> None:
    ca.cert_pem.write_to_path(directory / "ca.pem")
    cert.private_key_pem.write_to_path(directory / "server-key.pem")
    (directory / "server.pem").write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))


def test_expired_certificates_fail(tmp_path):
    import trustme

    ca = trustme.CA()
    now = datetime.datetime.now(datetime.timezone.utc)
    _write(tmp_path, ca, ca.issue_cert("localhost", "127.0.0.1", not_before=now - datetime.timedelta(days=30),
                                       not_after=now - datetime.timedelta(days=1)))
    lines = _lines(_doctor.check_certs(tmp_path))
    assert lines[0].startswith("✗ server.pem expires on") and "python -m course setup" in lines[0]


def test_a_certificate_from_another_authority_fails_the_handshake(tmp_path, certs):
    import trustme

    other = trustme.CA()  # the server presents a certificate of another CA ...
    _write(tmp_path, other, other.issue_cert("localhost", "127.0.0.1"))
    shutil.copy(certs / "ca.pem", tmp_path / "ca.pem")  # ... while clients trust the course CA
    lines = _lines(_doctor.check_server(tmp_path))
    assert lines[0] == "✓ serve() answers HTTP and websockets on 127.0.0.1"
    assert lines[-1].startswith("✗ HTTPS with the course certificates failed")


@pytest.fixture
def no_jupyter(monkeypatch):
    """As in a terminal or a test: no Jupyter server among this process's ancestors."""
    import course._display

    monkeypatch.setattr(course._display, "_jupyter_server", lambda: None)
    monkeypatch.setattr(_doctor, "_jupyter_server", lambda: None)
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "COURSE_PROXY_PREFIX"):
        monkeypatch.delenv(name, raising=False)


def test_the_proxy_is_required_behind_a_hub(monkeypatch, no_jupyter):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.setattr(_doctor.importlib.util, "find_spec", lambda name: None)
    import course._display

    monkeypatch.setattr(course._display.importlib.util, "find_spec", lambda name: None)
    lines = _lines(_doctor.check_proxy())
    assert lines[0] == "✓ pages open at http://127.0.0.1:PORT/ (jupyter-server-proxy is not installed)"
    assert lines[1].startswith("✗ jupyter-server-proxy is missing")


def test_on_a_hub_pages_go_through_its_prefix(monkeypatch, no_jupyter):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    lines = _lines(_doctor.check_proxy())
    assert lines[0] == "✓ pages open at /user/ada/proxy/PORT/ (JUPYTERHUB_SERVICE_PREFIX is /user/ada/)"


def test_without_a_jupyter_server_the_proxy_is_not_tried(no_jupyter):
    lines = _lines(_doctor.check_proxy())
    assert lines[0].startswith("✓ pages open at http://127.0.0.1:PORT/ (no Jupyter server runs this kernel")
    assert lines[-1].startswith("· proxy not tried")


def test_a_crashing_check_is_a_problem_not_a_traceback(monkeypatch, capsys):
    def broken():
        raise OSError("disk on fire")
        yield  # pragma: no cover

    monkeypatch.setattr(_doctor, "CHECKS", [_doctor.check_python, broken])
    assert _doctor.main() == 1
    out = capsys.readouterr().out
    assert "✗ broken could not run: OSError('disk on fire')" in out
    assert "1 problem to fix first" in out
