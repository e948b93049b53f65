"""IAM: no administrator wildcards, pod-role trust scoped to one service account, and tenant roles limited to
their team's prefixes (SEC-IAM-001 ... SEC-IAM-003)."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Iterator

from policies.support.iam_documents import Statement, parse_document
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.tokens import (
    IAM_INLINE_POLICY,
    IAM_POLICY,
    IAM_POLICY_ATTACHMENT,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    EKS_POD_IDENTITY_ASSOCIATION,
    any_of,
)
from policies.support.values import as_list, is_unknown, known, text

ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "IAMFullAccess")
GITHUB_ISSUER = "token.actions.githubusercontent.com"
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
_S3_ARN = re.compile(r"arn:aws[a-z-]*:s3:::")  # any partition (aws, aws-cn, aws-us-gov)


def _documents(res: Res) -> Iterator[tuple[str, object]]:
    """(where, document) for every identity-policy document a resource carries."""
    if IAM_ROLE(res.type):
        for index, inline in enumerate(as_list(res.get("inlinePolicies"))):
            if isinstance(inline, dict) and inline.get("policy") is not None:
                yield f"inlinePolicies[{index}]", inline.get("policy")
    elif res.get("policy") is not None or is_unknown(res.get("policy")):
        yield "policy", res.get("policy")


def _statements(document) -> list[Statement]:
    try:
        return parse_document(document)
    except ValueError:
        return []  # not a JSON document: AWS refuses it at deployment; nothing to judge here


# SEC-IAM-001 ---------------------------------------------------------------------------------------------------
def _admin_wildcards(res: Res, ctx: Ctx) -> None:
    arns = [text(res.get("policyArn"))] if IAM_POLICY_ATTACHMENT(res.type) else []
    if IAM_ROLE(res.type):
        arns += [known(a) for a in as_list(res.get("managedPolicyArns"))]
    for arn in arns:
        if arn and arn.rsplit("/", 1)[-1] in ADMIN_MANAGED_POLICIES and re.match(r"arn:aws[a-z-]*:iam::aws:policy/", arn):
            ctx.violation(res, f"attaches {arn.rsplit('/', 1)[-1]}; attach a policy scoped to what the workload does.")
    for where, document in _documents(res):
        for st in _statements(document):
            if not st.allows:
                continue
            if any(a in ("*", "*:*") for a in st.actions):
                ctx.violation(res, f'{where} allows every action (Action "*"); list the actions the workload needs.')
            elif st.not_actions:
                ctx.violation(
                    res,
                    f"{where} allows every action except {', '.join(st.not_actions)} (Allow with NotAction); list the actions the workload needs.",
                )
            elif ("*" in st.resources or st.not_resources) and any(a.endswith(":*") for a in st.actions):
                services = ", ".join(sorted(a for a in st.actions if a.endswith(":*")))
                ctx.violation(res, f"{where} allows {services} on every resource; name the actions and scope Resource.")


SEC_IAM_001 = resource_policy(
    rule_id="SEC-IAM-001",
    slug="no-admin-wildcards",
    description='IAM policies grant no administrator wildcards (Action "*", Allow with NotAction, or svc:* on Resource "*") and '
    "workload roles get no AdministratorAccess/IAMFullAccess.",
    applies_to=any_of(IAM_POLICY, IAM_INLINE_POLICY, IAM_POLICY_ATTACHMENT, IAM_ROLE),
    checks=[_admin_wildcards],
    anchor="CKV_AWS_62, CKV_AWS_63, CKV_AWS_355, CKV_AWS_274, CKV2_AWS_40, CKV2_AWS_56",
)


# SEC-IAM-002 ---------------------------------------------------------------------------------------------------
def _oidc_problems(st: Statement) -> list[str]:
    problems = []
    subjects = st.condition_values("StringEquals", ":sub")
    if not subjects:
        problems.append("has no StringEquals condition on <oidc>:sub, so any service account of the cluster can assume it")
    elif any("*" in s or not s.startswith("system:serviceaccount:") or s.count(":") != 3 for s in subjects):
        problems.append(f"matches service accounts {', '.join(subjects)}; name exactly system:serviceaccount:<namespace>:<name>")
    audiences = st.condition_values("StringEquals", ":aud")
    if not audiences or set(audiences) != {"sts.amazonaws.com"}:
        problems.append("does not require <oidc>:aud = sts.amazonaws.com")
    return problems


def _trust(res: Res, ctx: Ctx) -> None:
    if EKS_POD_IDENTITY_ASSOCIATION(res.type):
        for field in ("namespace", "serviceAccount"):
            value = text(res.get(field))
            if not value or "*" in value:
                ctx.violation(res, f"{field} must name one {field}, got {value!r}.")
        return
    for st in _statements(res.get("assumeRolePolicy")):
        if not st.allows:
            continue
        if st.principal_is_everyone():
            ctx.violation(res, 'the trust policy lets any principal ("*") assume the role; name the principal.')
            continue
        federated = st.principals.get("Federated", ())
        if federated and all(f.endswith(f"oidc-provider/{GITHUB_ISSUER}") for f in federated):
            continue  # GitHub Actions, not pods: SEC-CICD-001 ... 003 (rules/delivery.py) judge that trust
        if any("oidc" in f for f in federated) or "sts:AssumeRoleWithWebIdentity" in st.actions:
            for problem in _oidc_problems(st):
                ctx.violation(res, f"the OIDC trust statement {problem} (IRSA: one role per service account).")
        services = st.principals.get("Service", ())
        if POD_IDENTITY_PRINCIPAL in services:
            others = [s for s in services if s != POD_IDENTITY_PRINCIPAL] + [p for kind in st.principals if kind != "Service" for p in st.principals[kind]]
            if others:
                ctx.violation(
                    res,
                    f"the EKS Pod Identity trust statement also trusts {', '.join(others)}; trust only {POD_IDENTITY_PRINCIPAL} in that statement.",
                )


SEC_IAM_002 = resource_policy(
    rule_id="SEC-IAM-002",
    slug="scoped-trust",
    description="Roles for pods are assumable by exactly one service account: IRSA trust pins <oidc>:sub and "
    ":aud with StringEquals, Pod Identity trust names only pods.eks.amazonaws.com, and no trust policy allows "
    'Principal "*".',
    applies_to=any_of(IAM_ROLE, EKS_POD_IDENTITY_ASSOCIATION),
    checks=[_trust],
    anchor="CKV_AWS_60, CKV_AWS_61; EKS BPG iam: scope the IRSA trust policy",
)


# SEC-IAM-003 ---------------------------------------------------------------------------------------------------
def _s3_actions(st: Statement) -> list[str]:
    return [a for a in st.actions if a == "*" or a.lower().startswith("s3:")]


# Actions on a bucket rather than its objects (a tenant may hold these on the bucket ARN itself), and the object
# actions a wildcard pattern is tested against.
BUCKET_LEVEL_ACTIONS = ("s3:listbucket", "s3:getbucketlocation", "s3:listbucketmultipartuploads", "s3:listbucketversions")
OBJECT_LEVEL_ACTIONS = (
    "s3:getobject",
    "s3:getobjectversion",
    "s3:putobject",
    "s3:deleteobject",
    "s3:deleteobjectversion",
    "s3:abortmultipartupload",
    "s3:listmultipartuploadparts",
    "s3:restoreobject",
    "s3:getobjecttagging",
    "s3:putobjecttagging",
    "s3:getobjectacl",
    "s3:putobjectacl",
)


def _reaches_objects(action: str) -> bool:
    """Whether an S3 action (or a wildcard pattern such as s3:Get*) acts on objects; unknown names count as object
    actions."""
    action = action.lower()
    if action in BUCKET_LEVEL_ACTIONS:
        return False
    if "*" in action or "?" in action:
        return any(fnmatchcase(known, action) for known in OBJECT_LEVEL_ACTIONS)
    return True


def _tenant_problems(team: str, st: Statement) -> list[str]:
    actions = _s3_actions(st)
    if not st.allows or not actions:
        return []
    problems = []
    wildcard = any(a in ("*", "s3:*") for a in actions)
    if "*" in st.resources:
        problems.append(f"allows {', '.join(actions)} on every resource")
    if st.not_resources:
        problems.append(f"allows {', '.join(actions)} on every resource but {', '.join(st.not_resources)} (NotResource)")
    for resource in st.resources:
        s3_arn = _S3_ARN.match(resource)
        if not s3_arn or resource == "*":
            continue
        path = resource[s3_arn.end() :]
        if "/" not in path and "*" in path and any(_reaches_objects(a) for a in actions):
            # A wildcard in a bucket ARN also matches '/': the statement reaches every object of those buckets.
            problems.append(f"reaches every object of the buckets matching {resource}; use .../{team}/*")
        elif "/" in path:
            key = path.split("/", 1)[1]
            if not key.startswith(f"{team}/"):
                problems.append(f"reaches objects outside the team prefix ({resource}; use .../{team}/*)")
        elif wildcard or any(fnmatchcase("s3:listbucket", a.lower()) for a in actions):
            prefixes = st.condition_values("StringLike", "s3:prefix") or st.condition_values("StringEquals", "s3:prefix")
            if not prefixes or any(not p.startswith(f"{team}/") for p in prefixes):
                problems.append(f"lists bucket {path} without an s3:prefix condition limited to {team}/")
    return problems


def _tenant_documents(stack: Stack, role: Res) -> Iterator[tuple[Res, object]]:
    for _where, document in _documents(role):
        yield role, document
    for inline in stack.referrers(role, IAM_ROLE_POLICY, "role"):
        yield inline, inline.get("policy")
    for attachment in stack.referrers(role, IAM_ROLE_POLICY_ATTACHMENT, "role"):
        for managed in stack.linked(attachment, "policyArn", IAM_POLICY):
            yield managed, managed.get("policy")


def _tenant_scope(stack: Stack, ctx: Ctx) -> None:
    tag = ctx.setting("teamTagKey")
    for role in stack.of(IAM_ROLE):
        team = role.tags.get(tag)
        if not isinstance(team, str) or not team:
            continue
        for holder, document in _tenant_documents(stack, role):
            with ctx.each():
                for st in _statements(document):
                    for problem in _tenant_problems(team, st):
                        ctx.violation(
                            holder,
                            f"team {team!r}'s role {role.name!r} {problem}; tenants get only arn:aws:s3:::<bucket>/{team}/* and s3:prefix {team}/.",
                        )


SEC_IAM_003 = stack_policy(
    rule_id="SEC-IAM-003",
    slug="tenant-data-scope",
    description="Team roles (tagged with their team) reach only their team's S3 prefixes -- object ARNs under "
    "<bucket>/<team>/ and ListBucket limited by s3:prefix -- never s3:* on everything.",
    check=_tenant_scope,
    settings={
        "teamTagKey": {
            "type": "string",
            "default": "crucible.io/team",
            "description": "IAM role tag whose value names the team a role belongs to.",
        }
    },
    anchor="CKV_AWS_288, CKV_AWS_290; EKS BPG multitenancy",
)

POLICIES = [SEC_IAM_001, SEC_IAM_002, SEC_IAM_003]
