"""The policy pack's verdicts in `crucible plan` and `crucible check`: every shipped stack passes every mandatory
rule, a plan edited to break a rule is caught by name, and mandatory violations fail the command."""

from __future__ import annotations

import copy
import json

import pytest

from helpers import shipped_report
from policies.pack import all_policies
from stacks.cli import main
from stacks.plan.locate import shipped_stacks


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_shipped_stack_passes_every_mandatory_policy(stack):
    document, _ = shipped_report(stack)
    verdicts = document["policies"]
    assert verdicts["evaluated"] > 0
    assert [v for v in verdicts["violations"] if v["level"] == "mandatory"] == []


def test_prod_plan_evaluates_the_whole_pack_and_says_so_last():
    document, lines = shipped_report("prod")
    assert document["policies"]["evaluated"] == len(all_policies())
    assert lines[-1].startswith("  ") and "Policies" in lines
    assert f"{len(all_policies())} policies evaluated: 0 mandatory violations" in "\n".join(lines)


def test_plan_exits_1_when_a_mandatory_policy_is_violated(monkeypatch, capsys):
    from stacks.plan import verdicts

    def breaking(resources, env):
        urn = next(r["urn"] for r in resources if r["type"] == "aws:eks/cluster:Cluster")
        return {"evaluated": 1, "violations": [{"policy": "sec-eks-002-private-endpoint", "level": "mandatory", "urn": urn, "message": "d\nopen"}]}

    monkeypatch.setattr(verdicts, "evaluate", breaking)
    assert main(["plan", "dev"]) == 1
    assert "mandatory sec-eks-002-private-endpoint" in capsys.readouterr().out


def _resource(document: dict, type_token: str, name: str | None = None) -> dict:
    return next(r for r in document["resources"] if r["type"] == type_token and (name is None or r["name"] == name))


def _nodepool(document: dict, pool: str) -> dict:
    return next(
        r for r in document["resources"] if r["type"] == "kubernetes:karpenter.sh/v1:NodePool" and r["inputs"]["metadata"]["name"] == pool
    )


def _open_endpoint(d):
    _resource(d, "aws:eks/cluster:Cluster")["inputs"]["vpcConfig"]["endpointPublicAccess"] = True


def _no_secrets_encryption(d):
    _resource(d, "aws:eks/cluster:Cluster")["inputs"].pop("encryptionConfig")


def _untainted_gpu_pool(d):
    _nodepool(d, "train")["inputs"]["spec"]["template"]["spec"].pop("taints")


def _unrotated_key(d):
    _resource(d, "aws:kms/key:Key", "cluster-secrets")["inputs"]["enableKeyRotation"] = False


def _imds_v1(d):
    _resource(d, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["metadataOptions"]["httpTokens"] = "optional"


def _unprotected_bucket(d):
    _resource(d, "aws:s3/bucket:Bucket", "checkpoints")["protect"] = False


def _public_bucket(d):
    block = next(r for r in d["resources"] if r["type"] == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    block["inputs"]["blockPublicPolicy"] = False


EDITS = {
    "sec-eks-002-private-endpoint": _open_endpoint,
    "sec-eks-001-secrets-encryption": _no_secrets_encryption,
    "ai-gpu-001-accelerator-taints": _untainted_gpu_pool,
    "sec-kms-001-cmk-hygiene": _unrotated_key,
    "sec-node-001-imdsv2-required": _imds_v1,
    "data-pul-003-protect-named-stateful": _unprotected_bucket,
    "sec-s3-001-public-access-block": _public_bucket,
}


@pytest.mark.parametrize("policy", sorted(EDITS))
def test_check_catches_an_edited_plan_by_policy_name(policy, tmp_path, capsys):
    names = {p.name for p in all_policies()}
    assert policy in names, f"{policy} is not in the pack; pack has e.g. {sorted(names)[:5]}"
    document = copy.deepcopy(shipped_report("prod")[0])
    EDITS[policy](document)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    out_json = tmp_path / "verdicts.json"
    assert main(["check", str(path), "--json", str(out_json)]) == 1
    assert f"mandatory {policy}" in capsys.readouterr().out
    assert policy in {v["policy"] for v in json.loads(out_json.read_text())["violations"] if v["level"] == "mandatory"}


def test_check_passes_the_unedited_plan(tmp_path):
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(shipped_report("prod")[0]))
    assert main(["check", str(path)]) == 0


def test_check_takes_the_environment_from_the_flag(tmp_path, capsys):
    # a public endpoint restricted to an allow-list: allowed in dev, never in prod
    document = copy.deepcopy(shipped_report("prod")[0])
    vpc = _resource(document, "aws:eks/cluster:Cluster")["inputs"]["vpcConfig"]
    vpc.update(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"])
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document))
    assert main(["check", str(path), "--env", "prod"]) == 1
    assert "mandatory sec-eks-002-private-endpoint" in capsys.readouterr().out
    main(["check", str(path), "--env", "dev"])
    assert "sec-eks-002-private-endpoint" not in capsys.readouterr().out


def test_check_refuses_what_is_not_a_plan(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"stack": "x"}))
    assert main(["check", str(path), "--env", "prod"]) == 2
    assert "resources" in capsys.readouterr().err


def test_advisories_are_grouped_by_policy_and_mandatory_ones_listed_each():
    from stacks.plan.verdicts import render

    def v(policy, level, name):
        return {"policy": policy, "level": level, "urn": f"urn:pulumi:s::p::t::{name}", "message": f"description\n{name} is wrong"}

    verdicts = {"evaluated": 3, "violations": [v("a", "mandatory", "x"), v("a", "mandatory", "y")] + [v("b", "advisory", n) for n in "pqrst"]}
    lines = render(verdicts)
    assert lines[0] == "3 policies evaluated: 2 mandatory violations, 5 advisory"
    assert lines[1:3] == ["mandatory a [x] x is wrong", "mandatory a [y] y is wrong"]
    assert lines[3:] == ["advisory  b [p, q, r +2] p is wrong"]
