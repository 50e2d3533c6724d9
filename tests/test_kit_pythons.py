"""The kit's tests pass on Python 3.11, 3.12 and 3.13 (Quart 0.22 on the first two, 0.23 on 3.13).

The running interpreter covers one version; this test builds a small virtual
environment for each other version it can find (pyenv's, or python3.X on PATH)
with the pinned kit dependencies (pip applies their Python markers), cached between
runs, and runs the kit's tests there.
Python 3.12 changed asyncio's shutdown (the server waits for open connections),
which is exactly what the kit must handle.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT

VERSIONS = ["3.11", "3.12", "3.13"]
KIT_PACKAGES = ("quart", "hypercorn", "uvicorn", "httpx", "websockets", "flask", "trustme", "psutil", "jupyter-server-proxy",
                "pytest", "pytest-asyncio", "pytest-timeout")


def _pins() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-"))]
    extras = ["pytest-timeout==2.4.0"]  # a test extra, pinned in pyproject.toml
    wanted = [pin for pin in pins + extras if re.split(r"[\[=;]", pin)[0].lower() in KIT_PACKAGES]
    assert len(wanted) >= len(KIT_PACKAGES) - 1, wanted
    return wanted


def _interpreter(version: str) -> str | None:
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"), reverse=True)
    candidates.append(shutil.which(f"python{version}") or "")
    for candidate in filter(None, candidates):  # a pyenv shim may exist without its version active
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


OTHER_VERSIONS = [v for v in VERSIONS if v != f"{sys.version_info.major}.{sys.version_info.minor}"]


@pytest.mark.slow
@pytest.mark.parametrize("version", OTHER_VERSIONS)
def test_kit_tests_pass_on(version, tmp_path):
    python = _interpreter(version)
    if python is None:
        message = f"Python {version} not found (pyenv install {version}, or put python{version} on PATH)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    pins = _pins()
    key = hashlib.sha256("\n".join([python, *pins]).encode()).hexdigest()[:12]
    venv = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "quart-course" / f"py{version}-{key}"
    bin_python = venv / "bin" / "python"
    if not (venv / "ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(bin_python), "-m", "pip", "install", "-q", *pins], check=True, timeout=600)
        (venv / "ready").touch()
    result = subprocess.run(
        [str(bin_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_kit.py",
         "tests/test_kit_process.py"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
