"""Type hints are checked where they pay: mypy, configured in pyproject.toml ([tool.mypy]), finds no error in the
packages it names (the config schema, the components, the layers) nor in what they import."""

import subprocess
import sys

import pytest

from helpers import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")


def mypy_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]


def test_mypy_checks_the_schema_the_components_and_the_layers():
    config = mypy_config()
    assert {"stacks/spec", "components", "stacks/layers"} <= set(config["files"])
    assert config["python_version"] == "3.11"
    assert config["warn_unused_ignores"] is True  # an ignore that no longer silences anything is an error


def test_the_configured_packages_type_check():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]' installs it)")
    # Run from the repository root so mypy reads [tool.mypy] from pyproject.toml and checks the files it names.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-color-output", "--no-error-summary"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    errors = [line for line in run.stdout.splitlines() if ": error: " in line]
    assert run.returncode == 0, f"mypy found {len(errors)} error(s):\n" + "\n".join(errors or [run.stdout, run.stderr])
