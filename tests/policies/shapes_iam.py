"""Shapes of IAM misconfigurations (issue 18 A.1): SEC-IAM-001 ... 003, REL-IAM-005, SEC-EKS-004, SEC-KMS-001."""

from __future__ import annotations

import json

from policy_builder import UNKNOWN, link, res
from shapes import firing

ACCOUNT = "111122223333"
POD_IDENTITY = {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def role(pulumi_name, trust=None, tags=None, **inputs):
    return res("aws:iam/role:Role", pulumi_name, {"assumeRolePolicy": trust or doc(POD_IDENTITY), **({"tags": tags} if tags else {}), **inputs})


def role_policy(name, of, document):
    return link(res("aws:iam/rolePolicy:RolePolicy", name, {"role": UNKNOWN, "policy": document}), "role", of)


def managed(name, document):
    return res("aws:iam/policy:Policy", name, {"policy": document})


def attach(name, of, policy=None, arn=UNKNOWN):
    attachment = link(res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", name, {"role": UNKNOWN, "policyArn": arn}), "role", of)
    return link(attachment, "policyArn", policy) if policy is not None else attachment


# SEC-IAM-001: administrator power in any spelling, and escalation without "*" --------------------------------
P1 = "sec-iam-001-no-admin-wildcards"


@firing(P1, "action-star")
def _():
    return [res("aws:iam/rolePolicy:RolePolicy", "star", {"role": "r", "policy": doc(allow("*"))})], ["star"]


@firing(P1, "wildcard-in-service-prefix")
def _():
    return [managed("prefix", doc(allow("i?m:*")))], ["prefix"]


@firing(P1, "service-wildcard-other-case")
def _():
    return [managed("upper", doc(allow("S3:*", "arn:aws:s3:::*")))], ["upper"]


@firing(P1, "every-action-of-a-service-by-patterns")
def _():
    return [managed("patterns", doc(allow(["iam:*a*", "iam:*e*", "iam:*i*", "iam:*o*", "iam:*u*", "iam:*y*"])))], ["patterns"]


@firing(P1, "allow-not-action")
def _():
    return [managed("not-action", doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}))], ["not-action"]


@firing(P1, "aws-managed-admin-in-another-partition")
def _():
    r = role("gov")
    return [r, attach("gov-admin", r, arn="arn:aws-us-gov:iam::aws:policy/AdministratorAccess")], ["gov-admin"]


@firing(P1, "aws-managed-admin-through-managed-policy-arns")
def _():
    return [role("power", managedPolicyArns=["arn:aws:iam::aws:policy/PowerUserAccess"])], ["power"]


@firing(P1, "escalation-passrole-runinstances")
def _():
    r = role("launcher")
    return [r, role_policy("launcher", r, doc(allow(["iam:PassRole", "ec2:RunInstances"])))], ["launcher"]


@firing(P1, "escalation-split-across-attachment-paths")
def _():
    r = role("split")
    passes = managed("passes", doc(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*")))
    runs = role_policy("runs", r, doc(allow("ec2:Run*", "*")))
    return [r, passes, attach("split-passes", r, passes), runs], ["split"]


@firing(P1, "escalation-single-iam-write")
def _():
    return [managed("versions", doc(allow("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/*")))], ["versions"]


@firing(P1, "escalation-attach-role-policy-inline-on-role")
def _():
    return [role("attacher", inlinePolicies=[{"name": "x", "policy": doc(allow("iam:AttachRolePolicy"))}])], ["attacher"]


# ... and IAM writes "bounded" by a permissions boundary condition that bounds nothing (AWS delegation example:
# iam:PermissionsBoundary pinned to the boundary's ARN, its removal and its policy changes denied).
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/crucible-boundary/crucible-platform-boundary"
BOUNDED_WRITES = ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"]
NO_REMOVAL = {"Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*"}


def no_change_to(boundary_arn):
    return {
        "Effect": "Deny",
        "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"],
        "Resource": boundary_arn,
    }


def bounded_writes(operator="StringEquals", value=BOUNDARY):
    return allow(BOUNDED_WRITES, f"arn:aws:iam::{ACCOUNT}:role/*", Condition={operator: {"iam:PermissionsBoundary": value}})


@firing(P1, "boundary-condition-matching-any-boundary")
def _():
    r = role("any-boundary")
    return [r, role_policy("any-boundary", r, doc(bounded_writes("StringLike", "*"), NO_REMOVAL, no_change_to("*")))], ["any-boundary"]


@firing(P1, "boundary-condition-if-exists")
def _():
    r = role("if-exists")
    return [r, role_policy("if-exists", r, doc(bounded_writes("StringEqualsIfExists"), NO_REMOVAL, no_change_to(BOUNDARY)))], ["if-exists"]


@firing(P1, "boundary-the-principal-may-rewrite")
def _():
    r = role("other-boundary")
    other = f"arn:aws:iam::{ACCOUNT}:policy/another-boundary"
    return [r, role_policy("other-boundary", r, doc(bounded_writes(value=other), NO_REMOVAL, no_change_to(BOUNDARY)))], ["other-boundary"]


@firing(P1, "boundary-removal-not-denied")
def _():
    r = role("strippable")
    return [r, role_policy("strippable", r, doc(bounded_writes(), no_change_to(BOUNDARY)))], ["strippable"]


@firing(P1, "boundary-denies-in-another-attachment-path-missing")
def _():
    r = role("half")
    denies = managed("half-denies", doc(NO_REMOVAL))
    return [r, role_policy("half", r, doc(bounded_writes())), denies, attach("half-denies", r, denies)], ["half"]


@firing(P1, "standalone-policy-with-a-pattern-boundary")
def _():
    return [managed("pattern-bounded", doc(bounded_writes("StringLike", f"arn:aws:iam::{ACCOUNT}:policy/*")))], ["pattern-bounded"]


# SEC-IAM-004: a role without the environment's permissions boundary --------------------------------------------
P4 = "sec-iam-004-permissions-boundary"


@firing(P4, "no-boundary")
def _():
    return [role("unbounded")], ["unbounded"]


@firing(P4, "empty-boundary")
def _():
    return [role("empty", permissionsBoundary="")], ["empty"]


@firing(P4, "a-role-arn-as-boundary")
def _():
    return [role("role-arn", permissionsBoundary=f"arn:aws:iam::{ACCOUNT}:role/crucible-boundary/x")], ["role-arn"]


@firing(P4, "a-boundary-outside-the-allowed-path")
def _():
    return [role("elsewhere", permissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/AnyOldPolicy")], ["elsewhere"]


@firing(P4, "aws-managed-admin-as-boundary")
def _():
    return [role("admin-bound", permissionsBoundary="arn:aws:iam::aws:policy/AdministratorAccess")], ["admin-bound"]


# SEC-IAM-002: trust wider than the identity it serves ---------------------------------------------------------
P2 = "sec-iam-002-scoped-trust"
OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABC"


def irsa(condition, provider=OIDC):
    return doc({"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition})


@firing(P2, "principal-everyone")
def _():
    return [role("everyone", doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}))], ["everyone"]


@firing(P2, "whole-account-root-arn")
def _():
    return [role("root", doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}))], ["root"]


@firing(P2, "whole-account-bare-id")
def _():
    return [role("account", doc({"Effect": "Allow", "Principal": {"AWS": ["444455556666"]}, "Action": "sts:AssumeRole"}))], ["account"]


@firing(P2, "oidc-sub-wildcard")
def _():
    return [role("wildcard", irsa({"StringLike": {f"{ISSUER}:sub": "system:serviceaccount:*:*"}}))], ["wildcard"]


@firing(P2, "oidc-sub-of-another-issuer")
def _():
    other = "oidc.eks.us-east-1.amazonaws.com/id/OTHER"
    condition = {"StringEquals": {f"{other}:sub": "system:serviceaccount:ml:trainer", f"{other}:aud": "sts.amazonaws.com"}}
    return [role("other-issuer", irsa(condition))], ["other-issuer"]


@firing(P2, "pod-identity-plus-another-service")
def _():
    trust = doc({"Effect": "Allow", "Principal": {"Service": ["pods.eks.amazonaws.com", "ec2.amazonaws.com"]}, "Action": "sts:AssumeRole"})
    return [role("mixed", trust)], ["mixed"]


# SEC-IAM-003: a team role reaching outside its prefix, in any ARN form ---------------------------------------
P3 = "sec-iam-003-tenant-data-scope"


def team_role(team="vision"):
    return role(f"{team}-data", tags={"crucible.io/team": team})


@firing(P3, "other-prefix")
def _():
    r = team_role()
    return [r, role_policy("data", r, doc(allow("s3:GetObject", "arn:aws:s3:::crucible-datasets/*")))], ["data"]


@firing(P3, "wildcard-partition-arn")
def _():
    r = team_role()
    return [r, role_policy("data", r, doc(allow("s3:GetObject", "arn:*:s3:::*")))], ["data"]


@firing(P3, "wildcard-service-arn")
def _():
    r = team_role()
    return [r, role_policy("data", r, doc(allow("s3:GetObject", "arn:aws:*:*:*:*")))], ["data"]


@firing(P3, "prefix-wildcard-escaping-the-team")
def _():
    r = team_role()
    return [r, role_policy("data", r, doc(allow("s3:GetObject", "arn:aws:s3:::crucible-datasets/vis*")))], ["data"]


@firing(P3, "managed-policy-attached")
def _():
    r = team_role()
    broad = managed("broad", doc(allow("s3:Get*", "arn:aws:s3:::crucible-*/*")))
    return [r, broad, attach("broad", r, broad)], ["broad"]


# SEC-EKS-004: cluster admin to a tenant or workload role ------------------------------------------------------
P4 = "sec-eks-004-access-entries"


def eks_cluster():
    return res(
        "aws:eks/cluster:Cluster",
        "eks",
        {"version": "1.34", "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}},
    )


def cluster_admin(name, principal=UNKNOWN):
    return res(
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        name,
        {
            "clusterName": "eks",
            "principalArn": principal,
            "accessScope": {"type": "cluster"},
            "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        },
    )


PEOPLE = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/Admins"}, "Action": "sts:AssumeRole"})


@firing(P4, "tenant-role-of-the-stack")
def _():
    tenant = role("team-vision-data", trust=PEOPLE, tags={"crucible.io/team": "vision"})
    return [eks_cluster(), tenant, link(cluster_admin("tenant-admin"), "principalArn", tenant)], ["tenant-admin"]


@firing(P4, "workload-role-of-the-stack")
def _():
    workload = role("karpenter-controller")
    return [eks_cluster(), workload, link(cluster_admin("workload-admin"), "principalArn", workload)], ["workload-admin"]


@firing(P4, "tenant-role-by-literal-arn")
def _():
    tenant = role("team-llm", trust=PEOPLE, tags={"crucible.io/team": "llm"}, name="team-llm")
    return [eks_cluster(), tenant, cluster_admin("by-arn", f"arn:aws:iam::{ACCOUNT}:role/team-llm")], ["by-arn"]


@firing(P4, "a-user")
def _():
    return [eks_cluster(), cluster_admin("alice", f"arn:aws:iam::{ACCOUNT}:user/alice")], ["alice"]


# SEC-KMS-001: a key open to everyone ---------------------------------------------------------------------------
P5 = "sec-kms-001-cmk-hygiene"
ROOT = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}


def key(name, *statements):
    return res("aws:kms/key:Key", name, {"enableKeyRotation": True, "deletionWindowInDays": 30, "policy": doc(ROOT, *statements)}, protect=True)


@firing(P5, "principal-star-string")
def _():
    return [key("star", {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"})], ["star"]


@firing(P5, "principal-aws-star")
def _():
    return [key("aws-star", {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:Decrypt", "Resource": "*"})], ["aws-star"]


@firing(P5, "principal-star-with-a-wildcard-account")
def _():
    condition = {"StringLike": {"kms:CallerAccount": "*", "kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    return [key("any-account", {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*", "Condition": condition})], ["any-account"]


@firing(P5, "no-rotation")
def _():
    k = key("no-rotation")
    k["inputs"]["enableKeyRotation"] = False
    return [k], ["no-rotation"]


# REL-IAM-005: documents IAM refuses for their size ----------------------------------------------------------------
P_SIZE = "rel-iam-005-policy-size-quotas"


def statements_of(count: int, width: int = 40) -> list[dict]:
    """``count`` distinct statements, each naming a bucket ARN ``width`` characters long."""
    return [allow("s3:GetObject", f"arn:aws:s3:::{'b' * (width - 16)}{i:02d}/*", Sid=f"S{i}") for i in range(count)]


@firing(P_SIZE, "managed-policy-over-6144")
def _():
    return [managed("wide", doc(*statements_of(90)))], ["wide"]


@firing(P_SIZE, "inline-policies-of-a-role-over-10240-together")
def _():
    holder = role("holder")
    return [holder, role_policy("a", holder, doc(*statements_of(80))), role_policy("b", holder, doc(*statements_of(80)))], ["holder"]


@firing(P_SIZE, "role-inline-policies-input-over-10240")
def _():
    inline = [{"name": n, "policy": doc(*statements_of(80))} for n in ("a", "b")]
    return [role("embedded", inlinePolicies=inline)], ["embedded"]


@firing(P_SIZE, "trust-policy-over-2048")
def _():
    principals = [f"arn:aws:iam::{ACCOUNT}:role/caller-{i:03d}" for i in range(60)]
    trust = doc({"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"})
    return [role("trusting", trust=trust)], ["trusting"]
