"""README gives the two set-up commands, CI runs exactly the test one, and the notebook list is current."""

from __future__ import annotations

import re

from conftest import ROOT, notebook_paths

README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert len(blocks) >= 2, "README must open with two bash blocks: install+open, and test"
    return blocks[:2]


def test_first_command_installs_and_opens_the_first_notebook():
    install = _commands()[0]
    assert "pip install -r requirements.txt" in install
    assert "jupyter lab notebooks/00_start_here.ipynb" in install


def test_ci_runs_the_readmes_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = _commands()[1]
    assert test_command in [line.strip() for line in ci.splitlines()], "README.md and .ci/run differ"
    assert "venv" in ci, ".ci/run must build its own environment"
    # Both Quarts: 0.23 on Python 3.13 (the current one), 0.22 on 3.11.
    assert "run_suite 3.13" in ci and "run_suite 3.11" in ci


def test_every_notebook_is_listed_in_the_readme():
    notebooks = notebook_paths()
    assert notebooks
    for path in notebooks:
        assert f"notebooks/{path.name}" in README, f"{path.name} is missing from README's notebook list"


def test_requirements_pin_exact_versions():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    packages = [l for l in lines if l and not l.startswith(("#", "-e"))]
    assert packages
    unpinned = [l for l in packages if "==" not in l]
    assert not unpinned, f"pin exact versions: {unpinned}"
