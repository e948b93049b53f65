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


def test_no_kubernetes_resource_call_is_left_for_mypy_to_explain():
    # A camelCase spec passed to a typed pulumi_kubernetes resource behind `# type: ignore[call-overload]` still makes
    # mypy explain the mismatch against every overload's union of TypedDicts: one such DaemonSet took mypy 2.4.1 210 s
    # and 19.5 GB, and 28 of them killed CI's run. `components.manifests.as_api(...)` hands the spec over as Any.
    silenced = []
    for folder in ("addons", "components", "stacks/layers"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if "type: ignore[call-overload]" in line or "type: ignore[arg-type]" in line:
                    silenced.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert silenced == [], "wrap the Kubernetes-spelled value in components.manifests.as_api(...) instead:\n" + "\n".join(silenced)
