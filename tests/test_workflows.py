"""The pull-request and deploy workflows parse, and everything they call exists in the repo."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from helpers import REPO
from stacks.tools.cli import parser

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def load(path):
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def run_steps(document) -> list[str]:
    return [step["run"] for job in document["jobs"].values() for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_parses_with_jobs_and_steps(path):
    document = load(path)
    assert document["on"] and document["jobs"]
    for name, job in document["jobs"].items():
        assert job["steps"], f"{path.name}:{name} has no steps"
        assert all("uses" in s or "run" in s for s in job["steps"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_crucible_subcommand_and_script_exists(path):
    subcommands = set(parser()._subparsers._group_actions[0].choices)
    for script in run_steps(load(path)):
        for sub in re.findall(r"(?:^|[;&|(])\s*(?:[\w./-]*/)?crucible (\w+)", script, re.M):
            assert sub in subcommands, f"{path.name} calls `crucible {sub}`, which does not exist"
        for ref in re.findall(r"(\.github/scripts/[\w.-]+)", script):
            assert (REPO / ref).is_file(), f"{path.name} calls {ref}, which does not exist"
        for ref in re.findall(r"(policies/[\w./-]+\.(?:txt|json))", script):
            assert "${{" in ref or (REPO / ref).exists(), f"{path.name} refers to {ref}, which does not exist"


def test_pull_request_workflow_needs_no_credentials_for_plan_and_diff():
    document = load(REPO / ".github" / "workflows" / "pull-request.yml")
    offline = document["jobs"]["plan-and-diff"]
    text = yaml.safe_dump(offline)
    assert "secrets." not in text and "configure-aws-credentials" not in text
    preview = document["jobs"]["preview"]
    assert any(s.get("uses", "").startswith("pulumi/actions@") and s["with"]["command"] == "preview" and s["with"]["policyPacks"] == "policies" for s in preview["steps"])


def test_prod_deploys_through_an_environment_with_approval():
    document = load(REPO / ".github" / "workflows" / "deploy.yml")
    job = document["jobs"]["up"]
    assert job["environment"] == "${{ matrix.stack }}" and "prod" in job["strategy"]["matrix"]["stack"]
    assert job["strategy"]["max-parallel"] == 1
    assert any(s.get("uses", "").startswith("pulumi/actions@") and s["with"]["command"] == "up" for s in job["steps"])


def test_plan_and_diff_scripts_produce_a_comment(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash is not available")
    wrapper = tmp_path / "crucible"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m stacks.tools.cli \"$@\"\n")
    wrapper.chmod(0o755)
    plans = tmp_path / "plans"
    result = subprocess.run([".github/scripts/plan-all.sh", str(wrapper), str(plans / "head")], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    shutil.copytree(plans / "head", plans / "base")
    comment = tmp_path / "comment.md"
    subprocess.run([".github/scripts/diff-all.sh", str(wrapper), str(plans), str(comment)], cwd=REPO, check=True, timeout=600)
    text = comment.read_text()
    assert text.startswith("## Crucible plan") and "### dev" in text and "0 added, 0 updated, 0 replaced, 0 removed" in text
