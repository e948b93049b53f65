#!/usr/bin/env python3
"""The lock files are what pyproject.toml asks for: `check-lock.py [repo root]` exits 1, naming each problem, when

- a line of a lock pins no exact version (`name==version`) or carries no `--hash` (pip --require-hashes needs both);
- a dependency of pyproject.toml (requirements.lock: [project].dependencies; requirements-test.lock: those and the
  `test` extra) or of policies/requirements.txt (policies/requirements.lock) is missing from its lock, or locked at a
  version outside its range;
- .pulumi-version (the exact Pulumi CLI the workflows install) is not the pulumi SDK version the locks name.

Regenerate after changing a range (README, "Updating the lock files"):
  pip-compile --generate-hashes --allow-unsafe --strip-extras -o requirements.lock pyproject.toml
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def read_lock(path: Path) -> tuple[dict[str, str], list[str]]:
    """{canonical name: version} of a pip-compile --generate-hashes file, and its problems."""
    pins: dict[str, str] = {}
    problems: list[str] = []
    entries: list[list[str]] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if line.startswith((" ", "\t")) and entries:
            entries[-1].append(line.strip())
        else:
            entries.append([line.strip()])
    for entry in entries:
        text = " ".join(part.rstrip("\\").strip() for part in entry)
        if text.startswith("-"):
            problems.append(f"{path.name}: option line {text!r}: a hashed lock holds only pinned packages")
            continue
        match = PIN.match(text)
        if not match:
            problems.append(f"{path.name}: {text!r} pins no exact version (name==version)")
            continue
        name, version = canonicalize_name(match.group(1)), match.group(2)
        if "--hash=sha256:" not in text:
            problems.append(f"{path.name}: {name}=={version} has no --hash (pip install --require-hashes refuses it)")
        pins[name] = version
    return pins, problems


def unmet(requirements: list[str], pins: dict[str, str], lock: str) -> list[str]:
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{lock}: {requirement.name} ({text}) is not locked: regenerate the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{lock}: {requirement.name}=={pins[name]} is outside {text!r}: regenerate the lock")
    return problems


def check(root: Path) -> list[str]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    runtime = list(project["dependencies"])
    test = runtime + list(project.get("optional-dependencies", {}).get("test", []))
    pack = [line.split("#", 1)[0].strip() for line in (root / "policies" / "requirements.txt").read_text().splitlines()]
    pack = [line for line in pack if line]
    problems: list[str] = []
    locked: dict[str, dict[str, str]] = {}
    for lock, wanted in (("requirements.lock", runtime), ("requirements-test.lock", test), ("policies/requirements.lock", pack)):
        path = root / lock
        if not path.is_file():
            problems.append(f"{lock} is missing")
            continue
        pins, found = read_lock(path)
        locked[lock] = pins
        problems += found + unmet(wanted, pins, lock)
    cli = (root / ".pulumi-version").read_text().strip() if (root / ".pulumi-version").is_file() else ""
    if not re.fullmatch(r"\d+\.\d+\.\d+", cli):
        problems.append(f".pulumi-version must name one exact Pulumi CLI version (x.y.z), got {cli!r}")
    for lock, pins in locked.items():
        if "pulumi" in pins and pins["pulumi"] != cli:
            problems.append(f".pulumi-version {cli} differs from the pulumi SDK {pins['pulumi']} in {lock}: move them together")
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2]
    problems = check(root)
    for problem in problems:
        print(f"check-lock: {problem}", file=sys.stderr)
    if not problems:
        print("check-lock: requirements.lock, requirements-test.lock and policies/requirements.lock match their ranges")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
