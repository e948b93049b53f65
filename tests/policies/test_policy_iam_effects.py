"""IAM judged by effect (issue 18 A.1): the legitimate shapes of the same grants pass."""

from policy_builder import verdicts
from shapes_iam import ACCOUNT, PEOPLE, allow, attach, cluster_admin, doc, eks_cluster, link, managed, role, role_policy, team_role


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
