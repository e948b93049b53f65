"""`crucible plan`: human summary, JSON shape, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys


from helpers import REPO
from stacks.tools.cli import main

RESOURCE_KEYS = {"urn", "type", "name", "parent", "inputs", "protect", "retain_on_delete", "dependencies", "provider"}


def test_plan_prints_a_summary_by_layer(capsys):
    assert main(["plan", "dev"]) == 0
    out = capsys.readouterr().out
    assert "crucible plan: stack dev (dev, us-west-2)" in out
    assert "network" in out and "cluster" in out and "Key settings" in out
    assert "EKS 1.34 'crucible-dev'" in out


def test_plan_json_has_the_documented_shape(tmp_path):
    target = tmp_path / "plan.json"
    assert main(["plan", "prod", "--json", str(target)]) == 0
    document = json.loads(target.read_text())
    assert {"stack", "project", "resources", "outputs"} <= set(document)
    assert document["stack"] == "prod" and document["project"] == "crucible"
    assert all(RESOURCE_KEYS <= set(r) for r in document["resources"])
    types = {r["type"] for r in document["resources"]}
    assert {
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:eks/cluster:Cluster",
        "aws:eks/addon:Addon",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:kms/key:Key",
    } <= types
    cluster = next(r for r in document["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] is False
    assert cluster["inputs"]["encryptionConfig"]["resources"] == ["secrets"]
    assert document["outputs"]["kubeconfig"] == "[secret]"


def test_plan_accepts_a_path_to_a_stack_file(tmp_path, capsys):
    source = (REPO / "stacks" / "Pulumi.dev.yaml").read_text()
    path = tmp_path / "Pulumi.mine.yaml"
    path.write_text(source)
    assert main(["plan", str(path)]) == 0
    assert "stack mine" in capsys.readouterr().out


def test_a_typo_exits_2_naming_the_key(tmp_path, capsys):
    path = tmp_path / "Pulumi.typo.yaml"
    path.write_text((REPO / "stacks" / "Pulumi.dev.yaml").read_text().replace("endpointPublicAccess", "endpointPublicAcess"))
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "crucible:cluster.endpointPublicAcess: unknown setting (did you mean: endpointPublicAccess" in err
    assert "Traceback" not in err


def test_unknown_stack_exits_2_listing_shipped_stacks(capsys):
    assert main(["plan", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Pulumi.nope.yaml" in err and "dev" in err


def test_invalid_yaml_exits_2(tmp_path, capsys):
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text("config: [unclosed\n")
    assert main(["plan", str(path)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_console_entry_runs_without_credentials(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "stacks.tools.cli", "plan", "dev", "--json", str(tmp_path / "p.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "p.json").read_text())["stack"] == "dev"


def test_verify_options_are_read_only_for_verify():
    """The parser of `crucible plan` leaves stacks/tools/verify unimported (a tenth of a second of every plan), and
    `crucible verify` still takes its own options."""
    probe = (
        "import sys\n"
        "from stacks.tools.cli import parser\n"
        "parser(['plan', 'dev']).parse_args(['plan', 'dev'])\n"
        "print('stacks.tools.verify.command' in sys.modules)\n"
        "args = parser(['verify', 'dev', '--deadline', '5']).parse_args(['verify', 'dev', '--deadline', '5'])\n"
        "print(args.deadline, 'stacks.tools.verify.command' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "5.0", "True"]
