"""Least privilege closed by a permissions boundary (issue 19): every IAM role a shipped stack creates carries the
boundary the bootstrap creates (`crucible:permissionsBoundary`), and every policy attached to those roles — inline or
AWS managed — is within it, so the deploy roles, which may create roles only with that boundary (IAM User Guide,
"Permissions boundaries for IAM entities", delegation), can never create a role more powerful than the boundary.

Actions are compared by expansion against the IAM service authorization reference with parliament (already the
pack's engine, policies/support/iam_actions.py: it expands ``kms:GenerateDataKey*`` or ``elasticloadbalancing:Describe*``
to the real actions); policyuniverse carries an older action list and cloudsplaining reports on top of both, so
neither adds anything here. AWS managed policies are not in the plan: their actions come from
bootstrap.boundary.MANAGED_POLICIES (the AWS Managed Policy Reference's documents), and a managed policy a stack
attaches that the table does not know fails here."""

from __future__ import annotations

import functools
import json
from fnmatch import fnmatchcase

import pytest
import yaml

from bootstrap import boundary, permissions
from components.partitions import partition_of
from helpers import REPO, shipped_report, spec_of
from policies.support import iam_actions
from stacks.spec import ConfigError
from stacks.tools.plan.locate import shipped_stacks

ACCOUNT = "111122223333"  # the shipped configs' account (deployRoleArn, previewRoleArn, the boundary)
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/crucible-boundary/crucible-platform-boundary"
STATE = ["crucible-state-111122223333-us-east-1-an", "crucible-state-logs-111122223333-us-east-1-an"]
KEYS = ["arn:aws:kms:us-east-1:111122223333:key/state", "arn:aws:kms:us-east-1:111122223333:key/secrets"]


HARNESS = "123456789012"  # the account the plans run in (the harness's caller identity): the roles' ARNs name it


@functools.lru_cache(maxsize=None)
def boundary_document(region: str, account: str = ACCOUNT) -> tuple[dict, ...]:
    return tuple(json.loads(permissions.boundary_policy(partition_of(region), account, STATE, *KEYS))["Statement"])


def configured(stack: str) -> str:
    return yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]["crucible:permissionsBoundary"]


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _within(action: str, resources: list[str], statements: tuple[dict, ...]) -> bool:
    """An action on resources is within the boundary when a boundary Allow's actions contain it and its resources cover
    them, and no boundary Deny names one of those resources (the denies name the state backend, its keys and the
    delivery identities; a statement on "*" reaches them only through the boundary, which refuses)."""
    allowed = False
    for st in statements:
        # as IAM matches: the action against each pattern, case-insensitively (a wildcard also allows actions newer
        # than the action list iam_actions expands from, e.g. elasticloadbalancing:ModifyIpPools)
        if not any(fnmatchcase(action.lower(), pattern.lower()) for pattern in _listed(st["Action"])):
            continue
        patterns = _listed(st["Resource"])
        if st["Effect"] == "Deny" and any(r != "*" and any(fnmatchcase(r, p) for p in patterns) for r in resources):
            return False
        if st["Effect"] == "Allow" and all(any(fnmatchcase(r, p) for p in patterns) for r in resources):
            allowed = True
    return allowed


def role_documents(document: dict) -> dict[str, list[tuple[str, dict]]]:
    """role name -> [(where, policy document)] for every policy the plan attaches to it."""
    roles = {r["urn"]: r for r in document["resources"] if r["type"] == "aws:iam/role:Role"}
    out: dict[str, list[tuple[str, dict]]] = {r["name"]: [] for r in roles.values()}
    for r in document["resources"]:
        role_urns = [u for u in r.get("property_dependencies", {}).get("role", []) if u in roles]
        if not role_urns:
            continue
        owner = roles[role_urns[0]]["name"]
        if r["type"] == "aws:iam/rolePolicy:RolePolicy":
            out[owner].append((r["name"], json.loads(r["inputs"]["policy"])))
        elif r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
            name = r["inputs"]["policyArn"].rsplit("/", 1)[-1]
            assert name in boundary.MANAGED_POLICIES, f"{owner}: attaches {r['inputs']['policyArn']}, not in bootstrap.boundary.MANAGED_POLICIES"
            out[owner].append((name, {"Statement": [{"Effect": "Allow", "Action": list(boundary.MANAGED_POLICIES[name]), "Resource": "*"}]}))
    return out


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_role_a_shipped_stack_creates_carries_the_bootstraps_boundary(stack):
    document, _ = shipped_report(stack)
    roles = [r for r in document["resources"] if r["type"] == "aws:iam/role:Role"]
    assert roles
    assert configured(stack) == BOUNDARY
    assert {r["name"]: r["inputs"].get("permissionsBoundary") for r in roles} == {r["name"]: BOUNDARY for r in roles}
    assert [v for v in document["policies"]["violations"] if v["policy"] == "sec-iam-004-permissions-boundary"] == []


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_policy_attached_to_a_crucible_role_is_within_the_boundary(stack):
    document, _ = shipped_report(stack)
    statements = boundary_document(document["region"], HARNESS)
    outside = []
    for role, documents in role_documents(document).items():
        for where, policy in documents:
            for st in policy["Statement"]:
                if st["Effect"] != "Allow":
                    continue
                for action in sorted(iam_actions.expand_all(_listed(st["Action"]))):
                    if not _within(action, _listed(st.get("Resource", "*")), statements):
                        outside.append(f"{role} ({where}): {action} on {st.get('Resource')}")
    assert outside == []


def test_the_boundary_allows_no_iam_write_but_karpenters_instance_profiles_and_node_role():
    writes = set()
    for st in boundary_document("us-east-1"):
        if st["Effect"] != "Allow":
            continue
        for action in iam_actions.expand_all(_listed(st["Action"])):
            if action.startswith("iam:") and not action.startswith(("iam:get", "iam:list")):
                writes.add((action, tuple(_listed(st["Resource"]))))
    profiles = (f"arn:aws:iam::{ACCOUNT}:instance-profile/*",)
    assert writes == {
        ("iam:createinstanceprofile", profiles),
        ("iam:taginstanceprofile", profiles),
        ("iam:addroletoinstanceprofile", profiles),
        ("iam:removerolefrominstanceprofile", profiles),
        ("iam:deleteinstanceprofile", profiles),
        ("iam:passrole", (f"arn:aws:iam::{ACCOUNT}:role/karpenter-node-*",)),
        ("iam:createservicelinkedrole", ("*",)),  # iam:AWSServiceName = elasticloadbalancing.amazonaws.com only
    }


def test_the_boundary_denies_the_state_backend_and_the_delivery_identities_to_every_bounded_role():
    denies = {st["Sid"]: st for st in boundary_document("us-east-1") if st["Effect"] == "Deny"}
    assert denies["NeverTheStateBackend"]["Action"] == "s3:*"
    assert set(denies["NeverTheStateBackend"]["Resource"]) == {f"arn:aws:s3:::{b}{tail}" for b in STATE for tail in ("", "/*")}
    assert denies["NeverTheStateKeys"] == {"Sid": "NeverTheStateKeys", "Effect": "Deny", "Action": "kms:*", "Resource": KEYS}
    assert f"arn:aws:iam::{ACCOUNT}:role/crucible-bootstrap/*" in denies["NeverTheDeliveryIdentities"]["Resource"]
    assert f"arn:aws:iam::{ACCOUNT}:policy/crucible-boundary/*" in denies["NeverTheDeliveryIdentities"]["Resource"]


def test_karpenters_node_role_is_the_role_the_boundary_lets_karpenter_pass():
    document, _ = shipped_report("prod")
    names = [r["name"] for r in document["resources"] if r["type"] == "aws:iam/role:Role"]
    assert [n for n in names if fnmatchcase(f"{n}-8e6e5a47", boundary.PASSABLE_ROLE)] == ["karpenter-node"]


def _spec(**extra):
    return spec_of("prod", **extra)


def test_a_policy_arn_of_the_stacks_partition_is_accepted():
    assert _spec(permissionsBoundary=BOUNDARY).permissions_boundary == BOUNDARY


@pytest.mark.parametrize(
    "value, words",
    [
        (f"arn:aws:iam::{ACCOUNT}:role/crucible-boundary", "allowed: a customer managed policy ARN"),
        ("arn:aws:iam::1234:policy/b", "allowed: a customer managed policy ARN"),
        ("crucible-platform-boundary", "allowed: a customer managed policy ARN"),
        (
            f"arn:aws-cn:iam::{ACCOUNT}:policy/crucible-boundary/crucible-platform-boundary",
            "a policy of partition 'aws-cn'; region us-east-1 is in partition 'aws'",
        ),
    ],
)
def test_a_bad_boundary_is_refused_naming_the_key_the_value_and_what_is_allowed(value, words):
    with pytest.raises(ConfigError) as caught:
        _spec(permissionsBoundary=value)
    text = caught.value.render()
    assert f"crucible:permissionsBoundary: got {value!r}" in text and words in text


def test_adding_the_boundary_to_a_deployed_stack_updates_its_roles_in_place():
    """terraform-provider-aws iam/role.go: permissions_boundary is not ForceNew (stacks/tools/plan/replacement.py
    lists name, namePrefix and path for aws:iam/role:Role): the first `up` with the setting is a
    PutRolePermissionsBoundary per role, which the deploy roles may make only with this boundary."""
    from stacks.tools.plan.diff import diff_plans

    after, _ = shipped_report("prod")
    before = json.loads(json.dumps(after))
    for r in before["resources"]:
        if r["type"] == "aws:iam/role:Role":
            del r["inputs"]["permissionsBoundary"]
    roles = {c.name: c.kind for c in diff_plans(before, after, "before", "after").changes if c.type == "aws:iam/role:Role"}
    assert roles and set(roles.values()) == {"updated"}
    assert len(roles) == sum(1 for r in after["resources"] if r["type"] == "aws:iam/role:Role")


ROLE_MAKERS = ("Role", "PodIdentityRole")  # aws.iam.Role, and components/identity.py's role for a service account


def _role_calls():
    """(file:line, call) for every call of aws.iam.Role / PodIdentityRole in components/ and addons/."""
    import ast

    for path in sorted([*(REPO / "components").rglob("*.py"), *(REPO / "addons").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            qualified = ast.unparse(func)
            if (name == "Role" and qualified.endswith("iam.Role")) or name == "PodIdentityRole":
                yield f"{path.relative_to(REPO)}:{node.lineno}", node


def test_every_role_a_component_creates_takes_the_boundary():
    """The whole class: a new aws.iam.Role (or PodIdentityRole) in a component that does not pass the boundary would
    be refused by IAM under the deploy roles (CreateRole needs iam:PermissionsBoundary); this fails first."""
    calls = list(_role_calls())
    assert len(calls) >= 10
    missing = [where for where, call in calls if "permissions_boundary" not in {k.arg for k in call.keywords}]
    assert missing == []


def test_managed_observability_bounds_the_prometheus_and_grafana_roles():
    import pulumi

    from addons.managed_observability import ManagedObservability, ManagedObservabilityArgs
    from stacks.tools.harness import run_program

    def program():
        args = ManagedObservabilityArgs("c", "prod", "us-east-1", "monitoring", "prometheus", grafana=True, permissions_boundary=BOUNDARY)
        ManagedObservability("managed-observability", args, opts=pulumi.ResourceOptions())

    run = run_program(program, stack="prod", config={"aws:region": "us-east-1"})
    roles = run.of_type("aws:iam/role:Role")
    assert {r.name for r in roles} == {"managed-observability-prometheus", "managed-observability-grafana"}
    assert {r.inputs.get("permissionsBoundary") for r in roles} == {BOUNDARY}


def test_the_plans_deploy_path_names_the_boundary():
    document, lines = shipped_report("prod-platform")
    assert document["deploy"]["permissionsBoundary"] == BOUNDARY
    assert f"iam        every IAM role bounded by {BOUNDARY} (crucible:permissionsBoundary" in "\n".join(lines)
