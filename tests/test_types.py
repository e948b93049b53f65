"""Type hints are checked where they pay: mypy, configured in pyproject.toml ([tool.mypy]), finds no error in the
packages it names (the config schema, the components, the layers) nor in what they import."""

import ast
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


SDK_ALIASES = {"pulumi_aws": "pulumi_aws", "pulumi_kubernetes": "pulumi_kubernetes"}


def _sdk_modules_used() -> dict[str, set[str]]:
    """{module of pulumi_aws/pulumi_kubernetes the code reaches: files} for every `aws.<module>` / `k8s.<group>` (the
    package as imported under any alias) and `from pulumi_aws import <module>` in the packages mypy reads."""
    used: dict[str, set[str]] = {}
    for folder in ("stacks", "components", "addons"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            aliases = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    aliases.update({a.asname or a.name: a.name for a in node.names if a.name in SDK_ALIASES})
                elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in SDK_ALIASES:
                    for a in node.names:
                        used.setdefault(f"{node.module}.{a.name}" if node.module in SDK_ALIASES else node.module, set()).add(str(path.relative_to(REPO)))
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                    attribute = node.attr
                    if attribute[:1].isupper():  # a class of the package root (aws.Provider, k8s.Provider)
                        attribute = "provider"
                    used.setdefault(f"{aliases[node.value.id]}.{attribute.removesuffix('_output')}", set()).add(str(path.relative_to(REPO)))
    return used


def _followed(module: str, patterns: list[str]) -> bool:
    return any(module == p or (p.endswith(".*") and (module == p[:-2] or module.startswith(p[:-1]))) for p in patterns)


def test_every_provider_sdk_module_the_code_uses_is_type_checked():
    overrides = mypy_config().get("overrides") or []
    followed = [m for o in overrides if o.get("follow_imports") == "normal" for m in o["module"]]
    skipped = [m for o in overrides if o.get("follow_imports") == "skip" for m in o["module"]]
    assert {"pulumi_aws.*", "pulumi_kubernetes.*"} <= set(skipped)
    used = _sdk_modules_used()
    assert "pulumi_aws.iam" in used and "pulumi_kubernetes.core" in used  # the scan finds what is there
    unchecked = {module: sorted(files)[:3] for module, files in used.items() if not _followed(module, followed)}
    assert unchecked == {}, "add these to the followed list of [[tool.mypy.overrides]] in pyproject.toml (mypy reads them as Any otherwise)"
