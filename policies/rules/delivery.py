"""Delivery identities: roles that GitHub Actions assumes through the GitHub OIDC provider
(token.actions.githubusercontent.com) are assumable by one repository's jobs in one named GitHub environment, with
the audience AWS expects (SEC-CICD-001 ... SEC-CICD-003), and each from exactly one environment: its own
(SEC-CICD-004).

GitHub's token says who asks in `sub`: `repo:<owner>/<repo>:environment:<env>` for a job that names an environment
(the environment's protection rules — required reviewers, deployment branches — ran before the job got its token),
otherwise `repo:<owner>/<repo>:pull_request` or `repo:<owner>/<repo>:ref:<ref>` (GitHub Actions docs, "OpenID Connect
reference": example subject claims). A trust without an environment in `sub` hands the role to any workflow on that
branch or pull request, around every environment gate; a wildcard in the repository hands it to other repositories
(`repo:acme/*`, or `repo:*` for every repository on GitHub). `aud` must be `sts.amazonaws.com`, the audience
aws-actions/configure-aws-credentials requests (IAM User Guide, "Configuring a role for GitHub OIDC identity
provider"). Matched with StringEquals: StringLike would read `*` and `?` as wildcards.
"""

from __future__ import annotations

import re

from policies.support.iam_documents import Statement, parse_document
from policies.support.rule import Ctx, Res, resource_policy
from policies.support.tokens import IAM_ROLE

GITHUB_ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
# owner and repository names: letters, digits, '-', '_', '.'; no wildcard, no ':' (GitHub naming rules)
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
SUBJECT = re.compile(rf"^repo:(?P<repo>{_NAME}/{_NAME}):(?P<context>.+)$")
ENVIRONMENT = re.compile(r"^environment:(?P<env>[A-Za-z0-9._ -]+)$")
_WILDCARDS = ("*", "?")


def github_statements(res: Res) -> list[Statement]:
    """The Allow statements of a role's trust policy that trust the GitHub Actions OIDC provider."""
    try:
        statements = parse_document(res.get("assumeRolePolicy"))
    except ValueError:
        return []
    return [
        st
        for st in statements
        if st.allows and any(f.endswith(f"oidc-provider/{GITHUB_ISSUER}") or f == GITHUB_ISSUER for f in st.principals.get("Federated", ()))
    ]


def _conditions(st: Statement, claim: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(values under StringEquals, [(operator, value)] under any other operator) for `<issuer>:<claim>`."""
    exact, other = [], []
    for operator, entries in st.conditions.items():
        for key, values in entries.items():
            if key.lower() != f"{GITHUB_ISSUER}:{claim}":
                continue
            if operator.lower() == "stringequals":
                exact += list(values)
            else:
                other += [(operator, v) for v in values]
    return exact, other


# SEC-CICD-001 --------------------------------------------------------------------------------------------------
def _audience(res: Res, ctx: Ctx) -> None:
    for st in github_statements(res):
        exact, other = _conditions(st, "aud")
        if exact != [AUDIENCE] or other:
            got = ", ".join(exact + [f"{op} {v}" for op, v in other]) or "no condition"
            ctx.violation(
                res,
                f"the GitHub OIDC trust must require StringEquals {GITHUB_ISSUER}:aud = {AUDIENCE} (and nothing else), "
                f"got {got}: without it a token minted for another audience is accepted.",
            )


SEC_CICD_001 = resource_policy(
    rule_id="SEC-CICD-001",
    slug="github-oidc-audience",
    description="Roles trusted by the GitHub Actions OIDC provider require StringEquals "
    "token.actions.githubusercontent.com:aud = sts.amazonaws.com, the audience configure-aws-credentials requests.",
    applies_to=IAM_ROLE,
    checks=[_audience],
    anchor="IAM User Guide: Configuring a role for GitHub OIDC identity provider; GitHub: security hardening with OIDC",
)


# SEC-CICD-002 --------------------------------------------------------------------------------------------------
def _repository(res: Res, ctx: Ctx) -> None:
    allowed = [r.lower() for r in ctx.setting("repositories")]
    for st in github_statements(res):
        exact, other = _conditions(st, "sub")
        for operator, value in other:
            ctx.violation(
                res,
                f"the GitHub OIDC trust matches {GITHUB_ISSUER}:sub with {operator} {value!r}; use StringEquals with "
                "repo:<owner>/<repo>:environment:<env> (StringLike reads * and ? as wildcards).",
            )
        if not exact and not other:
            ctx.violation(res, f"the GitHub OIDC trust has no {GITHUB_ISSUER}:sub condition: every repository on GitHub can assume the role.")
        for value in exact:
            match = SUBJECT.match(value)
            if not match:
                ctx.violation(res, f"sub {value!r} does not name exactly one repository (repo:<owner>/<repo>:…, no wildcard).")
            elif allowed and match.group("repo").lower() not in allowed:
                ctx.violation(res, f"sub {value!r} names repository {match.group('repo')}, not one of the allowed {', '.join(allowed)}.")


SEC_CICD_002 = resource_policy(
    rule_id="SEC-CICD-002",
    slug="github-oidc-repository",
    description="Roles trusted by the GitHub Actions OIDC provider pin token.actions.githubusercontent.com:sub with "
    "StringEquals to one named repository (no wildcard owner or repository, no StringLike), so no other repository's "
    "workflows can assume them.",
    applies_to=IAM_ROLE,
    checks=[_repository],
    settings={
        "repositories": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "owner/repo names a GitHub OIDC trust may name; empty: any single, exactly named repository",
        }
    },
    anchor="GitHub: security hardening with OpenID Connect (configuring the OIDC trust with the cloud)",
)


# SEC-CICD-003 --------------------------------------------------------------------------------------------------
def _environment(res: Res, ctx: Ctx) -> None:
    for st in github_statements(res):
        exact, _ = _conditions(st, "sub")
        for value in exact:
            match = SUBJECT.match(value)
            if not match:
                continue  # SEC-CICD-002 says what is wrong with it
            context = match.group("context")
            env = ENVIRONMENT.match(context)
            if not env or any(w in context for w in _WILDCARDS):
                ctx.violation(
                    res,
                    f"sub {value!r} names no GitHub environment ({context!r}); trust repo:{match.group('repo')}:environment:<env>, "
                    "so only jobs that passed that environment's protection rules (reviewers, branches) get the role.",
                )


SEC_CICD_003 = resource_policy(
    rule_id="SEC-CICD-003",
    slug="github-oidc-environment",
    description="Roles trusted by the GitHub Actions OIDC provider name a GitHub environment in the subject "
    "(repo:<owner>/<repo>:environment:<env>), never a branch, tag or pull_request, so the environment's reviewers "
    "and branch rules stand between a workflow and the role.",
    applies_to=IAM_ROLE,
    checks=[_environment],
    anchor="GitHub Actions: OpenID Connect reference, example subject claims (filtering for a specific environment)",
)

# SEC-CICD-004 --------------------------------------------------------------------------------------------------
# The tag a delivery role carries to say which GitHub environment it is for (the bootstrap's roles: <env> for
# crucible-deploy-<env>, preview-<env> for crucible-preview-<env>).
ENVIRONMENT_TAG = "crucible:github-environment"


def _one_environment(res: Res, ctx: Ctx) -> None:
    named: list[str] = []
    for st in github_statements(res):
        exact, _ = _conditions(st, "sub")
        for value in exact:
            match = SUBJECT.match(value)
            env = ENVIRONMENT.match(match.group("context")) if match else None
            if env and not any(w in value for w in _WILDCARDS):
                named.append(env.group("env"))
    environments = sorted(set(named))
    if len(environments) > 1:
        ctx.violation(
            res,
            f"the GitHub OIDC trust admits {len(environments)} environments ({', '.join(environments)}): one role per environment, "
            "so a job that passed one environment's gate (a preview's, dev's) never holds another's role, state or secrets.",
        )
    tags = res.get("tags") or {}
    own = tags.get(ENVIRONMENT_TAG) if isinstance(tags, dict) else None
    if own is not None:
        for env in environments:
            if env != own:
                ctx.violation(
                    res,
                    f"the role is for GitHub environment {own!r} (tag {ENVIRONMENT_TAG}) but its trust admits environment {env!r}: "
                    f"trust repo:<owner>/<repo>:environment:{own} only.",
                )


SEC_CICD_004 = resource_policy(
    rule_id="SEC-CICD-004",
    slug="github-oidc-one-environment",
    description="A role trusted by the GitHub Actions OIDC provider admits exactly one GitHub environment, and, when "
    "tagged crucible:github-environment, that one: a preview role trusted for every environment, or for another "
    "environment than its own, hands a branch the state and secrets that environment's reviewers guard.",
    applies_to=IAM_ROLE,
    checks=[_one_environment],
    anchor="GitHub Actions: OpenID Connect reference (filtering for a specific environment); issue 19 review, defect 1",
)

POLICIES = [SEC_CICD_001, SEC_CICD_002, SEC_CICD_003, SEC_CICD_004]
