"""SEC-IAM-001 ... SEC-IAM-003, SEC-KMS-001, DATA-KMS-002."""

import json

from policy_builder import UNKNOWN, link, res, verdicts


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# SEC-IAM-001
def test_scoped_policies_pass():
    policy = res("aws:iam/policy:Policy", "scoped", {"policy": doc(allow(["ec2:DescribeInstances", "ec2:DescribeSubnets"]))})
    attach = res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "worker", {"role": "node", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"}
    )
    assert verdicts("sec-iam-001-no-admin-wildcards", [policy, attach]) == []


def test_admin_wildcards_and_admin_attachments_fire():
    star = res("aws:iam/rolePolicy:RolePolicy", "star", {"role": "r", "policy": doc(allow("*"))})
    service = res("aws:iam/policy:Policy", "service", {"policy": doc(allow("s3:*"))})
    admin = res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin", {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    inline = res("aws:iam/role:Role", "inline", {"assumeRolePolicy": doc(), "inlinePolicies": [{"name": "x", "policy": doc(allow("*:*"))}]})
    assert verdicts("sec-iam-001-no-admin-wildcards", [star, service, admin, inline]) == [
        ("admin", "mandatory"),
        ("inline", "mandatory"),
        ("service", "mandatory"),
        ("star", "mandatory"),
    ]


def test_allow_with_not_action_fires():
    everything_but_iam = res(
        "aws:iam/rolePolicy:RolePolicy", "not-iam", {"role": "r", "policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}
    )
    deny_not = res("aws:iam/rolePolicy:RolePolicy", "deny-not", {"role": "r", "policy": doc({"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"})})
    assert verdicts("sec-iam-001-no-admin-wildcards", [everything_but_iam, deny_not]) == [("not-iam", "mandatory")]


def test_a_service_wildcard_on_every_resource_but_one_fires():
    not_resource = res(
        "aws:iam/rolePolicy:RolePolicy", "not-one", {"role": "r", "policy": doc({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::x"})}
    )
    assert verdicts("sec-iam-001-no-admin-wildcards", [not_resource]) == [("not-one", "mandatory")]


def test_service_wildcard_on_a_named_resource_passes():
    scoped = res("aws:iam/policy:Policy", "scoped", {"policy": doc(allow("s3:*", "arn:aws:s3:::crucible-checkpoints/*"))})
    assert verdicts("sec-iam-001-no-admin-wildcards", [scoped]) == []


# SEC-IAM-002
OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABC"


def irsa(condition):
    return doc({"Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition})


def role(name, trust):
    return res("aws:iam/role:Role", name, {"assumeRolePolicy": trust})


POD_IDENTITY = doc({"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]})


def test_scoped_irsa_and_pod_identity_trust_pass():
    scoped = role("irsa", irsa({"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:karpenter:karpenter", f"{ISSUER}:aud": "sts.amazonaws.com"}}))
    association = res(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "karpenter",
        {"clusterName": "c", "namespace": "karpenter", "serviceAccount": "karpenter", "roleArn": UNKNOWN},
    )
    assert verdicts("sec-iam-002-scoped-trust", [scoped, role("pods", POD_IDENTITY), association]) == []


def test_unscoped_trust_fires():
    wildcard = role("wildcard", irsa({"StringLike": {f"{ISSUER}:sub": "system:serviceaccount:*:*"}}))
    everyone = role("everyone", doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))
    mixed = role("mixed", doc({"Effect": "Allow", "Principal": {"Service": ["pods.eks.amazonaws.com", "ec2.amazonaws.com"]}, "Action": "sts:AssumeRole"}))
    result = verdicts("sec-iam-002-scoped-trust", [wildcard, everyone, mixed])
    assert result == [("everyone", "mandatory"), ("mixed", "mandatory"), ("wildcard", "mandatory"), ("wildcard", "mandatory")]


def test_trust_policy_computed_at_preview_cannot_be_judged():
    assert verdicts("sec-iam-002-scoped-trust", [role("computed", UNKNOWN)]) == [("computed", "advisory")]


# SEC-IAM-003
def team_role(team="vision"):
    return res("aws:iam/role:Role", f"{team}-data", {"assumeRolePolicy": POD_IDENTITY, "tags": {"crucible.io/team": team}})


def role_policy(role_res, document, name="data"):
    return link(res("aws:iam/rolePolicy:RolePolicy", name, {"role": UNKNOWN, "policy": document}), "role", role_res)


def test_team_role_limited_to_its_prefix_passes():
    r = team_role()
    document = doc(
        allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::crucible-datasets/vision/*"),
        allow("s3:ListBucket", "arn:aws:s3:::crucible-datasets", Condition={"StringLike": {"s3:prefix": ["vision/*"]}}),
    )
    assert verdicts("sec-iam-003-tenant-data-scope", [r, role_policy(r, document)]) == []


def test_team_role_reaching_other_prefixes_or_listing_everything_fires():
    r = team_role()
    document = doc(
        allow(["s3:GetObject"], "arn:aws:s3:::crucible-datasets/*"),
        allow("s3:ListBucket", "arn:aws:s3:::crucible-datasets"),
        allow("s3:*", "*"),
    )
    assert verdicts("sec-iam-003-tenant-data-scope", [r, role_policy(r, document)]) == [("data", "mandatory")] * 3
    assert verdicts("sec-iam-003-tenant-data-scope", [r, role_policy(r, document)], env="dev") == [("data", "advisory")] * 3


def test_a_wildcard_bucket_arn_reaches_every_object_and_fires():
    r = team_role()
    for resource, actions in (("arn:aws:s3:::*", ["s3:GetObject", "s3:PutObject"]), ("arn:aws:s3:::crucible-datasets*", ["s3:Get*"])):
        document = doc(allow(actions, resource))
        assert verdicts("sec-iam-003-tenant-data-scope", [r, role_policy(r, document)]) == [("data", "mandatory")], resource
    everything_but = doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::crucible-datasets/search/*"})
    assert verdicts("sec-iam-003-tenant-data-scope", [r, role_policy(r, everything_but)]) == [("data", "mandatory")]
    # bucket-level only, listing limited to the team's prefix: no object reached
    locate = doc(allow(["s3:GetBucketLocation", "s3:ListBucket*"], "arn:aws:s3:::crucible-*", Condition={"StringLike": {"s3:prefix": ["vision/*"]}}))
    assert verdicts("sec-iam-003-tenant-data-scope", [r, role_policy(r, locate)]) == []


def test_a_list_pattern_without_a_prefix_condition_lists_everything_and_fires():
    r = team_role()
    document = doc(allow("s3:ListBucket*", "arn:aws:s3:::crucible-datasets"))
    assert verdicts("sec-iam-003-tenant-data-scope", [r, role_policy(r, document)]) == [("data", "mandatory")]


def test_managed_policy_attached_to_a_team_role_is_judged_and_platform_roles_are_not():
    r = team_role()
    managed = res("aws:iam/policy:Policy", "broad", {"policy": doc(allow("s3:GetObject", "arn:aws:s3:::crucible-datasets/*"))})
    attachment = link(
        link(res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "broad", {"role": UNKNOWN, "policyArn": UNKNOWN}), "role", r), "policyArn", managed
    )
    platform = res("aws:iam/role:Role", "platform", {"assumeRolePolicy": POD_IDENTITY})
    platform_policy = role_policy(platform, doc(allow("s3:GetObject", "arn:aws:s3:::crucible-datasets/*")), name="platform")
    assert verdicts("sec-iam-003-tenant-data-scope", [r, managed, attachment, platform, platform_policy]) == [("broad", "mandatory")]


# SEC-KMS-001
KEY_POLICY = doc({"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"})


def key(name="data", protect=True, **inputs):
    base = {"enableKeyRotation": True, "deletionWindowInDays": 30, "policy": KEY_POLICY}
    base.update(inputs)
    return res("aws:kms/key:Key", name, base, protect=protect)


def test_a_rotated_key_with_an_explicit_policy_passes():
    assert verdicts("sec-kms-001-cmk-hygiene", [key()]) == []


def test_key_without_rotation_policy_or_with_everyone_fires():
    no_rotation = key("no-rotation", enableKeyRotation=None)
    no_policy = key("no-policy", policy=None)
    everyone = key("everyone", policy=doc({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}))
    assert verdicts("sec-kms-001-cmk-hygiene", [no_rotation, no_policy, everyone]) == [
        ("everyone", "mandatory"),
        ("no-policy", "mandatory"),
        ("no-rotation", "mandatory"),
    ]


def test_deletion_window_minimum_is_30_days_in_prod_and_7_in_dev():
    short = key("short", deletionWindowInDays=7)
    assert verdicts("sec-kms-001-cmk-hygiene", [short]) == [("short", "mandatory")]
    assert verdicts("sec-kms-001-cmk-hygiene", [short], env="dev") == []


def test_asymmetric_keys_are_not_asked_to_rotate():
    signing = key("signing", enableKeyRotation=False, customerMasterKeySpec="RSA_2048")
    assert verdicts("sec-kms-001-cmk-hygiene", [signing]) == []


# DATA-KMS-002
def test_unprotected_keys_fire_mandatory_in_prod_and_advisory_in_dev():
    assert verdicts("data-kms-002-protect-keys", [key(), key("loose", protect=False)]) == [("loose", "mandatory")]
    assert verdicts("data-kms-002-protect-keys", [key("loose", protect=False)], env="dev") == [("loose", "advisory")]
