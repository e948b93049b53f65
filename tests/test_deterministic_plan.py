"""Two runs of `crucible plan` on the same stack print and write the same bytes (issue 12, F).

Each run is its own process (the test's and a child) with its own PYTHONHASHSEED: set and dict-of-set iteration order, and with it the order
in which the SDK's tasks reach the mock monitor, differ between processes, never inside one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO
from stacks.tools.cli import main


def _plan_in_a_child(stack: str, workdir: Path, seed: str) -> tuple[bytes, bytes]:
    workdir.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "stacks.tools.cli", "plan", stack, "--json", "plan.json"],
        cwd=workdir,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr.decode()
    return done.stdout, (workdir / "plan.json").read_bytes()


def _plan_here(stack: str, workdir: Path, monkeypatch, capsys) -> tuple[bytes, bytes]:
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    capsys.readouterr()
    assert main(["plan", stack, "--json", "plan.json"]) in (0, 1)
    return capsys.readouterr().out.encode(), (workdir / "plan.json").read_bytes()


def _another_seed() -> str:
    """A hash seed other than this process's: PYTHONHASHSEED + 1 when it is set, else 1 (this process's is random)."""
    mine = os.environ.get("PYTHONHASHSEED", "random")
    return str(int(mine) + 1) if mine.isdigit() else "1"


@pytest.mark.parametrize("stack", ["prod", "prod-platform"])
def test_two_plans_of_a_stack_are_byte_identical(stack, tmp_path, monkeypatch, capsys):
    # this test's process (its hash seed, its threads, the session's warm caches) and a fresh one with another seed
    text_a, json_a = _plan_here(stack, tmp_path / "a", monkeypatch, capsys)
    text_b, json_b = _plan_in_a_child(stack, tmp_path / "b", _another_seed())
    assert json_a == json_b, "the plan JSON differs between two runs"
    assert text_a == text_b, "the plan text differs between two runs"


def test_resources_are_listed_after_their_parent_provider_and_dependencies():
    from helpers import shipped_report

    document, _ = shipped_report("prod")
    seen: set[str] = set()
    for r in document["resources"]:
        provider = r["provider"].rsplit("::", 1)[0] if r["provider"] else ""
        for before in {r["parent"], provider, *r["dependencies"]} & {x["urn"] for x in document["resources"]}:
            assert before in seen, f"{r['urn']} is listed before {before}"
        seen.add(r["urn"])


def test_dependency_lists_are_sorted():
    from helpers import shipped_report

    document, _ = shipped_report("prod")
    for r in document["resources"]:
        assert r["dependencies"] == sorted(r["dependencies"]), r["urn"]
        assert all(urns == sorted(urns) for urns in r["property_dependencies"].values()), r["urn"]


@pytest.mark.parametrize("first", ["stacks.tools.plan.admitted", "stacks.tools.plan.pod_security", "stacks.tools.plan.reaches", "stacks.tools.plan.lands"])
def test_the_workload_checks_come_in_their_declared_order_whichever_module_is_imported_first(first):
    # The checks add themselves to lands.CHECKS as their modules load; a process that imported admitted before lands
    # listed pod security before admitted in every workload's results (found by the test above, run in the suite).
    script = f"import {first}\nfrom stacks.tools.plan import lands, reaches\nprint(' '.join(name for name, _, _ in lands.ordered_checks()))"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["lands", "admitted", "podSecurity", "reaches"]
