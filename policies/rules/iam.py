"""IAM: no administrator wildcards, pod-role trust scoped to one service account, tenant roles limited to their
team's prefixes, and every role bounded by the environment's permissions boundary (SEC-IAM-001 ... SEC-IAM-004)."""

from __future__ import annotations

import itertools
import json
import re
from fnmatch import fnmatchcase
from typing import Iterator

from policies.support import iam_actions
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
    one_of,
)
from policies.support.values import as_list, is_unknown, known, text

GITHUB_ISSUER = "token.actions.githubusercontent.com"
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


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
ADMIN_MANAGED_POLICIES = (
    "AdministratorAccess",
    "IAMFullAccess",
    "PowerUserAccess",  # every action but IAM/Organizations/Account management: still admin of the data plane
    "AdministratorAccess-Amplify",
    "AdministratorAccess-AWSElasticBeanstalk",
)
_AWS_MANAGED = re.compile(r"^arn:[a-z-]+:iam::aws:policy/(?:.+/)?(?P<name>[^/]+)$")
POLICY_ATTACHMENT = any_of(IAM_POLICY_ATTACHMENT, one_of("aws:iam/policyAttachment:PolicyAttachment"))
EXCLUSIVE_ATTACHMENTS = one_of("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive")
PRINCIPAL = any_of(IAM_ROLE, one_of("aws:iam/user:User", "aws:iam/group:Group"))
_PRINCIPAL_PROPS = ("role", "user", "group", "roles", "users", "groups", "roleName", "userName", "groupName")


def aws_managed_admin(arn: object) -> str | None:
    """The name of an AWS managed administrator policy an ARN (in any partition or path) names."""
    match = _AWS_MANAGED.match(arn) if isinstance(arn, str) else None
    name = match.group("name") if match else None
    return name if name in ADMIN_MANAGED_POLICIES else None


def _attached_arns(res: Res) -> list[object]:
    if POLICY_ATTACHMENT(res.type):
        return [res.get("policyArn")]
    if EXCLUSIVE_ATTACHMENTS(res.type):
        return list(as_list(res.get("policyArns")))
    if IAM_ROLE(res.type):
        return list(as_list(res.get("managedPolicyArns")))
    return []


def _grants(st: Statement) -> frozenset[str]:
    return iam_actions.not_action_grant(st.not_actions) if st.not_actions else iam_actions.expand_all(st.actions)


def _reaches_all(st: Statement, service: str) -> bool:
    return bool(st.not_resources) or any(iam_actions.unscoped(r, service) for r in st.resources)


def _wildcard_problems(where: str, st: Statement) -> list[str]:
    if not st.allows:
        return []
    if st.not_actions:
        return [f"{where} allows every action except {', '.join(st.not_actions)} (Allow with NotAction); list the actions the workload needs."]
    granted = _grants(st)
    if iam_actions.is_everything(granted):
        return [f"{where} allows every action ({', '.join(st.actions)}); list the actions the workload needs."]
    services = [svc for svc in iam_actions.whole_services(granted) if _reaches_all(st, svc)]
    if services:
        spelled = ", ".join(st.actions) if len(st.actions) <= 4 else f"{len(st.actions)} actions"
        return [f"{where} allows every {'/'.join(services)} action ({spelled}) on every resource; name the actions and scope Resource."]
    return []


# A permissions boundary bounds an IAM write only the way AWS documents delegation (IAM User Guide, "Permissions
# boundaries for IAM entities", delegating responsibility): the write is conditioned with an equality operator on
# iam:PermissionsBoundary naming concrete policy ARNs, and the principal may neither remove a boundary
# (iam:DeleteRolePermissionsBoundary denied) nor change the boundary policy (CreatePolicyVersion, DeletePolicy,
# DeletePolicyVersion, SetDefaultPolicyVersion denied on it). StringLike "*", an ...IfExists operator, a boundary the
# principal can rewrite or strip bounds nothing.
_EQUALITY = ("stringequals", "arnequals")
BOUNDARY_KEY = "iam:permissionsboundary"
POLICY_ARN_KEY = "iam:policyarn"
BOUNDARY_CHANGES = ("iam:createpolicyversion", "iam:deletepolicy", "iam:deletepolicyversion", "iam:setdefaultpolicyversion")
_WILDCARD = re.compile(r"[*?]")


def _pinned(st: Statement, condition_key: str) -> tuple[str, ...] | None:
    """The concrete values an equality condition on ``condition_key`` pins; () when the key is conditioned some other
    way (a pattern, an IfExists or negated operator); None when the statement does not condition it."""
    found: tuple[str, ...] | None = None
    for operator, entries in st.conditions.items():
        for key, values in entries.items():
            if key.lower() != condition_key:
                continue
            if operator.lower() not in _EQUALITY or not values or any(_WILDCARD.search(v) for v in values):
                return ()
            found = tuple(values) if found is None else tuple(v for v in found if v in values)
    return found


def _denied_unconditionally(statements: list[Statement], action: str, arn: str | None = None) -> bool:
    for st in statements:
        if st.effect != "Deny" or st.conditions or action not in _grants(st):
            continue
        if arn is None and _reaches_all(st, action.split(":", 1)[0]):
            return True
        if arn is not None and any(r == "*" or fnmatchcase(arn, r) for r in st.resources):
            return True
    return False


def protected_boundaries(statements: list[Statement]) -> frozenset[str]:
    """The boundary ARNs a principal's statements name that it can neither strip from a role nor change."""
    if not _denied_unconditionally(statements, "iam:deleterolepermissionsboundary"):
        return frozenset()
    named = {arn for st in statements for arn in (_pinned(st, BOUNDARY_KEY) or ())}
    return frozenset(arn for arn in named if all(_denied_unconditionally(statements, change, arn) for change in BOUNDARY_CHANGES))


def _bounded(st: Statement, protected: frozenset[str] | None) -> bool:
    """Whether an Allow's IAM writes are bounded. ``protected``: the boundaries the holder keeps in place (None for a
    policy no principal of the stack holds, judged by its own conditions)."""
    boundaries = _pinned(st, BOUNDARY_KEY)
    if boundaries is not None:
        return bool(boundaries) and (protected is None or set(boundaries) <= protected)
    return bool(_pinned(st, POLICY_ARN_KEY))


def _unscoped_grants(statements: list[Statement], protected: frozenset[str] | None) -> dict[str, list[str]]:
    """action -> the statements (sids or positions) granting it on every resource of its service, less what an
    unconditional Deny takes away."""
    denied: set[str] = set()
    for st in statements:
        if st.effect == "Deny" and not st.conditions:
            denied |= {a for a in _grants(st) if _reaches_all(st, a.split(":", 1)[0])}
    out: dict[str, list[str]] = {}
    for index, st in enumerate(statements):
        if not st.allows or _bounded(st, protected):
            continue
        for action in _grants(st):
            if action not in denied and _reaches_all(st, action.split(":", 1)[0]):
                out.setdefault(action, []).append(st.sid or f"Statement[{index}]")
    return out


def _escalations(statements: list[Statement], held: bool = True) -> list[str]:
    if any(_wildcard_problems("", st) for st in statements):
        return []  # already administrator: reported as such, statement by statement
    grants = _unscoped_grants(statements, protected_boundaries(statements) if held else None)
    found = []
    for what, actions in iam_actions.ESCALATIONS.items():
        if all(a in grants for a in actions):
            found.append(f"{what} ({' + '.join(actions)} on every resource)")
    return found


def _unprotected_boundary_hint(statements: list[Statement]) -> str:
    named = {arn for st in statements if st.allows for arn in (_pinned(st, BOUNDARY_KEY) or ())}
    loose = any(_pinned(st, BOUNDARY_KEY) == () for st in statements if st.allows)
    unprotected = sorted(named - protected_boundaries(statements))
    if unprotected:
        return (
            f" Its iam:PermissionsBoundary condition ({', '.join(unprotected)}) bounds nothing while it may remove a role's "
            "boundary or change that policy: deny iam:DeleteRolePermissionsBoundary on every role and CreatePolicyVersion, "
            "DeletePolicy, DeletePolicyVersion, SetDefaultPolicyVersion on the boundary policy."
        )
    if loose:
        return " Its iam:PermissionsBoundary condition names no concrete boundary (StringEquals/ArnEquals on the boundary's ARN)."
    return ""


def _boundary_policy(res: Res, patterns: list[str]) -> bool:
    """A managed policy the pack config names as a permissions boundary (by Pulumi name or <path><name>)."""
    path, name = text(res.get("path")) or "/", text(res.get("name"))
    names = [res.name] + ([f"{path}{name}"] if name else [])
    return any(fnmatchcase(n, p) for n in names for p in patterns)


def _principal_documents(stack: Stack, principal: Res) -> Iterator[tuple[Res, object]]:
    """(holder, document) for every identity policy ``principal`` holds, by any attachment path of the stack."""
    for _where, document in _documents(principal):
        yield principal, document
    for prop in _PRINCIPAL_PROPS:
        for inline in stack.referrers(principal, IAM_INLINE_POLICY, prop):
            yield inline, inline.get("policy")
        for attachment in [*stack.referrers(principal, POLICY_ATTACHMENT, prop), *stack.referrers(principal, EXCLUSIVE_ATTACHMENTS, prop)]:
            for prop_arn in ("policyArn", "policyArns"):
                for managed in stack.linked(attachment, prop_arn, IAM_POLICY):
                    yield managed, managed.get("policy")
    for managed in stack.linked(principal, "managedPolicyArns", IAM_POLICY):
        yield managed, managed.get("policy")


def _admin_wildcards(stack: Stack, ctx: Ctx) -> None:
    boundaries = list(ctx.setting("boundaryPolicies"))
    principals = stack.of(PRINCIPAL)
    documents = {principal.urn: list(_principal_documents(stack, principal)) for principal in principals}
    held = {holder.urn for found in documents.values() for holder, _document in found}
    for res in stack.of(any_of(IAM_POLICY, IAM_INLINE_POLICY, POLICY_ATTACHMENT, EXCLUSIVE_ATTACHMENTS, IAM_ROLE)):
        with ctx.each():
            for arn in _attached_arns(res):
                name = aws_managed_admin(arn)
                if name:
                    ctx.violation(res, f"attaches the AWS managed {name}; attach a policy scoped to what the workload does.")
        # A permissions boundary is a ceiling, not a grant: only one that bounds nothing (every action, NotAction) is
        # refused; held by a principal of the stack as a permissions policy it is judged as one.
        ceiling = IAM_POLICY(res.type) and res.urn not in held and _boundary_policy(res, boundaries)
        for where, document in _documents(res):
            with ctx.each():
                for st in _statements(document):
                    for problem in _wildcard_problems(where, st):
                        if ceiling and "allows every action" not in problem:
                            continue
                        ctx.violation(res, problem)
    for principal in principals:
        with ctx.each():
            statements: list[Statement] = []
            holders = []
            for holder, document in documents[principal.urn]:
                found = _statements(document)
                statements += found
                if found and holder.urn != principal.urn:
                    holders.append(holder.name)
            escalations = _escalations(statements)
            if escalations:
                ctx.violation(
                    principal,
                    f"can {'; '.join(escalations)}"
                    + (f", through {', '.join(sorted(set(holders)))}" if holders else "")
                    + "; that lets it grant itself any permission. Scope the resources (a named role for iam:PassRole, "
                    "a permissions boundary condition for IAM writes) or drop the actions." + _unprotected_boundary_hint(statements),
                )
    for policy in stack.of(IAM_POLICY):
        if policy.urn in held or _boundary_policy(policy, boundaries):
            continue  # judged with the principal that holds it; a boundary grants nothing
        with ctx.each():
            escalations = _escalations(_statements(policy.get("policy")), held=False)
            if escalations:
                ctx.violation(policy, f"lets whoever holds it {'; '.join(escalations)}; scope the resources or drop the actions.")


SEC_IAM_001 = stack_policy(
    rule_id="SEC-IAM-001",
    slug="no-admin-wildcards",
    description="IAM grants no administrator power, whatever the spelling or attachment path: no statement whose "
    "actions expand (IAM service authorization reference, via parliament) to every action or every action of a "
    "service on every resource, no Allow with NotAction, no AWS managed administrator policy in any ARN form, and no "
    "principal holding, across all its policies, a privilege-escalation set (iam:PassRole + ec2:RunInstances on any "
    "role, iam:CreatePolicyVersion, iam:AttachRolePolicy, ...) on every resource. An IAM write is bounded only as AWS "
    "documents delegation: an equality iam:PermissionsBoundary condition on a boundary the principal can neither "
    "strip from a role nor change.",
    check=_admin_wildcards,
    settings={
        "boundaryPolicies": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Glob patterns (Pulumi name or <path><name>) of managed policies that serve only as permissions "
            "boundaries: a ceiling, not a grant, so only one allowing every action is refused (held as a permissions "
            "policy by a principal of the stack, it is judged as one).",
        }
    },
    anchor="CKV_AWS_62, CKV_AWS_63, CKV_AWS_286, CKV_AWS_287, CKV_AWS_355, CKV_AWS_274, CKV2_AWS_40, CKV2_AWS_56; Rhino Security Labs IAM privilege escalation methods",
)


# SEC-IAM-002 ---------------------------------------------------------------------------------------------------
_ACCOUNT_PRINCIPAL = re.compile(r"^(?:arn:[a-z-]+:iam::)?(?P<account>\d{12})(?::root)?$")


def account_wide(principal: str) -> str | None:
    """The account id when an AWS principal is a whole account ("111122223333", "arn:aws:iam::111122223333:root")."""
    match = _ACCOUNT_PRINCIPAL.match(principal.strip())
    return match.group("account") if match else None


def _names_principal(st: Statement) -> bool:
    """A condition on aws:PrincipalArn naming roles or users (no bare wildcard) narrows an account-wide trust."""
    for entries in st.conditions.values():
        for key, values in entries.items():
            if key.lower() == "aws:principalarn" and values and not any(v.strip() in ("*", "arn:*") or v.endswith(":*") for v in values):
                return True
    return False


def _issuer(federated: str) -> str | None:
    marker = ":oidc-provider/"
    return federated.split(marker, 1)[1] if marker in federated else None


def _oidc_problems(st: Statement) -> list[str]:
    problems = []
    issuers = [i for i in (_issuer(f) for f in st.principals.get("Federated", ())) if i]
    for issuer in issuers:
        if st.condition_values("StringEquals", ":sub") and not st.condition_values("StringEquals", f"{issuer}:sub"):
            problems.append(
                f"conditions a sub of another issuer than the trusted provider {issuer}, so its tokens are not limited "
                "at all (any service account of that cluster)"
            )
            return problems
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
        for principal in st.principals.get("AWS", ()):
            account = account_wide(principal)
            if account and not _names_principal(st):
                ctx.violation(
                    res,
                    f"the trust policy lets every principal of account {account} assume the role ({principal}); name "
                    "the role or user that needs it (Principal, or an aws:PrincipalArn condition).",
                )
        federated = st.principals.get("Federated", ())
        if federated and all(f.endswith(f"oidc-provider/{GITHUB_ISSUER}") for f in federated):
            continue  # GitHub Actions, not pods: SEC-CICD-001 ... 004 (rules/delivery.py) judge that trust
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
    """The Action entries that grant any S3 action ("*", "s3:*", "S3:Get*", "*:GetObject" ...)."""
    return [a for a in st.actions if any(x.startswith("s3:") for x in iam_actions.expand(a))]


def _reaches_objects(action: str) -> bool:
    """Whether an S3 action (or a wildcard pattern such as s3:Get*) acts on objects (the authorization reference's
    resource type ``object``); names parliament does not know count as object actions."""
    return iam_actions.acts_on(action, "object")


def _lists(action: str) -> bool:
    return "s3:listbucket" in iam_actions.expand(action)


# IAM wildcards match any characters, '/' and ':' included: a Resource pattern is judged by the ARNs it can
# match. Each '*' is tried with these fillers (empty, a name, a path into another prefix, a whole ARN tail) and
# each '?' with one character; what comes out is read as an S3 bucket or object ARN.
_FILLERS = ("", "aws", "s3", "b", "zz-other/x", "/zz-other/x", "b/zz-other/x", ":::b/zz-other/x", "s3:::b/zz-other/x", "aws:s3:::b/zz-other/x")
_S3_OBJECT = re.compile(r"^arn:aws[a-z-]*:s3:::([^/]+)/(.*)$")
_S3_BUCKET = re.compile(r"^arn:aws[a-z-]*:s3:::([^/]+)$")


def _instances(pattern: str) -> Iterator[str]:
    pieces = re.split(r"([*?])", pattern)
    if sum(1 for p in pieces if p in ("*", "?")) > 4:
        yield "arn:aws:s3:::b/zz-other/x"  # too many wildcards to enumerate: judged as reaching everything
        yield "arn:aws:s3:::b"
        return
    choices = [_FILLERS if p == "*" else ("x", "/") if p == "?" else (p,) for p in pieces]
    yield from ("".join(combo) for combo in itertools.product(*choices))


def _s3_reach(resource: str, team: str) -> tuple[bool, bool]:
    """(reaches an object outside ``team/``, reaches a bucket ARN) for one Resource pattern, in any ARN form."""
    outside = bucket = False
    for arn in _instances(resource):
        obj = _S3_OBJECT.match(arn)
        if obj and not obj.group(2).startswith(f"{team}/"):
            outside = True
        if _S3_BUCKET.match(arn):
            bucket = True
    return outside, bucket


def _tenant_problems(team: str, st: Statement) -> list[str]:
    actions = _s3_actions(st)
    if not st.allows or not actions:
        return []
    problems = []
    if "*" in st.resources:
        problems.append(f"allows {', '.join(actions)} on every resource")
    if st.not_resources:
        problems.append(f"allows {', '.join(actions)} on every resource but {', '.join(st.not_resources)} (NotResource)")
    for resource in st.resources:
        if resource == "*":
            continue
        outside, bucket = _s3_reach(resource, team)
        if outside and any(_reaches_objects(a) for a in actions):
            problems.append(f"reaches objects outside the team prefix ({resource} matches them; use .../{team}/*)")
        if bucket and any(_lists(a) for a in actions):
            prefixes = st.condition_values("StringLike", "s3:prefix") or st.condition_values("StringEquals", "s3:prefix")
            if not prefixes or any(not p.startswith(f"{team}/") for p in prefixes):
                problems.append(f"lists bucket {resource} without an s3:prefix condition limited to {team}/")
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

# SEC-IAM-004 ---------------------------------------------------------------------------------------------------
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/.+$")


def _role_names(role: Res) -> list[str]:
    path, name = text(role.get("path")) or "/", text(role.get("name"))
    return [role.name] + ([f"{path}{name}"] if name else [])


def _boundary(role: Res, ctx: Ctx) -> None:
    if any(fnmatchcase(n, p) for n in _role_names(role) for p in ctx.setting("exemptRoles")):
        return
    boundary = role.get("permissionsBoundary")
    if is_unknown(boundary):
        return  # computed: judged once it is known
    value = text(boundary)
    if not value:
        ctx.violation(
            role,
            "has no permissions boundary, so whoever can write its policies can make it as powerful as they like; set "
            "`crucible:permissionsBoundary` to the bootstrap's permissionsBoundaryArn (every role Crucible creates carries it).",
        )
        return
    allowed = list(ctx.setting("boundaryArns"))
    if not _POLICY_ARN.match(value) or not any(fnmatchcase(value, p) for p in allowed):
        ctx.violation(role, f"its permissions boundary {value!r} is not one this environment allows ({', '.join(allowed)}).")


SEC_IAM_004 = resource_policy(
    rule_id="SEC-IAM-004",
    slug="permissions-boundary",
    description="Every IAM role the stack creates carries the permissions boundary the environment requires, so "
    "the roles a deploy role writes can never hold more than the boundary allows (IAM User Guide, permissions "
    "boundaries: delegation).",
    applies_to=IAM_ROLE,
    checks=[_boundary],
    settings={
        "boundaryArns": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["arn:*:iam::*:policy/*"],
            "description": "Glob patterns of the permissions boundary ARNs a role may carry.",
        },
        "exemptRoles": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Glob patterns (Pulumi name or <path><name>) of roles that need no boundary, e.g. the delivery "
            "identities the bootstrap creates, which bound the others.",
        },
    },
    anchor="IAM User Guide: Permissions boundaries for IAM entities (delegating responsibility to others)",
)

# REL-IAM-005 ---------------------------------------------------------------------------------------------------
# IAM User Guide, "IAM and AWS STS quotas" (character limits, whitespace not counted): a managed policy 6,144; the
# inline policies of a role together 10,240, of a user 2,048, of a group 5,120; a role trust policy 2,048 by default
# (a quota that can be raised to 4,096). CreatePolicy / PutRolePolicy / CreateRole refuse a larger document
# (LimitExceeded / MalformedPolicyDocument) in the middle of `pulumi up`.
MANAGED_POLICY_LIMIT = 6144
INLINE_AGGREGATE_LIMIT = {"aws:iam/role:Role": 10240, "aws:iam/user:User": 2048, "aws:iam/group:Group": 5120}
_INLINE_PROP = {"aws:iam/role:Role": "role", "aws:iam/user:User": "user", "aws:iam/group:Group": "group"}


def policy_size(document: object) -> int:
    """The characters IAM counts in a policy document: all but whitespace."""
    known(document)
    raw = document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))
    return len(re.sub(r"\s", "", raw))


def _sizes(stack: Stack, ctx: Ctx) -> None:
    for policy in stack.of(IAM_POLICY):
        with ctx.each():
            size = policy_size(policy.get("policy"))
            if size > MANAGED_POLICY_LIMIT:
                ctx.violation(
                    policy,
                    f"its document is {size} characters (whitespace not counted), over IAM's {MANAGED_POLICY_LIMIT} for a "
                    "managed policy: CreatePolicy refuses it; split it into policies of their own or use wildcards the "
                    "grant allows.",
                )
    trust_limit = int(ctx.setting("trustPolicyLimit"))
    for principal in stack.of(PRINCIPAL):
        with ctx.each():
            limit = INLINE_AGGREGATE_LIMIT[principal.type]
            documents = [document for _where, document in _documents(principal)]
            documents += [inline.get("policy") for inline in stack.referrers(principal, IAM_INLINE_POLICY, _INLINE_PROP[principal.type])]
            total = sum(policy_size(d) for d in documents)
            if total > limit:
                ctx.violation(
                    principal,
                    f"its {len(documents)} inline policies are {total} characters together (whitespace not counted), over "
                    f"IAM's {limit} for one {principal.type.rsplit(':', 1)[-1].lower()}: the last PutRolePolicy is refused; "
                    "move some into managed policies (up to 6,144 each).",
                )
        if IAM_ROLE(principal.type):
            with ctx.each():
                size = policy_size(principal.get("assumeRolePolicy"))
                if size > trust_limit:
                    ctx.violation(
                        principal,
                        f"its trust policy is {size} characters (whitespace not counted), over the account's {trust_limit} "
                        "(IAM's default role trust policy quota; 4,096 at most): CreateRole refuses it; trust fewer "
                        "principals per role, or raise the quota and this pack's trustPolicyLimit.",
                    )


REL_IAM_005 = stack_policy(
    rule_id="REL-IAM-005",
    slug="policy-size-quotas",
    description="Every IAM document fits IAM's size quotas (whitespace not counted): a managed policy 6,144 "
    "characters, a role's inline policies together 10,240 (a user's 2,048, a group's 5,120), a role trust policy "
    "the account's trust policy quota (2,048 by default), or the deploy fails when IAM refuses it.",
    check=_sizes,
    settings={
        "trustPolicyLimit": {
            "type": "integer",
            "minimum": 2048,
            "maximum": 4096,
            "default": 2048,
            "description": "The account's role trust policy size quota (Service Quotas: IAM 'Role trust policy length').",
        }
    },
    anchor="IAM User Guide: IAM and AWS STS quotas (IAM object quotas; character limits)",
)

POLICIES = [SEC_IAM_001, SEC_IAM_002, SEC_IAM_003, SEC_IAM_004, REL_IAM_005]
