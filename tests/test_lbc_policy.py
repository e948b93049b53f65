"""The load balancer controller's IAM policy against the upstream reference policy of its release
(kubernetes-sigs/aws-load-balancer-controller v3.5.0 docs/install/iam_policy.json, in
../shared/upstream/extras/aws-load-balancer-controller/), statement by statement.

Both documents are reduced to what they can actually grant: (action, resource type) pairs, with actions expanded and
resource ARNs matched to the action's resource types by `parliament`'s copy of the IAM service authorization
reference (string matching cannot tell that a target-group ARN never authorizes ModifyListenerAttributes, whose
only resource type is `listener`). Crucible's statements are scoped tighter (this account and region, this VPC, the
cluster's tag value), so conditions and ARN scoping are not compared — grants are: every pair upstream grants must be
granted, nothing upstream does not grant may be, and no statement may hold an action on a resource it can never
authorize. Differences are allowed only where DIFFERENCES lists them with a reason."""

from __future__ import annotations

import json
import re

import pytest
import parliament  # the test extra: its copy of the IAM service authorization reference

from addons.load_balancer_controller import controller_policy
from helpers import shared_dir

# (action, resource type) -> why Crucible differs from upstream there. Otherwise Crucible scopes ARNs, VPC and tag
# values tighter but grants exactly what upstream grants.
DIFFERENCES: dict[tuple[str, str], str] = {
    ("ec2:AuthorizeSecurityGroupIngress", "security-group-rule"): (
        "an optional resource type, authorized only when the request tags the new rules (the controller does not); "
        "upstream reaches it through Resource '*', Crucible grants rules on security groups of the cluster's VPC only"
    ),
}


# Actions newer than parliament's copy of the authorization reference: their resource types, from the ELB API
# reference (ModifyIpPools: "[Application Load Balancers] ... LoadBalancerArn, required").
NEWER_ACTIONS = {"elasticloadbalancing:ModifyIpPools": ["loadbalancer/app/"]}


def _expand(pattern: str) -> list[str]:
    if pattern in NEWER_ACTIONS:
        return [pattern]
    return [f"{e['service']}:{e['action']}" for e in parliament.expand_action(pattern)]


def _privileges(action: str) -> dict:
    service, name = action.split(":", 1)
    # A prefix can span several service entries (elasticloadbalancing: Classic and v2): take the one that has it,
    # the newest when both do (ELBv2's resource types are listener/app, loadbalancer/app/, targetgroup...).
    found = [
        {"service": svc, "privilege": privilege}
        for svc in parliament.iam_definition
        if svc["prefix"] == service
        for privilege in svc["privileges"]
        if privilege["privilege"].lower() == name.lower()
    ]
    if not found:
        raise LookupError(action)
    return found[-1]


def _resource_types(action: str) -> list[tuple[str, str]]:
    """(resource type, ARN format) pairs the action authorizes; [] when it supports only Resource "*"."""
    if action in NEWER_ACTIONS:
        formats = {r["resource"]: r["arn"] for svc in parliament.iam_definition if svc["prefix"] == action.split(":")[0] for r in svc["resources"]}
        return [(name, formats[name]) for name in NEWER_ACTIONS[action]]
    found = _privileges(action)
    formats = {r["resource"]: r["arn"] for r in found["service"]["resources"]}
    out = []
    for rt in found["privilege"]["resource_types"]:
        name = rt["resource_type"].rstrip("*")
        if name:
            out.append((name, formats[name]))
    return out


def grants(statement: dict) -> set[tuple[str, str]]:
    """What an Allow statement can grant: (action, resource type), resource type '*' for actions without any."""
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    out = set()
    for pattern in actions:
        for action in _expand(pattern):
            types = _resource_types(action)
            for resource in resources:
                if not types:
                    if resource == "*":
                        out.add((action, "*"))
                    continue
                for name, arn_format in types:
                    generic = re.sub(r"\$\{.*?\}", "*", arn_format)
                    if resource == "*" or parliament.is_arn_match(name, generic, resource):
                        out.add((action, name))
    return out


def dead_grants(statement: dict) -> list[tuple[str, str]]:
    """(action, resource) of a statement that IAM can never authorize: the action takes none of the resources."""
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    dead = []
    for action in actions:
        if not any(grants({"Action": action, "Resource": r}) for r in resources):
            dead.append((action, ", ".join(resources)))
    return dead


def _upstream() -> list[dict]:
    path = shared_dir() / "upstream/extras/aws-load-balancer-controller/iam_policy.json"
    return [s for s in json.loads(path.read_text())["Statement"] if s["Effect"] == "Allow"]


def _crucible() -> list[dict]:
    document = controller_policy(partition="aws", region="us-east-1", account="111122223333", cluster_name="c1", vpc_id="vpc-1")
    return [s for s in document["Statement"] if s["Effect"] == "Allow"]


def test_no_statement_holds_an_action_it_can_never_authorize():
    dead = {s["Sid"]: dead_grants(s) for s in _crucible() if dead_grants(s)}
    assert dead == {}


def test_modify_listener_attributes_is_granted_on_listeners():
    granted = set().union(*(grants(s) for s in _crucible()))
    assert ("elasticloadbalancing:ModifyListenerAttributes", "listener/app") in granted
    assert ("elasticloadbalancing:ModifyListenerAttributes", "listener/net") in granted


def test_every_upstream_statement_is_granted_by_crucible():
    ours = set().union(*(grants(s) for s in _crucible()))
    missing = {}
    for i, statement in enumerate(_upstream()):
        lacking = sorted(g for g in grants(statement) - ours if g not in DIFFERENCES)
        if lacking:
            missing[f"upstream statement {i}"] = lacking
    assert missing == {}


def test_crucible_grants_nothing_upstream_does_not_except_the_listed_differences():
    upstream = set().union(*(grants(s) for s in _upstream()))
    extra = {s["Sid"]: sorted(g for g in grants(s) - upstream if g not in DIFFERENCES) for s in _crucible()}
    assert {sid: g for sid, g in extra.items() if g} == {}


def test_every_listed_difference_is_real():
    upstream = set().union(*(grants(s) for s in _upstream()))
    ours = set().union(*(grants(s) for s in _crucible()))
    for pair in DIFFERENCES:
        assert (pair in ours) != (pair in upstream), pair


@pytest.mark.parametrize(("partition", "reference"), [("aws-cn", "iam_policy_cn.json"), ("aws-us-gov", "iam_policy_us-gov.json")])
def test_the_partition_references_grant_what_the_commercial_one_does_and_ours_follows_the_partition(partition, reference):
    """Upstream ships one reference per partition; they grant the same pairs (the statements compared above), so
    Crucible's policy in that partition differs only by its ARNs, which must all be the partition's."""
    path = shared_dir() / "upstream/extras/aws-load-balancer-controller" / reference
    theirs = set().union(*(grants(s) for s in json.loads(path.read_text())["Statement"] if s["Effect"] == "Allow"))
    assert theirs == set().union(*(grants(s) for s in _upstream()))
    document = controller_policy(partition=partition, region="cn-north-1", account="111122223333", cluster_name="c1", vpc_id="vpc-1")
    arns = re.findall(r'"(arn:[^:"]+):', json.dumps(document))
    assert arns and set(arns) == {f"arn:{partition}"}
