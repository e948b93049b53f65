"""`crucible check` evaluates the pack the way the engine would (issue 18 A.9): the saved plan keeps what the mocks
computed beyond the inputs (`computedOutputs`: ids, ARNs, auto-names), the check hands the pack the outputs rebuilt
from it and the (possibly edited) inputs, and `--preview` evaluates as a first `pulumi preview` does."""

from __future__ import annotations

import copy
import json

from helpers import report_copy
from stacks.tools.cli import main
from stacks.tools.plan.model import computed_outputs, with_computed

ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Mandatory rules whose documents are built from ARNs computed at creation (tests/policies/test_policy_preview.py)
CANNOT_RUN_AT_FIRST_PREVIEW = {"sec-iam-001-no-admin-wildcards", "sec-iam-003-tenant-data-scope", "sec-s3-003-tls-only", "rel-iam-005-policy-size-quotas"}


def _prod() -> dict:
    return report_copy("prod")


def _by_name(document: dict, type_token: str, name: str) -> dict:
    return next(r for r in document["resources"] if r["type"] == type_token and r["name"] == name)


def _check(tmp_path, document: dict, *flags: str) -> tuple[int, dict]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    out = tmp_path / "verdicts.json"
    code = main(["check", str(path), "--json", str(out), *flags])
    return code, json.loads(out.read_text()) if out.exists() else {}


def _admin_to_the_team_role_by_its_generated_arn(document: dict) -> None:
    role = _by_name(document, "aws:iam/role:Role", "team-llm-data")
    arn = document["computedOutputs"][role["urn"]]["arn"]
    association = copy.deepcopy(next(r for r in document["resources"] if r["type"] == "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"))
    association.update(name="team-llm-admin", urn=association["urn"].rsplit("::", 1)[0] + "::team-llm-admin")
    association["inputs"].update(principalArn=arn, policyArn=ADMIN, accessScope={"type": "cluster"})
    document["resources"].append(association)


def test_the_saved_plan_keeps_what_the_mocks_computed_and_not_what_they_echoed():
    document = _prod()
    role = _by_name(document, "aws:iam/role:Role", "team-llm-data")
    assert role["inputs"].get("name") is None  # auto-named by the provider's Check
    computed = document["computedOutputs"][role["urn"]]
    assert computed["name"].startswith("team-llm-data-") and computed["arn"].endswith(f":role/{computed['name']}")
    cluster = next(r for r in document["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    vpc = document["computedOutputs"][cluster["urn"]]["vpcConfig"]
    assert "clusterSecurityGroupId" in vpc and "endpointPublicAccess" not in vpc  # an echoed input is not kept


def test_edited_inputs_win_over_the_saved_outputs():
    inputs = {"vpcConfig": {"endpointPublicAccess": True, "subnetIds": ["s-1"]}, "name": ""}
    saved = computed_outputs(
        {"vpcConfig": {"endpointPublicAccess": False}}, {"vpcConfig": {"endpointPublicAccess": False, "clusterSecurityGroupId": "sg-1"}, "name": "eks-1a2b"}
    )
    assert with_computed(inputs, saved) == {
        "vpcConfig": {"endpointPublicAccess": True, "subnetIds": ["s-1"], "clusterSecurityGroupId": "sg-1"},
        "name": "eks-1a2b",
    }


def test_check_hands_the_pack_the_outputs_so_an_auto_named_tenant_role_is_recognised(tmp_path, capsys):
    document = _prod()
    _admin_to_the_team_role_by_its_generated_arn(document)
    code, verdicts = _check(tmp_path, document)
    assert code == 1
    assert [v["urn"].rsplit("::", 1)[-1] for v in verdicts["violations"] if v["policy"] == "sec-eks-004-access-entries" and v["level"] == "mandatory"] == [
        "team-llm-admin"
    ]
    assert "mandatory sec-eks-004-access-entries" in capsys.readouterr().out
    # the role's name exists only in the outputs: a plan without them (written before computedOutputs) cannot tell
    del document["computedOutputs"]
    code, verdicts = _check(tmp_path, document)
    assert "team-llm-admin" not in {v["urn"].rsplit("::", 1)[-1] for v in verdicts["violations"] if v["policy"] == "sec-eks-004-access-entries"}


def test_check_of_the_unedited_plan_gives_the_plans_own_verdicts(tmp_path):
    document = _prod()
    code, verdicts = _check(tmp_path, document)
    assert code == 0 and verdicts["violations"] == document["policies"]["violations"]


def test_check_preview_says_which_mandatory_rules_cannot_run_and_fails_none(tmp_path, capsys):
    code, verdicts = _check(tmp_path, _prod(), "--preview")
    assert code == 0
    out = capsys.readouterr().out
    assert "preview: ids and computed outputs unknown" in out.splitlines()[0]
    cannot = {v["policy"] for v in verdicts["violations"] if "during preview" in v["message"]}
    assert cannot == CANNOT_RUN_AT_FIRST_PREVIEW
    assert {v["level"] for v in verdicts["violations"] if v["policy"] in cannot} == {"advisory"}
    assert [v for v in verdicts["violations"] if v["level"] == "mandatory"] == []


def test_check_preview_still_fails_what_a_preview_can_judge(tmp_path, capsys):
    document = _prod()
    cluster = next(r for r in document["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] = True
    code, verdicts = _check(tmp_path, document, "--preview")
    assert code == 1
    assert "sec-eks-002-private-endpoint" in {v["policy"] for v in verdicts["violations"] if v["level"] == "mandatory"}


def test_check_preview_refuses_a_plan_without_computed_outputs(tmp_path, capsys):
    document = _prod()
    del document["computedOutputs"]
    code, _ = _check(tmp_path, document, "--preview")
    assert code == 2
    assert "computedOutputs" in capsys.readouterr().err


def test_check_takes_a_stack_name_and_plans_it_first(monkeypatch, capsys):
    from helpers import shipped_plan
    from stacks.tools.plan import locate

    shipped_plan("prod")  # planned before the patch: shipped_plan itself calls locate.plan_stack
    monkeypatch.setattr(locate, "plan_stack", lambda source: shipped_plan(source))  # the session's plan of the stack
    assert main(["check", "prod", "--preview"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("crucible check prod (prod; preview") and "0 mandatory violations" in out
    assert "advisory  sec-s3-003-tls-only" in out and "during preview" in out
