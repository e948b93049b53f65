"""The code is clean under the linter and the formatter the project configures (pyproject.toml `[tool.ruff]`): CI
runs them through this file, so a change that leaves lint or formatting behind fails the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def ruff() -> list[str]:
    beside = Path(sys.executable).with_name("ruff")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed (the test extra installs it: pip install -e '.[test]')")
    return [found]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ruff(), *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_code_passes_the_linter():
    result = run("check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted():
    result = run("format", "--check", ".")
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout + result.stderr
