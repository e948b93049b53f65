"""IAM judged by effect (issue 18 A.1): the legitimate shapes of the same grants pass."""

from policy_builder import UNKNOWN, messages, res, verdicts
from shapes_iam import (
    ACCOUNT,
    BOUNDARY,
    NO_REMOVAL,
    PEOPLE,
    allow,
    attach,
    bounded_writes,
    cluster_admin,
    doc,
    eks_cluster,
    link,
    managed,
    no_change_to,
    role,
    role_policy,
    team_role,
)


def test_karpenter_style_passrole_of_one_named_role_with_run_instances_passes():
    controller = role("karpenter-controller")
    document = doc(
        allow(["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"]),
        allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/karpenter-node-8e6e5a47", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}),
        allow(["iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"], f"arn:aws:iam::{ACCOUNT}:instance-profile/*"),
    )
    assert verdicts("sec-iam-001-no-admin-wildcards", [controller, role_policy("karpenter", controller, document)]) == []


def test_an_iam_write_bounded_by_a_permissions_boundary_passes():
    bounded = allow("iam:AttachRolePolicy", Condition={"StringEquals": {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/boundary"}})
    assert verdicts("sec-iam-001-no-admin-wildcards", [managed("bounded", doc(bounded))]) == []


def test_an_escalation_taken_back_by_an_unconditional_deny_passes():
    r = role("denied")
    document = doc(allow(["iam:PassRole", "ec2:RunInstances"]), {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"})
    assert verdicts("sec-iam-001-no-admin-wildcards", [r, role_policy("denied", r, document)]) == []


def test_a_service_wildcard_on_one_bucket_and_a_read_only_list_pass():
    scoped = managed("scoped", doc(allow("s3:*", "arn:aws:s3:::crucible-checkpoints/*"), allow(["ec2:Describe*", "eks:List*"])))
    assert verdicts("sec-iam-001-no-admin-wildcards", [scoped]) == []


def test_account_trust_narrowed_to_named_roles_passes():
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/PlatformAdmin"}},
        }
    )
    assert verdicts("sec-iam-002-scoped-trust", [role("narrowed", trust)]) == []


def test_team_prefix_in_any_partition_passes():
    r = team_role()
    document = doc(allow(["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::crucible-datasets/vision/*", "arn:aws-us-gov:s3:::crucible-datasets/vision/*"]))
    assert verdicts("sec-iam-003-tenant-data-scope", [r, role_policy("data", r, document)]) == []


def test_cluster_admin_for_a_platform_role_people_assume_passes():
    admins = role("platform-admins", trust=PEOPLE)
    assert verdicts("sec-eks-004-access-entries", [eks_cluster(), admins, link(cluster_admin("platform"), "principalArn", admins)]) == []


def test_a_managed_policy_held_by_a_principal_is_reported_once_on_the_principal():
    r = role("holder")
    policy = managed("passes", doc(allow(["iam:PassRole", "ec2:RunInstances"])))
    assert verdicts("sec-iam-001-no-admin-wildcards", [r, policy, attach("holder-passes", r, policy)]) == [("holder", "mandatory")]


# Permissions boundaries the way the IAM User Guide documents delegation ("Permissions boundaries for IAM entities"):
# role writes only with iam:PermissionsBoundary = the boundary, its removal denied, the boundary policy unchangeable.
def test_role_writes_bounded_as_the_aws_delegation_example_does_pass():
    r = role("deployer")
    document = doc(bounded_writes(), NO_REMOVAL, no_change_to(BOUNDARY), allow(["iam:DeleteRole", "iam:TagRole"], f"arn:aws:iam::{ACCOUNT}:role/*"))
    assert verdicts("sec-iam-001-no-admin-wildcards", [r, role_policy("deployer", r, document)]) == []


def test_the_boundary_denies_may_come_through_another_attachment_path():
    r = role("split-deployer")
    denies = managed("denies", doc(NO_REMOVAL, no_change_to(BOUNDARY)))
    resources = [r, role_policy("split-deployer", r, doc(bounded_writes())), denies, attach("split-deployer-denies", r, denies)]
    assert verdicts("sec-iam-001-no-admin-wildcards", resources) == []


def test_an_unprotected_boundary_is_reported_with_what_to_deny():
    r = role("strippable")
    found = messages("sec-iam-001-no-admin-wildcards", [r, role_policy("strippable", r, doc(bounded_writes()))])
    assert len(found) == 1 and "bounds nothing while it may remove a role's boundary or change that policy" in found[0]


BOUNDARY_POLICY = {"path": "/crucible-boundary/", "name": "crucible-platform-boundary"}


def test_a_boundary_policy_the_config_names_is_a_ceiling_not_a_grant():
    # ec2messages and eks-auth are whole services of a few actions each: a boundary allowing them grants nothing
    config = {"sec-iam-001-no-admin-wildcards": {"boundaryPolicies": ["/crucible-boundary/*"]}}
    for actions in (["ec2messages:*", "eks-auth:*"], ["ec2:RunInstances", "iam:PassRole"]):  # whole services; an escalation set
        ceiling = res("aws:iam/policy:Policy", "boundary", {"policy": doc(allow(actions)), **BOUNDARY_POLICY})
        assert verdicts("sec-iam-001-no-admin-wildcards", [ceiling], config=config) == []
        assert verdicts("sec-iam-001-no-admin-wildcards", [ceiling]) == [("boundary", "mandatory")]


def test_a_boundary_policy_that_allows_everything_or_is_held_as_a_grant_still_fires():
    config = {"sec-iam-001-no-admin-wildcards": {"boundaryPolicies": ["/crucible-boundary/*"]}}
    everything = res("aws:iam/policy:Policy", "boundary", {"policy": doc(allow("*")), **BOUNDARY_POLICY})
    assert verdicts("sec-iam-001-no-admin-wildcards", [everything], config=config) == [("boundary", "mandatory")]
    r = role("holder")
    held = res("aws:iam/policy:Policy", "held", {"policy": doc(allow(["ec2:RunInstances", "iam:PassRole"])), **BOUNDARY_POLICY})
    assert verdicts("sec-iam-001-no-admin-wildcards", [r, held, attach("holder-held", r, held)], config=config) == [("holder", "mandatory")]


def test_a_role_with_the_environments_boundary_passes():
    bounded = role("bounded", permissionsBoundary=BOUNDARY)
    assert verdicts("sec-iam-004-permissions-boundary", [bounded]) == []
    assert verdicts("sec-iam-004-permissions-boundary", [role("computed", permissionsBoundary=UNKNOWN)]) == []


def test_the_delivery_identities_the_config_exempts_need_no_boundary():
    deploy = role("deploy-prod", path="/crucible-bootstrap/", name="crucible-deploy-prod")
    config = {"sec-iam-004-permissions-boundary": {"exemptRoles": ["/crucible-bootstrap/*"]}}
    assert verdicts("sec-iam-004-permissions-boundary", [deploy], config=config) == []
    assert verdicts("sec-iam-004-permissions-boundary", [deploy]) == [("deploy-prod", "mandatory")]


def test_a_role_without_a_boundary_is_advisory_in_dev_and_mandatory_in_staging_and_prod():
    for env, level in (("dev", "advisory"), ("staging", "mandatory"), ("prod", "mandatory")):
        assert verdicts("sec-iam-004-permissions-boundary", [role("unbounded")], env=env) == [("unbounded", level)]
