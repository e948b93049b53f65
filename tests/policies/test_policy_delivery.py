"""SEC-CICD-001 ... SEC-CICD-004: roles GitHub Actions assumes through the GitHub OIDC provider require aud
sts.amazonaws.com and a subject that names one repository and one GitHub environment — its own — with StringEquals (GitHub
Actions "OpenID Connect reference": example subject claims; IAM User Guide, "Configuring a role for GitHub OIDC
identity provider")."""

import json

import pytest

from policy_builder import messages, res, verdicts

GITHUB = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
EKS = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
AUD, SUB = "token.actions.githubusercontent.com:aud", "token.actions.githubusercontent.com:sub"


def role(name, condition, federated=GITHUB, environment=None):
    """A role GitHub Actions assumes; ``environment``: its crucible:github-environment tag (the bootstrap's roles)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Federated": federated}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}],
    }
    inputs = {"assumeRolePolicy": json.dumps(trust)}
    if environment is not None:
        inputs["tags"] = {"crucible:github-environment": environment}
    return res("aws:iam/role:Role", name, inputs)


PINNED = role("deploy-prod", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/crucible:environment:prod"}})


DELIVERY_POLICIES = [
    "sec-cicd-001-github-oidc-audience",
    "sec-cicd-002-github-oidc-repository",
    "sec-cicd-003-github-oidc-environment",
    "sec-cicd-004-github-oidc-one-environment",
]


@pytest.mark.parametrize("policy", DELIVERY_POLICIES)
def test_a_role_pinned_to_one_repository_environment_and_audience_passes(policy):
    assert verdicts(policy, [PINNED]) == []
    assert verdicts(policy, [PINNED], env="dev") == []


# SEC-CICD-001
def test_a_missing_or_other_audience_fires():
    none = role("no-aud", {"StringEquals": {SUB: "repo:acme/crucible:environment:prod"}})
    other = role("other-aud", {"StringEquals": {AUD: "https://github.com/acme", SUB: "repo:acme/crucible:environment:prod"}})
    like = role("like-aud", {"StringLike": {AUD: "sts.*"}, "StringEquals": {SUB: "repo:acme/crucible:environment:prod"}})
    found = [none, other, like]
    assert verdicts("sec-cicd-001-github-oidc-audience", found) == [("like-aud", "mandatory"), ("no-aud", "mandatory"), ("other-aud", "mandatory")]
    assert verdicts("sec-cicd-001-github-oidc-audience", found, env="dev") == [("like-aud", "mandatory"), ("no-aud", "mandatory"), ("other-aud", "mandatory")]


# SEC-CICD-002
def test_a_wildcard_or_missing_repository_fires():
    org = role("any-repo-of-acme", {"StringLike": {AUD: "sts.amazonaws.com", SUB: "repo:acme/*"}})
    everyone = role("everyone", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:*:environment:prod"}})
    missing = role("no-sub", {"StringEquals": {AUD: "sts.amazonaws.com"}})
    assert verdicts("sec-cicd-002-github-oidc-repository", [org, everyone, missing, PINNED]) == [
        ("any-repo-of-acme", "mandatory"),
        ("everyone", "mandatory"),
        ("no-sub", "mandatory"),
    ]
    assert "StringLike" in messages("sec-cicd-002-github-oidc-repository", [org])[0]


def test_string_like_fires_even_without_a_wildcard():
    like = role("like", {"StringEquals": {AUD: "sts.amazonaws.com"}, "StringLike": {SUB: "repo:acme/crucible:environment:prod"}})
    assert verdicts("sec-cicd-002-github-oidc-repository", [like]) == [("like", "mandatory")]


def test_the_allowed_repositories_setting_pins_the_repository():
    config = {"sec-cicd-002-github-oidc-repository": {"repositories": ["acme/crucible"]}}
    other = role("fork", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:someone/crucible:environment:prod"}})
    assert verdicts("sec-cicd-002-github-oidc-repository", [PINNED, other], config=config) == [("fork", "mandatory")]


# SEC-CICD-003
@pytest.mark.parametrize(
    "subject",
    [
        "repo:acme/crucible:ref:refs/heads/main",  # any workflow on main, around the environment's reviewers
        "repo:acme/crucible:pull_request",  # any pull request job of the repository
        "repo:acme/crucible:environment:*",  # every environment: dev's job gets prod's role
        "repo:acme/crucible:*",
    ],
)
def test_a_subject_without_one_named_environment_fires(subject):
    found = role("no-env", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: subject}})
    assert verdicts("sec-cicd-003-github-oidc-environment", [found]) == [("no-env", "mandatory")]


def test_pod_roles_are_not_judged_by_the_github_rules_nor_github_roles_by_irsa():
    irsa = role(
        "pod",
        {
            "StringEquals": {
                "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:ns:sa",
                "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
            }
        },
        federated=EKS,
    )
    for policy in DELIVERY_POLICIES:
        assert verdicts(policy, [irsa]) == []
    assert verdicts("sec-iam-002-scoped-trust", [PINNED, irsa]) == []


# SEC-CICD-004
P4 = "sec-cicd-004-github-oidc-one-environment"
PREVIEW_PROD = role(
    "preview-prod", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/crucible:environment:preview-prod"}}, environment="preview-prod"
)


def test_a_role_tagged_with_its_environment_and_trusted_only_from_it_passes():
    assert verdicts(P4, [PREVIEW_PROD, PINNED]) == []
    assert verdicts(P4, [PREVIEW_PROD], env="dev") == []


def test_one_preview_role_trusted_from_every_environment_fires_everywhere():
    """Issue 19 review, defect 1: one preview role for all environments hands a branch's dev preview prod's state."""
    subjects = ["repo:acme/crucible:environment:preview-dev", "repo:acme/crucible:environment:preview-prod"]
    shared = role("preview", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: subjects}})
    assert verdicts(P4, [shared]) == [("preview", "mandatory")]
    assert verdicts(P4, [shared], env="dev") == [("preview", "mandatory")]
    assert "admits 2 environments (preview-dev, preview-prod)" in messages(P4, [shared])[0]


def test_two_statements_for_two_environments_fire_too():
    statement = {"Effect": "Allow", "Principal": {"Federated": GITHUB}, "Action": "sts:AssumeRoleWithWebIdentity"}
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {**statement, "Condition": {"StringEquals": {AUD: "sts.amazonaws.com", SUB: f"repo:acme/crucible:environment:{e}"}}} for e in ("staging", "prod")
        ],
    }
    found = res("aws:iam/role:Role", "two", {"assumeRolePolicy": json.dumps(trust)})
    assert verdicts(P4, [found]) == [("two", "mandatory")]


@pytest.mark.parametrize("subject", ["repo:acme/crucible:environment:preview-dev", "repo:acme/crucible:environment:prod"])
def test_a_role_trusted_from_another_environment_than_its_own_fires(subject):
    found = role("preview-prod", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: subject}}, environment="preview-prod")
    assert verdicts(P4, [found]) == [("preview-prod", "mandatory")]
    assert "is for GitHub environment 'preview-prod'" in messages(P4, [found])[0]
