"""Binder builds the same environment as requirements.txt, and prepares everything at build time."""

from __future__ import annotations

import os
import re
import tomllib

import pytest

from conftest import ROOT

BINDER = ROOT / "binder"


def _requirements(path) -> list[str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def test_binder_pins_are_the_repos_pins():
    """repo2docker reads only binder/ when it exists: a drifted copy would be a different course."""
    repo, binder = _requirements(ROOT / "requirements.txt"), _requirements(BINDER / "requirements.txt")
    pins = [line for line in repo if not line.startswith("-e")]
    assert pins, "requirements.txt is empty"
    assert binder == pins
    exact = r"[A-Za-z0-9_.\-]+(\[[a-z0-9,_\-]+\])?==[0-9][^\s;]*(; python_version [<>=]+ \"3\.\d+\")?"
    assert all(re.fullmatch(exact, p) for p in pins), [p for p in pins if not re.fullmatch(exact, p)]


def test_jupyter_server_proxy_is_pinned():
    """Binder's base image lacks it; without it no page of the course reaches the browser."""
    names = [line.split("==")[0] for line in _requirements(BINDER / "requirements.txt")]
    assert "jupyter-server-proxy" in names


def test_the_course_package_installs_in_post_build_not_from_the_requirements():
    # A local path ("-e .") in binder/requirements.txt makes repo2docker skip its cached layer of
    # pinned packages, so every commit would reinstall them all; postBuild installs it instead.
    assert not [line for line in _requirements(BINDER / "requirements.txt") if line.startswith("-")]
    assert "python -m pip install --no-deps -e ." in (BINDER / "postBuild").read_text()


def test_notebook_matches_the_pinned_jupyterlab():
    """The base image's notebook 7.4 wants jupyterlab<4.5; a pinned notebook release keeps pip quiet."""
    pins = dict(line.split("==") for line in _requirements(BINDER / "requirements.txt") if ";" not in line)
    assert pins["notebook"].startswith("7.6") and pins["jupyterlab"].startswith("4.6")


def test_runtime_is_a_python_the_course_supports():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime == "python-3.13"  # the current Quart, 0.23, needs Python 3.13
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_post_build_stops_at_the_first_failure_and_runs_course_commands():
    script = (BINDER / "postBuild").read_text()
    assert script.startswith("#!/bin/bash\n")
    assert os.access(BINDER / "postBuild", os.X_OK), "postBuild must be executable"
    assert re.search(r"^set -e", script, re.M), "postBuild needs set -e, or a failed step goes unnoticed"
    commands = re.findall(r"^python -m course (\w+)", script, re.M)
    assert commands[0] == "setup"

    from course.__main__ import COMMANDS

    missing = [command for command in commands if command not in COMMANDS]
    assert not missing, f"postBuild runs `python -m course {missing[0]}`, which does not exist"
    assert not re.search(r"\b(curl|wget)\b", script), "nothing downloads but the pinned packages"
    installs = re.findall(r"pip install .*", script)
    assert installs == ["pip install --no-deps -e ."], "install from binder/requirements.txt only"
