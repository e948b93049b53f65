"""Offline evaluation closer to the engine (issue 18 A.9): inputs after Check (auto-names), outputs for stack
policies, and a preview mode where ids and computed outputs are unknown -- in which no mandatory rule passes
silently: it judges, or it says "can't run policy ... during preview"."""

from __future__ import annotations

import copy
import functools

import pytest

import test_policy_shapes  # noqa: F401  (registers every shape)
from helpers import shipped_plan
from policies.offline import evaluate, preview_resources
from policy_builder import UNKNOWN, res, run
from shapes import SHAPES
from stacks.tools.plan.model import record_of

# Mandatory rules that need a computed value of the prod stack and so cannot run in its first preview: their policy
# documents are built from bucket and role ARNs (Output.json_dumps of unknown ARNs is one unknown string).
CANNOT_RUN_AT_FIRST_PREVIEW = {
    "sec-iam-001-no-admin-wildcards": "role and bucket policies name ARNs computed at creation",
    "sec-iam-003-tenant-data-scope": "team policies name the buckets' ARNs",
    "sec-s3-003-tls-only": "bucket policies name the bucket's ARN",
    "rel-iam-005-policy-size-quotas": "the size of a policy naming computed ARNs is known once they are (crucible plan sizes them with the mocks')",
}


@functools.lru_cache(maxsize=None)
def _prod() -> tuple[list, dict]:
    planned = shipped_plan("prod")
    return [record_of(r) for r in planned.run.resources], {r.urn: r.outputs for r in planned.run.resources}


def _cannot_run(report) -> set[str]:
    return {v.policy for v in report.violations if "during preview" in v.message}


def test_prod_with_outputs_and_auto_names_passes_every_mandatory_rule():
    resources, outputs = _prod()
    assert evaluate(resources, "prod", outputs=outputs).mandatory_violations == []


def test_prod_first_preview_has_no_mandatory_violation_and_says_which_rules_cannot_run():
    resources, outputs = _prod()
    report = evaluate(resources, "prod", outputs=outputs, preview=True)
    assert report.mandatory_violations == []
    assert _cannot_run(report) == set(CANNOT_RUN_AT_FIRST_PREVIEW)


def test_preview_makes_computed_values_unknown_and_keeps_literals():
    resources, outputs = _prod()
    previewed = {r["urn"]: r for r in preview_resources(resources, outputs)}
    policies = [r for r in resources if r["type"] == "aws:s3/bucketPolicy:BucketPolicy"]
    assert policies and all(previewed[p["urn"]]["inputs"]["policy"] == "[unknown]" for p in policies)
    clusters = [r for r in resources if r["type"] == "aws:eks/cluster:Cluster"]
    assert clusters and all(previewed[c["urn"]]["inputs"]["version"] == c["inputs"]["version"] for c in clusters)


def test_auto_names_from_the_mocks_reach_resource_policies():
    role = res("aws:iam/role:Role", "team-llm", {"assumeRolePolicy": "{}", "tags": {"crucible.io/team": "llm"}})
    admin = res(
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "by-arn",
        {"principalArn": "arn:aws:iam::111122223333:role/team-llm-5a1c", "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"},
    )
    cluster = res("aws:eks/cluster:Cluster", "eks", {"accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}})
    without = evaluate([cluster, role, admin], "prod").of("sec-eks-004-access-entries")
    with_names = evaluate([cluster, role, admin], "prod", outputs={role["urn"]: {"name": "team-llm-5a1c"}}).of("sec-eks-004-access-entries")
    assert without == [] and [v.urn.rsplit("::", 1)[-1] for v in with_names] == ["by-arn"]


def _harsh_preview(resources: list[dict]) -> list[dict]:
    """Every input computed from another resource unknown: the most a preview can hide."""
    out = copy.deepcopy(resources)
    for r in out:
        for prop, deps in r.get("property_dependencies", {}).items():
            if deps and prop in r["inputs"]:
                r["inputs"][prop] = UNKNOWN
    return out


CASES = [(policy, shape) for policy, by_shape in sorted(SHAPES.items()) for shape in sorted(by_shape)]


@pytest.mark.parametrize("policy, shape", CASES, ids=[f"{p}:{s}" for p, s in CASES])
def test_no_firing_shape_passes_silently_at_preview(policy, shape):
    resources, expected = SHAPES[policy][shape]()
    report = run(_harsh_preview(resources))
    fired = {v.urn.rsplit("::", 1)[-1] for v in report.of(policy) if "during preview" not in v.message}
    assert set(expected) <= fired or policy in _cannot_run(report), report.of(policy)


def test_an_unknown_value_does_not_silence_the_independent_checks_of_the_same_rule():
    key = res("aws:kms/key:Key", "k", {"enableKeyRotation": False, "deletionWindowInDays": 7, "policy": UNKNOWN}, protect=True)
    found = run([key]).of("sec-kms-001-cmk-hygiene")
    judged = [v for v in found if "during preview" not in v.message]
    assert len(judged) == 2 and {v.level for v in judged} == {"mandatory"}  # rotation and deletion window
    assert any("during preview" in v.message for v in found)  # and the policy part says it cannot run

    from pools import node_pool

    pool = node_pool("train", disruption=UNKNOWN, expire="720h")
    found = run([pool]).of("ai-karp-002-training-disruption")
    assert [v.level for v in found if "during preview" not in v.message] == ["mandatory"]  # the expiry still fires
